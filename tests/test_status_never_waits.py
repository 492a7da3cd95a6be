"""A status poll never waits on the provider; a bulkhead and a circuit breaker keep a slow or
failing provider from holding request threads (issue 10, item 4).

Real peers: the simulator over HTTP (its ``hang`` fault and call counters) and a local store.
Timings are generous bounds, not benchmarks.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from dreamweb import create_app
from tests.web.conftest import HTMX, post_dream, status_of

PROMPT = "A serene dream of flying over mountains at sunset"
API_STATUS = "/api/video-status/{}"
WEB_STATUS = "/dreams/{}/status"


@pytest.fixture
def app_config(app_config, simulator):
    """Long renders, a short TTL, and provider calls that hang for as long as the fault says."""
    simulator.configure(render_seconds=600)
    return {
        **app_config,
        "STATUS_TTL_SECONDS": "0.2",
        "PROVIDER_MAX_RETRIES": "0",
        "PROVIDER_READ_TIMEOUT": "30",
    }


@pytest.fixture
def release_hangs(simulator):
    """Release every request the simulator holds when the test ends (pass or fail)."""
    yield
    simulator.reset()


def create_job(client) -> str:
    response = client.post("/api/create-video", json={"prompt": PROMPT})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["jobId"]


def poll_at_once(app, url: str, count: int) -> list[tuple[float, int, str]]:
    """``count`` clients GET ``url`` together: (seconds taken, status, body) for each."""
    start = threading.Barrier(count)
    answers: list[tuple[float, int, str]] = []

    def poll() -> None:
        client = app.test_client()
        start.wait()
        began = time.monotonic()
        response = client.get(url, headers=HTMX)
        answers.append((time.monotonic() - began, response.status_code, response.get_data(True)))

    threads = [threading.Thread(target=poll) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return answers


def last_state(body: str) -> str:
    """The status an API document or a web fragment shows."""
    return json.loads(body)["status"] if body.startswith("{") else status_of(body)


@pytest.mark.parametrize("url", [API_STATUS, WEB_STATUS], ids=["api", "web-fragment"])
def test_twenty_polls_answer_within_3s_with_the_last_state_while_the_provider_hangs(
    app, simulator, release_hangs, url
):
    job_id = create_job(app.test_client())
    simulator.inject("retrieve", "hang", count=1000, hang_seconds=20)
    time.sleep(0.3)  # the status check is due
    for _ in range(2):  # the first round starts a check that hangs; the second meets it
        answers = poll_at_once(app, url.format(job_id), 20)
        assert len(answers) == 20
        assert max(seconds for seconds, _, _ in answers) < 3
        assert {status for _, status, _ in answers} == {200}
        assert {last_state(body) for _, _, body in answers} == {"pending"}
        time.sleep(0.3)
    assert simulator.counters()["retrieve"] == 1, "one check in flight for the job, not twenty"


def test_the_bulkhead_caps_provider_calls_in_flight_and_skips_the_rest(
    app_config, simulator, release_hangs
):
    app = create_app({**app_config, "PROVIDER_MAX_CONCURRENCY": "2"})
    client = app.test_client()
    job_ids = [create_job(client) for _ in range(5)]
    simulator.inject("retrieve", "hang", count=1000, hang_seconds=20)
    time.sleep(0.3)
    for _ in range(3):
        for job_id in job_ids:
            started = time.monotonic()
            assert client.get(API_STATUS.format(job_id)).status_code == 200
            assert time.monotonic() - started < 1
        time.sleep(0.3)
    assert simulator.counters()["retrieve"] == 2, "two calls in flight; the others skipped"
    simulator.reset()  # the provider answers again: the skipped checks now go through
    time.sleep(0.3)
    for job_id in job_ids:
        client.get(API_STATUS.format(job_id))
    deadline = time.monotonic() + 5
    while simulator.counters().get("retrieve", 0) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert simulator.counters().get("retrieve", 0) >= 3


def test_the_breaker_opens_after_n_failures_and_closes_once_the_provider_recovers(
    app_config, simulator
):
    app = create_app({**app_config, "BREAKER_FAILURES": "2", "BREAKER_RESET_SECONDS": "2"})
    client = app.test_client()
    running = create_job(client)
    simulator.inject("create", "500", count=2)
    for _ in range(2):
        assert client.post("/api/create-video", json={"prompt": PROMPT}).status_code == 502
    calls = simulator.counters()["create"]
    assert calls == 3

    # Open: creates answer at once, 503 + Retry-After (the time left), no provider call.
    refused = client.post("/api/create-video", json={"prompt": PROMPT})
    assert refused.status_code == 503 and refused.headers["Retry-After"] in {"1", "2"}
    assert "error" in refused.get_json()
    page = post_dream(client, PROMPT, headers=HTMX)
    assert page.status_code == 503 and page.headers["Retry-After"] in {"1", "2"}
    assert "trouble" in page.get_data(as_text=True)
    time.sleep(0.3)
    status = client.get(API_STATUS.format(running))
    assert status.status_code == 200
    assert status.get_json()["status"] == "pending" and "notice" in status.get_json()
    fragment = client.get(WEB_STATUS.format(running), headers=HTMX).get_data(as_text=True)
    assert "trouble reaching the dream machine" in fragment and "hx-trigger" in fragment
    assert simulator.counters()["create"] == calls
    assert simulator.counters().get("retrieve", 0) == 0, "no status check while open"

    # Half-open after the reset time: the provider answers, so the circuit closes again.
    time.sleep(2.1)
    assert client.post("/api/create-video", json={"prompt": PROMPT}).status_code == 202
    assert client.post("/api/create-video", json={"prompt": PROMPT}).status_code == 202
    assert simulator.counters()["create"] == calls + 2
    assert "notice" not in client.get(API_STATUS.format(running)).get_json()
