"""The local store under gevent (as in gunicorn's gevent workers): concurrent writers of one key
neither deadlock nor stall each other's worker. Runs in a child process: patching gevent into
pytest's own process would change every other test."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import sys, time, gevent
    from dreamweb.cooperative import gevent_patched
    from dreamweb.errors import PreconditionFailedError
    from dreamweb.storage.local import LocalVideoStore

    store = LocalVideoStore(sys.argv[1])
    key = "jobs/video_" + "a" * 24 + ".json"
    first = store.put_record(key, {"n": 0}, generation=None)
    wins = []

    def claim(n):
        # What racing status polls do: compare-and-set against the same generation.
        try:
            store.put_record(key, {"n": n}, generation=first.generation)
            wins.append(n)
        except PreconditionFailedError:
            pass

    ticks = []
    def clock():  # runs only when no greenlet blocks the loop
        while True:
            ticks.append(time.monotonic())
            gevent.sleep(0.005)

    ticker = gevent.spawn(clock)
    writers = [gevent.spawn(claim, n) for n in range(1, 41)]  # more than the thread pool
    finished = gevent.joinall(writers, timeout=20)
    ticker.kill()
    ticks.append(time.monotonic())  # a run shorter than one tick still measures one gap
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    print(gevent_patched(), len(finished), len(wins), round(max(gaps), 3))
    """
)


def test_forty_concurrent_writers_of_one_key_under_gevent(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    patched, finished, wins, longest_stall = result.stdout.split()
    assert (patched, finished, wins) == ("True", "40", "1"), "all done, one winner"
    # fsync runs in gevent's thread pool: the loop keeps turning (generous bound).
    assert float(longest_stall) < 1.0
