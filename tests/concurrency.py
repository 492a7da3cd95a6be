"""Run the same callable from many threads at once (a barrier lines them up first)."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_at_once(task: Callable[[], object], count: int, timeout: float = 60.0) -> None:
    """Start ``count`` threads that call ``task`` together, and wait for all of them."""
    start = threading.Barrier(count)

    def run() -> None:
        start.wait()
        task()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
