"""``LocalVideoStore``: the ``VideoStore`` on a local directory (development, tests, one-box runs).

On-disk layout, for a key ``videos/video_abc.mp4`` under the store root::

    videos/video_abc.mp4@meta      JSON pointer: content type, size, md5, generation, timestamp
    videos/video_abc.mp4@<gen>     the bytes of that generation, never modified once written
    videos/.video_abc.mp4@tmp-…    in-flight temporary files (same directory, so rename is atomic)
    .locks/<n>                     flock targets, a fixed pool; a key's is chosen by its hash

``@`` cannot occur in a key (see ``SAFE_KEY``) and key segments never start with ``.``, so none
of these names can collide with another key or with a directory of nested keys.

The ``@meta`` file is the commit point. A write streams into a temporary file, fsyncs it, renames
it to ``@<gen>``, then publishes a new ``@meta`` (``os.link`` for create-only writes, which fails
atomically if the name exists, even between processes; ``os.replace`` otherwise) and fsyncs the
directory. Readers read ``@meta`` and open the generation it names; since data files are
immutable, a reader never sees a mix of two versions. ``etag`` is the hex MD5 of the content (the
same validator the GCS adapter reports), and ``generation`` is a microsecond timestamp that
strictly increases per key, so a token from before a delete/re-create never matches again.

Commits, deletes and record compare-and-set take ``fcntl.flock`` on the key's lock file, so two
processes cannot both win. Lock files are never unlinked (that would let two processes lock
different inodes for the same key), so they come from a fixed pool of ``LOCK_POOL`` files:
nothing accumulates per key, and two keys sharing a lock only wait for each other briefly.

A writer killed mid-copy leaves its ``@tmp-`` file; ``remove_debris`` (called by the sweeper)
deletes those older than the ingest lease, and the per-key ``@lock`` files of older versions.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

from dreamweb.cooperative import run_blocking
from dreamweb.errors import (
    IntegrityError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StorageError,
)
from dreamweb.storage.base import (
    CHUNK_SIZE,
    ListedObject,
    Record,
    StoredObject,
    VideoStore,
    check_key,
)

META, TEMP, LEGACY_LOCK = "@meta", "@tmp-", "@lock"
LOCKS_FOLDER = ".locks"
LOCK_POOL = 64
RECORD_TYPE = "application/json"
# A reader that races a replace/delete re-reads the pointer this many times before giving up.
READ_ATTEMPTS = 3


class LocalVideoStore(VideoStore):
    """A ``VideoStore`` rooted at a directory; see the module docstring for the layout."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        # Resolved, checked folders by key prefix ("jobs", "videos"); see ``_folder``.
        self._folders: dict[str, Path] = {}
        # In this process, waiters for a lock slot queue here (woken at release) rather than
        # polling its flock; the flock is what excludes other processes.
        self._slot_locks = [threading.Lock() for _ in range(LOCK_POOL)]

    @classmethod
    def from_url(cls, url: str) -> LocalVideoStore:
        """Build from ``file:///absolute/path`` (``STORAGE_URL``)."""
        parts = urlsplit(url)
        if parts.scheme != "file" or parts.netloc not in {"", "localhost"}:
            raise StorageError("local storage needs a file:///absolute/path URL")
        path = Path(unquote(parts.path))
        if not path.is_absolute():
            raise StorageError("local storage needs an absolute path")
        return cls(path)

    # --- paths --------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        """The base path of ``key`` (no suffix); refuses anything that would leave the root.

        ``check_key`` already rules out ``..``, absolute paths and separators in the file name,
        so only the folder can lead elsewhere (through a symlink); it is resolved and checked
        by ``_folder``. The name itself is never opened, only ``name@…`` siblings.
        """
        folder, _, name = check_key(key).rpartition("/")
        return self._folder(folder, key) / name

    def _folder(self, folder: str, key: str) -> Path:
        """``root/folder`` with symlinks resolved, refused if it leaves the root.

        A status poll would otherwise pay a ``realpath`` (several syscalls) per call. Only
        existing directories are cached: one the store has yet to create is checked again
        next time, so a link planted before that is still caught.
        """
        cached = self._folders.get(folder)
        if cached is not None:
            return cached
        path = (self.root / folder).resolve()
        # resolve() follows symlinks, so a planted link cannot point the store elsewhere.
        if not path.is_relative_to(self.root) or path == self.root:
            raise StorageError(f"unsafe storage key: {key!r}")
        if path.is_dir():
            self._folders[folder] = path
        return path

    @staticmethod
    def _sibling(base: Path, suffix: str) -> Path:
        return base.with_name(base.name + suffix)

    def _temp(self, base: Path) -> Path:
        return base.with_name(f".{base.name}{TEMP}{secrets.token_hex(8)}")

    def _lock_slot(self, base: Path) -> int:
        """The key's slot in the lock pool (stable across processes)."""
        digest = hashlib.sha256(str(base.relative_to(self.root)).encode()).digest()
        return int.from_bytes(digest[:8], "big") % LOCK_POOL

    def _read_meta_at(self, base: Path) -> dict[str, Any] | None:
        """The key's pointer, or ``None`` when nothing is committed under it."""
        try:
            text = self._sibling(base, META).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            raise StorageError() from error
        return json.loads(text)

    # --- reading ------------------------------------------------------------------------------

    def _open_current(self, key: str) -> tuple[dict[str, Any], BinaryIO]:
        """The pointer and an open handle on the data it names (consistent with each other)."""
        base = self._path(key)
        for _ in range(READ_ATTEMPTS):
            meta = self._read_meta_at(base)
            if meta is None:
                raise ObjectNotFoundError()
            try:
                return meta, self._sibling(base, f"@{meta['generation']}").open("rb")
            except FileNotFoundError:
                continue  # replaced or deleted between the two reads: look again
            except OSError as error:
                raise StorageError() from error
        raise ObjectNotFoundError()

    @staticmethod
    def _stored(key: str, meta: dict[str, Any]) -> StoredObject:
        return StoredObject(
            key=key,
            size=meta["size"],
            content_type=meta["content_type"],
            etag=meta["md5"],
            last_modified=datetime.fromisoformat(meta["modified"]),
            generation=str(meta["generation"]),
        )

    def stat(self, key: str) -> StoredObject:
        """Metadata of ``key`` from its pointer file. Raises ``ObjectNotFoundError``."""
        meta = self._read_meta_at(self._path(key))
        if meta is None:
            raise ObjectNotFoundError()
        return self._stored(key, meta)

    def exists(self, key: str) -> bool:
        """Whether a committed object is stored under ``key``."""
        return self._exists_at(self._path(key))

    def _exists_at(self, base: Path) -> bool:
        return self._sibling(base, META).is_file()

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream bytes ``start``..``end`` (inclusive, clipped to the object) after a seek.

        The file is opened before this returns, so a missing key raises ``ObjectNotFoundError``
        here rather than on the first ``next()``.
        """
        if start < 0 or (end is not None and end < 0):
            raise ValueError("byte positions must be non-negative")
        meta, handle = self._open_current(key)
        stop = meta["size"] if end is None else min(end + 1, meta["size"])
        return _FileSpan(handle, start, stop)

    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix``, sorted; only the prefix's directory is walked."""
        if ".." in prefix or prefix.startswith("/") or "\\" in prefix or "\0" in prefix:
            raise StorageError(f"unsafe storage prefix: {prefix!r}")
        top = (self.root / prefix.rpartition("/")[0]).resolve()
        if not top.is_relative_to(self.root) or not top.is_dir():
            return iter(())
        keys = [key for key in self._walk(top) if key.startswith(prefix)]
        return iter(sorted(keys))

    def list_objects(self, prefix: str) -> Iterator[ListedObject]:
        """``list`` with each key's last write time (its pointer file's mtime: the commit) and
        generation (from that pointer, a few bytes; never the object itself)."""
        for key in self.list(prefix):
            try:
                with self._sibling(self._path(key), META).open("rb") as pointer:
                    updated = os.fstat(pointer.fileno()).st_mtime
                    meta = json.loads(pointer.read())
            except FileNotFoundError:
                continue  # deleted since the walk
            except OSError as error:
                raise StorageError() from error
            yield ListedObject(key=key, updated=updated, generation=str(meta["generation"]))

    def _walk(self, top: Path) -> Iterator[str]:
        for directory, dirs, files in os.walk(top):
            dirs[:] = [name for name in dirs if not name.startswith(".")]
            relative = Path(directory).relative_to(self.root)
            for name in files:
                if name.endswith(META) and not name.startswith("."):
                    yield (relative / name.removesuffix(META)).as_posix()

    def get_record(self, key: str) -> Record | None:
        """The JSON record under ``key`` and its generation, or ``None``."""
        try:
            meta, handle = self._open_current(key)
        except ObjectNotFoundError:
            return None
        with handle:
            data = json.loads(handle.read())
        return Record(data=data, generation=str(meta["generation"]))

    # --- writing ------------------------------------------------------------------------------

    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        content_type: str,
        size: int | None = None,
        if_absent: bool = True,
    ) -> StoredObject:
        """Stream ``chunks`` to a temp file, verify length, then commit atomically.

        ``if_absent`` checks first (so a lost race costs no streaming) and commits with
        ``os.link``, which is the race-free guarantee.
        """
        base = self._path(key)
        if if_absent and self._exists_at(base):
            raise PreconditionFailedError()
        with _os_errors():
            base.parent.mkdir(parents=True, exist_ok=True)
        temp = self._temp(base)
        with _removing(temp):
            md5, written = _write_file(temp, chunks, size)
            with _os_errors(), self._locked(base):
                meta = self._commit(base, temp, content_type, md5, written, if_absent)
        return self._stored(key, meta)

    def put_record(self, key: str, data: dict[str, Any], *, generation: str | None) -> Record:
        """Compare-and-set ``data`` as JSON under the key's lock.

        ``generation=None`` creates only; otherwise the stored generation must equal it.
        """
        base = self._path(key)
        payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        temp = self._temp(base)
        with _os_errors(), _removing(temp):
            base.parent.mkdir(parents=True, exist_ok=True)
            with self._locked(base):
                current = self._read_meta_at(base)
                if (current is None) != (generation is None) or (
                    current is not None and str(current["generation"]) != generation
                ):
                    raise PreconditionFailedError()
                md5, written = _write_file(temp, [payload], len(payload))
                meta = self._commit(base, temp, RECORD_TYPE, md5, written, generation is None)
        return Record(data=json.loads(payload), generation=str(meta["generation"]))

    def delete(self, key: str, *, generation: str | None = None) -> bool:
        """Unpublish ``key`` (pointer first, so readers stop finding it), then drop its data.

        With ``generation``, only if that is still the published version (checked under the
        key's lock, like a record compare-and-set).
        """
        base = self._path(key)
        if not base.parent.is_dir():
            return False
        with _os_errors(), self._locked(base):
            meta = self._read_meta_at(base)
            if meta is None:
                return False
            if generation is not None and str(meta["generation"]) != generation:
                return False
            self._sibling(base, META).unlink()
            _fsync_dir(base.parent)
            self._sibling(base, f"@{meta['generation']}").unlink(missing_ok=True)
        return True

    def remove_debris(self, older_than: float) -> int:
        """Delete temporary files not modified for ``older_than`` seconds (their writer died:
        live writers finish or give up within the ingest lease) and legacy ``@lock`` files."""
        cutoff = time.time() - older_than
        removed = 0
        for directory, dirs, files in os.walk(self.root):
            dirs[:] = [name for name in dirs if name != LOCKS_FOLDER]
            for name in files:
                path = Path(directory, name)
                stale_temp = name.startswith(".") and TEMP in name and _modified(path) < cutoff
                if stale_temp or name.endswith(LEGACY_LOCK):
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    @contextlib.contextmanager
    def _locked(self, base: Path) -> Iterator[None]:
        """Hold the key's pooled lock: its slot's lock in this process, then an exclusive
        ``flock`` on the slot's file against other processes."""
        slot = self._lock_slot(base)
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

    def _commit(
        self, base: Path, temp: Path, content_type: str, md5: str, size: int, create_only: bool
    ) -> dict[str, Any]:
        """Publish ``temp`` as the key's new generation; caller holds the key's lock."""
        previous = self._read_meta_at(base)
        if create_only and previous is not None:
            raise PreconditionFailedError()
        generation = _next_generation(previous)
        data_path = self._sibling(base, f"@{generation}")
        os.rename(temp, data_path)
        meta = {
            "content_type": content_type,
            "size": size,
            "md5": md5,
            "generation": generation,
            "modified": datetime.now(UTC).isoformat(),
        }
        try:
            self._publish(base, meta, create_only)
        except BaseException:
            data_path.unlink(missing_ok=True)
            raise
        if previous is not None:
            self._sibling(base, f"@{previous['generation']}").unlink(missing_ok=True)
        return meta

    def _publish(self, base: Path, meta: dict[str, Any], create_only: bool) -> None:
        """Write the pointer to a temp file and move it into place atomically."""
        temp = self._temp(base)
        with _removing(temp):
            _write_file(temp, [json.dumps(meta).encode()], None)
            target = self._sibling(base, META)
            if create_only:
                try:
                    os.link(temp, target)  # fails if the name exists: create-only, race-free
                except FileExistsError:
                    raise PreconditionFailedError() from None
            else:
                os.replace(temp, target)
            _fsync_dir(base.parent)


