"""Run one task per item with bounded parallelism and a deadline per item (the sweeper's way
through many jobs): a slow or stuck item costs at most its deadline, never the whole run.

A thread cannot be stopped from outside, so an item past its deadline is *abandoned*: the run
stops waiting for it and starts the next item in a fresh thread (daemonic, so it never holds
the process open). What the abandoned thread does next is bounded by its own timeouts (every
provider and storage call has one) and is simply redone by the next run if it did not finish.
So a run over ``n`` items takes at most about ``ceil(n / concurrency) × deadline``.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Outcome(Generic[Item, Result]):
    """How one item ended: its ``result``, the ``error`` it raised, or ``timed_out``."""

    item: Item
    result: Result | None = None
    error: Exception | None = None
    timed_out: bool = False


def run_bounded(
    items: Iterable[Item],
    task: Callable[[Item], Result],
    *,
    concurrency: int,
    deadline: float,
) -> list[Outcome[Item, Result]]:
    """``task(item)`` for every item, at most ``concurrency`` at once, each given ``deadline``
    seconds; one outcome per item (in the order they ended). Never raises for an item."""
    pending = deque(items)
    finished: queue.Queue[tuple[int, Result | None, Exception | None]] = queue.Queue()
    running: dict[int, tuple[Item, float]] = {}
    outcomes: list[Outcome[Item, Result]] = []
    serials = itertools.count()

    def work(serial: int, item: Item) -> None:
        try:
            finished.put((serial, task(item), None))
        except Exception as error:
            finished.put((serial, None, error))

    while pending or running:
        while pending and len(running) < concurrency:
            serial, item = next(serials), pending.popleft()
            running[serial] = (item, time.monotonic())
            threading.Thread(
                target=work, args=(serial, item), name="dreamweb-sweep", daemon=True
            ).start()
        first_due = min(started for _, started in running.values()) + deadline
        try:
            serial, result, error = finished.get(timeout=max(0.0, first_due - time.monotonic()))
        except queue.Empty:
            pass
        else:
            if serial in running:  # else: an abandoned item ended late; it was reported
                item, _ = running.pop(serial)
                outcomes.append(Outcome(item, result, error))
        now = time.monotonic()
        for serial, (item, started) in list(running.items()):
            if now - started >= deadline:
                del running[serial]
                outcomes.append(Outcome(item, timed_out=True))
    return outcomes
