"""The sweep and check commands, including a sweeper killed in the middle of an ingest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dreamweb import create_app
from dreamweb.jobs import Sweeper
from dreamweb.services import services
from dreamweb.storage import layout

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "a dream of a train crossing a frozen lake"


def cli_environment(config: dict) -> dict[str, str]:
    """This process's environment without dreamweb settings, plus ``config`` as variables."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "STORAGE_"))},
        **{k: str(v) for k, v in config.items() if k.isupper() and k != "TESTING"},
    }


def test_sweep_finishes_jobs_nobody_polls(app, simulator):
    with app.app_context():
        job, _ = services().jobs.create(PROMPT, seconds="4", size="1280x720")
    simulator.complete(job.provider_job_id)
    result = app.test_cli_runner().invoke(args=["sweep"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "swept 1 unfinished job(s): 1 stored, 0 failed, 0 error(s)"
    with app.app_context():
        assert services().jobs.get(job.id).status == "completed"
        assert services().store.exists(layout.video_key(job.id))
    again = app.test_cli_runner().invoke(args=["sweep"])
    assert again.output.strip() == "swept 0 unfinished job(s): 0 stored, 0 failed, 0 error(s)"


def test_check_command(app):
    result = app.test_cli_runner().invoke(args=["check"])
    assert result.exit_code == 0 and "storage reachable" in result.output


def test_a_sweeper_killed_mid_ingest_is_finished_by_the_next_sweep(app_config, simulator):
    config = {**app_config, "INGEST_LEASE_SECONDS": "5", "STATUS_TTL_SECONDS": "0"}
    app = create_app(config)
    with app.app_context():
        job, _ = services().jobs.create(PROMPT, seconds="4", size="1280x720")
    simulator.complete(job.provider_job_id)
    simulator.inject("content", "hang", count=1, hang_seconds=30)
    sweeper = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "dreamweb", "sweep"],
        cwd=ROOT,
        env=cli_environment(config),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with app.app_context():
        store = services().store
        deadline = time.monotonic() + 20
        while not store.exists(layout.lease_key(job.id)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.exists(layout.lease_key(job.id)), "the sweeper took the lease"
        sweeper.send_signal(signal.SIGKILL)
        sweeper.wait(timeout=10)
        assert not store.exists(layout.video_key(job.id)), "nothing partial is visible"
        # While the dead sweeper's lease is live, nobody else downloads.
        assert Sweeper(services().inline_jobs()).sweep().stored == 0
        time.sleep(5.2)
        report = Sweeper(services().inline_jobs()).sweep()
        assert (report.stored, report.errors) == (1, 0)
        assert services().jobs.get(job.id).status == "completed"


def test_sweep_loop_logs_a_failed_sweep_and_carries_on(app_config, tmp_path):
    blocker = tmp_path / "not-yet-a-folder"
    blocker.write_text("a file where the store's folder should be")
    config = {**app_config, "STORAGE_URL": (blocker / "store").as_uri()}
    sweeper = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "dreamweb",
            "sweep",
            "--loop",
            "--interval",
            "0.2",
        ],
        cwd=ROOT,
        env=cli_environment(config),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = LineReader(sweeper.stdout), LineReader(sweeper.stderr)
    try:
        assert err.wait_for("sweep failed"), err.text()
        assert sweeper.poll() is None, "the worker loop survived the failed sweep"
        blocker.unlink()  # the storage comes back
        assert out.wait_for("swept 0 unfinished job(s)"), (out.text(), err.text())
        assert sweeper.poll() is None
    finally:
        sweeper.terminate()
        sweeper.wait(timeout=10)
        out.close()
        err.close()
    assert "Traceback" not in err.text()


class LineReader:
    """Collects a pipe's lines in a thread, so a test can wait for one with a deadline."""

    def __init__(self, pipe) -> None:
        self.lines: list[str] = []
        self._pipe = pipe
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe) -> None:
        for line in pipe:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 20.0) -> bool:
        """Whether a line containing ``text`` arrives within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.lines)):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        """Wait for the reader to reach the end of the pipe (its process ended), then close it."""
        self._thread.join(timeout=10)
        self._pipe.close()

    def text(self) -> str:
        """Everything read so far."""
        return "".join(self.lines)


# --- check: storage really there and usable (one-line failures, no traceback) ----------------


def run_check(config: dict) -> subprocess.CompletedProcess[str]:
    """``flask --app dreamweb check`` in a process of its own, configured by environment."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "dreamweb", "check"],
        cwd=ROOT,
        env=cli_environment(config),
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *reason: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dreamweb: storage check failed: "), lines[0]
    for part in reason:
        assert part in lines[0], lines[0]
    assert "storage reachable" not in result.stdout


@pytest.mark.parametrize("storage", ["local", "gcs"])
def test_check_passes_and_cleans_up(request, app_config, storage):
    extra = request.getfixturevalue("gcs_config") if storage == "gcs" else {}
    app = create_app({**app_config, **extra})
    result = app.test_cli_runner().invoke(args=["check"])
    assert result.exit_code == 0, result.output
    assert "storage reachable" in result.output
    with app.app_context():
        assert list(services().store.list("checks/")) == [], "the write probe is removed"


@pytest.mark.emulator
def test_check_fails_in_one_line_for_a_missing_bucket(app_config, gcs_config):
    config = {**app_config, **gcs_config, "STORAGE_URL": "gs://dreamweb-no-such-bucket"}
    assert_one_line_failure(run_check(config), "dreamweb-no-such-bucket", "does not exist")


def test_check_fails_in_one_line_when_the_local_folder_cannot_exist(app_config, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    config = {**app_config, "STORAGE_URL": (blocker / "store").as_uri()}
    assert_one_line_failure(run_check(config), "a-file")
