"""``run_bounded``: bounded parallelism and a deadline per item (pure, real threads)."""

from __future__ import annotations

import threading
import time

from dreamweb.jobs.parallel import run_bounded


def test_never_more_than_concurrency_at_once_and_every_item_reported():
    lock, running, peak = threading.Lock(), [0], [0]

    def task(item: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return item * 2

    outcomes = run_bounded(range(20), task, concurrency=3, deadline=5)
    assert peak[0] == 3
    assert sorted(outcome.result for outcome in outcomes) == [n * 2 for n in range(20)]


def test_errors_are_outcomes_not_raised():
    def task(item: int) -> int:
        if item == 2:
            raise ValueError("bad item")
        return item

    outcomes = {
        outcome.item: outcome for outcome in run_bounded(range(4), task, concurrency=2, deadline=5)
    }
    assert isinstance(outcomes[2].error, ValueError)
    assert [outcomes[n].result for n in (0, 1, 3)] == [0, 1, 3]


def test_an_item_past_its_deadline_is_abandoned_and_the_run_goes_on():
    release = threading.Event()

    def task(item: str) -> str:
        if item == "stuck":
            release.wait(10)
        return item

    started = time.monotonic()
    outcomes = run_bounded(["stuck", "a", "b", "c"], task, concurrency=1, deadline=0.3)
    elapsed = time.monotonic() - started
    release.set()
    assert [(o.item, o.timed_out) for o in outcomes] == [
        ("stuck", True),
        ("a", False),
        ("b", False),
        ("c", False),
    ]
    assert elapsed < 2
