"""Per-key locks of the local store: a fixed pool of ``flock`` files, safe under gevent.

Commits, deletes and record compare-and-set take ``fcntl.flock`` on the key's lock file, so two
processes cannot both win. Lock files are never unlinked (that would let two processes lock
different inodes for the same key), so they come from a fixed pool of ``LOCK_POOL`` files:
nothing accumulates per key, and two keys sharing a lock only wait for each other briefly.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

LOCKS_FOLDER = ".locks"
LOCK_POOL = 64


class LockPool:
    """The ``LOCK_POOL`` lock slots of a store rooted at ``root`` (files in ``root/.locks``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # In this process, waiters for a lock slot queue here (woken at release) rather than
        # polling its flock; the flock is what excludes other processes.
        self._slot_locks = [threading.Lock() for _ in range(LOCK_POOL)]

    def slot(self, base: Path) -> int:
        """The key's slot in the lock pool (stable across processes)."""
        digest = hashlib.sha256(str(base.relative_to(self.root)).encode()).digest()
        return int.from_bytes(digest[:8], "big") % LOCK_POOL

    @contextlib.contextmanager
    def locked(self, base: Path) -> Iterator[None]:
        """Hold the key's pooled lock: its slot's lock in this process, then an exclusive
        ``flock`` on the slot's file against other processes."""
        slot = self.slot(base)
        path = self.root / LOCKS_FOLDER / str(slot)
        with self._slot_locks[slot]:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:
                path.parent.mkdir(exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                _flock_exclusive(fd)
                yield
            finally:
                os.close(fd)  # closing releases the lock


def _flock_exclusive(fd: int) -> None:
    """Take an exclusive ``flock`` by polling, never by blocking the thread.

    Under gevent a blocking ``flock`` would stall every connection of the worker, and handing
    it to gevent's thread pool deadlocks: waiters fill the pool while the holder needs a pool
    thread for its ``fsync``. A short sleep between attempts yields to the other greenlets
    (or threads) instead; holders keep the lock for milliseconds.
    """
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
