"""The sweep and check commands, including a sweeper killed in the middle of an ingest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dreamweb import create_app
from dreamweb.services import services
from dreamweb.storage import layout

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "a dream of a train crossing a frozen lake"


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
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "STORAGE_"))},
        **{k: str(v) for k, v in config.items() if k.isupper() and k != "TESTING"},
    }
    sweeper = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "dreamweb", "sweep"],
        cwd=ROOT,
        env=env,
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
        assert services().inline_jobs().sweep().stored == 0
        time.sleep(5.2)
        report = services().inline_jobs().sweep()
        assert (report.stored, report.errors) == (1, 0)
        assert services().jobs.get(job.id).status == "completed"
