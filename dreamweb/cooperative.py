"""Blocking system calls that must not stall a gevent worker's other connections.

Under gunicorn's gevent workers (gunicorn.conf.py) sockets are cooperative, but ``fsync`` is
not: one call blocks every connection of the worker for its duration (~10 ms on the
development disk, far more on a busy one). ``run_blocking`` hands such a call to gevent's
thread pool when the process is patched, and simply calls it otherwise (threads, the sweeper,
tests). Only for calls that finish on their own: a call that waits for another greenlet (a
lock) could fill the pool and deadlock.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def gevent_patched() -> bool:
    """Whether this process runs on gevent's monkey-patched sockets."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("socket")


def run_blocking(function: Callable[..., T], *args: object) -> T:
    """``function(*args)``, in gevent's thread pool when patched so other greenlets run."""
    if gevent_patched():
        from gevent import get_hub

        return get_hub().threadpool.apply(function, args)
    return function(*args)