@contextlib.contextmanager
def _os_errors() -> Iterator[None]:
    """Report filesystem failures (disk full, permissions) as ``StorageError``."""
    try:
        yield
    except OSError as error:
        raise StorageError() from error


@contextlib.contextmanager
def _removing(path: Path) -> Iterator[None]:
    """Remove ``path`` on the way out, whatever happened (it is only ever a temp file)."""
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _write_file(path: Path, chunks: Iterable[bytes], size: int | None) -> tuple[str, int]:
    """Write ``chunks`` to a new file and fsync it; return (md5 hex, length).

    Raises ``IntegrityError`` as soon as the length is known to differ from ``size``. Errors
    raised by ``chunks`` itself propagate unchanged (the caller knows its source); filesystem
    errors become ``StorageError``.
    """
    md5 = hashlib.md5(usedforsecurity=False)
    written = 0
    with _os_errors():
        handle = path.open("xb")
    with handle:
        for chunk in chunks:
            written += len(chunk)
            if size is not None and written > size:
                raise IntegrityError(f"more bytes than the declared {size}")
            md5.update(chunk)
            with _os_errors():
                handle.write(chunk)
        if size is not None and written != size:
            raise IntegrityError(f"{written} bytes where {size} were declared")
        with _os_errors():
            handle.flush()
            run_blocking(os.fsync, handle.fileno())
    return md5.hexdigest(), written


