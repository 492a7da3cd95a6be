"""``dreamweb.processes``: starting helper servers, waiting for them, stopping them — with real
child processes."""

from __future__ import annotations

import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dreamweb.processes import (
    LOOPBACK,
    NotReadyError,
    free_port,
    running,
    simulator_command,
    start,
    stop,
    wait_until_up,
)


def test_free_port_can_be_bound_on_loopback():
    port = free_port()
    with socket.socket() as sock:
        sock.bind((LOOPBACK, port))  # raises if it was not free


def test_running_yields_once_the_url_answers_and_stops_the_process_after(tmp_path: Path):
    (tmp_path / "index.html").write_text("hello")
    port = free_port()
    url = f"http://{LOOPBACK}:{port}/"
    command = [sys.executable, "-m", "http.server", str(port), "--bind", LOOPBACK]
    command += ["--directory", str(tmp_path)]
    log = tmp_path / "server.log"
    with running(command, url, log=log) as process, urllib.request.urlopen(url) as response:
        assert response.read() == b"hello"
    assert process.returncode is not None, "stopped when the block ended"
    assert "GET / HTTP/1.1" in log.read_text(), "its output went to the log file"


def test_wait_until_up_reports_a_process_that_exits():
    process = start([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(NotReadyError, match="exited with 3"):
        wait_until_up(f"http://{LOOPBACK}:{free_port()}/", process, timeout=20)


def test_wait_until_up_gives_up_after_its_timeout():
    process = start([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = time.monotonic()
        with pytest.raises(NotReadyError, match=r"did not answer within 0\.5 s"):
            wait_until_up(f"http://{LOOPBACK}:{free_port()}/", process, timeout=0.5)
        assert time.monotonic() - started < 5
    finally:
        stop(process)


def test_stop_kills_what_ignores_sigterm(tmp_path: Path):
    ready = tmp_path / "ready"
    code = (
        "import signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"pathlib.Path({str(ready)!r}).touch(); time.sleep(60)"
    )
    stubborn = start([sys.executable, "-c", code])
    polite = start([sys.executable, "-c", "import time; time.sleep(60)"])
    deadline = time.monotonic() + 20
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    stop(stubborn, polite, timeout=0.5)
    assert polite.returncode == -15, "SIGTERM first"
    assert stubborn.returncode == -9, "SIGKILL when SIGTERM is ignored"


def test_simulator_command_spells_options_as_flags():
    command = simulator_command(8055, render_seconds=2.5, quiet=True)
    assert command[1:] == [
        "-m", "dreamweb.simulator", "--port", "8055", "--render-seconds", "2.5", "--quiet",
    ]  # fmt: skip
