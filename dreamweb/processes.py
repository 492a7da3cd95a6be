"""Starting, waiting for and stopping the helper processes of the demo, the tests and bench/.

``make run`` (``dreamweb.demo``), the test fixtures and the benchmarks all start servers in
child processes (the simulator, gunicorn, fake-gcs-server) on loopback ports, wait until they
answer, and stop them at the end: this module is the one copy of that. gunicorn always runs with
the repository's ``gunicorn.conf.py``, the Procfile's settings.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONFIG = ROOT / "gunicorn.conf.py"
LOOPBACK = "127.0.0.1"


class NotReadyError(RuntimeError):
    """A started process exited, or did not answer in time."""


def free_port() -> int:
    """A currently free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def start(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``args`` in the repository root with ``env`` added to this environment.

    With ``log`` its stdout and stderr go to that file (``Path(os.devnull)`` for silence);
    without, they are this process's own.
    """
    full_env = {**os.environ, **(env or {})}
    if log is None:
        return subprocess.Popen(args, cwd=ROOT, env=full_env)
    with log.open("wb") as output:  # the child holds its own descriptor
        return subprocess.Popen(
            args, cwd=ROOT, env=full_env, stdout=output, stderr=subprocess.STDOUT
        )


def wait_until_up(
    url: str, process: subprocess.Popen[bytes], timeout: float = 30.0, interval: float = 0.05
) -> None:
    """Poll ``url`` until it answers 200.

    Raises ``NotReadyError`` as soon as ``process`` exits, or when ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NotReadyError(f"{url}: its process exited with {process.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(interval)
    raise NotReadyError(f"{url} did not answer within {timeout:g} s")


def stop(*processes: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Ask every process to end (SIGTERM), then kill what is still running after ``timeout``."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running(
    args: Sequence[str],
    ready_url: str,
    *,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` (see ``start``) for the block, which begins once ``ready_url`` answers."""
    process = start(args, env=env, log=log)
    try:
        wait_until_up(ready_url, process)
        yield process
    finally:
        stop(process)


def gunicorn_command(app: str, *, port: int, options: Sequence[str] = ()) -> list[str]:
    """``app`` under gunicorn with ``gunicorn.conf.py``, bound to a loopback ``port``;
    ``options`` are further gunicorn flags (they override the file)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(GUNICORN_CONFIG),
        "--bind",
        f"{LOOPBACK}:{port}",
        *options,
        app,
    ]


def simulator_command(port: int, **options: object) -> list[str]:
    """``python -m dreamweb.simulator`` on ``port``; ``render_seconds=2`` becomes
    ``--render-seconds 2`` and ``quiet=True`` ``--quiet``."""
    args = [sys.executable, "-m", "dreamweb.simulator", "--port", str(port)]
    for name, value in options.items():
        flag = f"--{name.replace('_', '-')}"
        args += [flag] if value is True else [flag, str(value)]
    return args