class _FileSpan:
    """Iterates ``handle``'s bytes ``start`` (inclusive) to ``stop`` (exclusive) in
    ``CHUNK_SIZE`` pieces; ``close`` closes the file.

    A class rather than a generator: closing a generator that never started skips its
    ``finally``, which leaked the file when a client went away before the first chunk.
    """

    def __init__(self, handle: BinaryIO, start: int, stop: int) -> None:
        self._handle: BinaryIO | None = handle
        self._remaining = stop - start
        if self._remaining > 0:
            with _closing_on_error(self), _os_errors():
                handle.seek(start)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._handle is None or self._remaining <= 0:
            self.close()
            raise StopIteration
        with _closing_on_error(self), _os_errors():
            chunk = self._handle.read(min(CHUNK_SIZE, self._remaining))
        if not chunk:
            self.close()
            raise StorageError("stored object is shorter than its metadata says")
        self._remaining -= len(chunk)
        return chunk

    def close(self) -> None:
        """Close the file; safe to call twice."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()

    def __del__(self) -> None:
        # Dropped without close() (a test client's unread response): release like a generator.
        self.close()


@contextlib.contextmanager
def _closing_on_error(span: _FileSpan) -> Iterator[None]:
    """Close ``span`` if the block raises, so a failed read does not hold the file open."""
    try:
        yield
    except BaseException:
        span.close()
        raise


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


def _modified(path: Path) -> float:
    """``path``'s modification time; now when it vanished meanwhile (nothing to remove)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


def _next_generation(previous: dict[str, Any] | None) -> int:
    """Microseconds since the epoch, bumped past the previous generation if the clock lags."""
    now = time.time_ns() // 1000
    return now if previous is None else max(now, int(previous["generation"]) + 1)


def _fsync_dir(directory: Path) -> None:
    """Make a rename/link in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        run_blocking(os.fsync, fd)
    finally:
        os.close(fd)
