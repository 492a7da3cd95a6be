"""Logging (``dreamweb.logs``): one structured line per request, request ids, no secrets."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time

import pytest

from dreamweb.logs import JsonFormatter
from tests.test_api import create, wait_for


@pytest.fixture
def app_config(app_config, simulator):
    """Fast renders, so a job is final within the test's wait."""
    simulator.configure(render_seconds=0.5)
    return {**app_config, "STATUS_TTL_SECONDS": "0.2"}


def test_request_id_is_echoed_or_generated(client):
    assert (
        client.get("/api/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    generated = client.get("/api/health", headers={"X-Request-ID": "bad id; drop"}).headers[
        "X-Request-ID"
    ]
    assert generated and generated != "bad id; drop" and len(generated) == 32


def test_the_api_key_never_reaches_a_response_or_a_log(client, simulator):
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    logging.getLogger("dreamweb").addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        simulator.inject("create", "401", count=1)
        responses = [create(client), create(client)]
        job_id = responses[1].get_json()["jobId"]
        responses.append(client.get(f"/api/video-status/{job_id}"))
        wait_for(client, job_id)
        # The background ingest logs "job completed" just after the record turns completed,
        # so a poll can see the status a moment before the line is written.
        deadline = time.monotonic() + 5
        while '"job completed"' not in lines.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        root.setLevel(old_level)
        root.removeHandler(handler)
        logging.getLogger("dreamweb").removeHandler(handler)
    assert responses[0].status_code == 502
    everything = lines.getvalue() + "".join(r.get_data(as_text=True) for r in responses)
    assert "sim-test-key" not in everything
    records = [json.loads(line) for line in lines.getvalue().splitlines() if line.startswith("{")]
    events = {(r["message"], r.get("job_id")) for r in records}
    assert ("job created", job_id) in events and ("job completed", job_id) in events
    assert any(r["message"] == "request" and r.get("status") == 202 for r in records)


def test_forked_workers_draw_different_request_ids():
    """gunicorn forks workers from a preloaded master: each must get its own id sequence."""
    from dreamweb import logs

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next draw and leave at once
        os.write(write_end, str(logs._ID_RANDOM.getrandbits(128)).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        child_draw = int(pipe.read())
    assert child_draw != logs._ID_RANDOM.getrandbits(128)


@pytest.mark.parametrize(
    ("patch", "handler"), [("", "BackgroundHandler"), ("monkey.patch_all()", "StreamHandler")]
)
def test_gevent_workers_write_lines_directly_and_threads_through_a_writer(patch, handler):
    """A greenlet "writer thread" would only add a switch per line on the worker's one core."""
    program = (
        f"from gevent import monkey; {patch}\n"
        "from dreamweb.logs import configure_logging, logger\n"
        "configure_logging('json', 'INFO')\n"
        "logger.info('written', extra={'where': 'child'})\n"
        "print(type(logger.handlers[0]).__name__)\n"
        "import logging; logging.shutdown()  # the writer thread's queue is written out\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == handler
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert (line["message"], line["where"]) == ("written", "child")
