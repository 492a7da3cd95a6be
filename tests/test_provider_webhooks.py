"""``POST /webhooks/openrouter`` over real HTTP both ways: the app is served on a loopback port
(its ``PUBLIC_URL``), the simulator renders and posts its signed webhook to the app.

"Zero polls" means no client asked for the status: the webhook handler itself makes exactly
one confirming ``GET /videos/{id}`` (a webhook is a nudge; the provider's answer is the truth),
then copies the video in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from dreamweb import create_app
from dreamweb.config import load_settings
from dreamweb.errors import ConfigError
from dreamweb.jobs import Job
from dreamweb.providers.openrouter import CATALOG
from dreamweb.storage import layout
from tests.fixtures.browser import LiveServer, serve_app
from tests.fixtures.providers import openrouter_settings, openrouter_video_bytes
from tests.fixtures.simulator import SimulatorHandle

SECRET = "whsec-dreamweb-test"
PROMPT = "A train of paper cranes crossing a sleeping city at dawn"


@pytest.fixture
def live(app_config: dict[str, Any], simulator: SimulatorHandle) -> Iterator[LiveServer]:
    """The app with webhooks on (``PUBLIC_URL`` = where it is served), the simulator signing
    with the same secret."""
    CATALOG.forget()
    simulator.configure(webhook_secret=SECRET)
    config = {**app_config, **openrouter_settings(simulator), "OPENROUTER_WEBHOOK_SECRET": SECRET}
    with serve_app(config, public_url=True) as server:
        yield server


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


def create(live: LiveServer) -> str:
    answer = requests.post(f"{live.url}/api/create-video", json={"prompt": PROMPT}, timeout=10)
    assert answer.status_code == 202, answer.text
    return answer.json()["jobId"]


def record(live: LiveServer, job_id: str) -> Job:
    return Job.from_record(
        live.app.extensions["dreamweb"].store.get_record(layout.job_key(job_id)).data
    )


def delivery_records(live: LiveServer) -> list[str]:
    return list(live.app.extensions["dreamweb"].store.list(layout.IDEMPOTENCY))


def answered_deliveries(simulator: SimulatorHandle) -> list[dict[str, Any]]:
    """The simulator's webhook deliveries the app has answered."""
    return [d for d in simulator.webhook_deliveries() if d["status"] is not None]


def status_polls(live: LiveServer) -> list[str]:
    return [path for path, _ in live.requests if path.startswith("/api/video-status")]


def signed(body: bytes, t: int, secret: str = SECRET) -> str:
    mac = hmac.new(secret.encode(), f"{t},".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(provider_job_id: str, status: str = "completed") -> bytes:
    return json.dumps(
        {
            "type": f"video.generation.{status}",
            "created_at": "2026-12-01T06:00:00.000Z",
            "data": {"id": provider_job_id, "status": status, "model": "google/veo-3.1"},
        }
    ).encode()


def post(live: LiveServer, job_id: str, body: bytes, signature: str | None, key: str) -> Any:
    headers = {"Content-Type": "application/json", "X-OpenRouter-Idempotency-Key": key}
    if signature is not None:
        headers["X-OpenRouter-Signature"] = signature
    return requests.post(
        f"{live.url}/webhooks/openrouter", params={"job": job_id}, data=body, headers=headers,
        timeout=10,
    )  # fmt: skip


def test_a_valid_delivery_stores_the_video_with_no_client_poll(
    live: LiveServer, simulator: SimulatorHandle
) -> None:
    job_id = create(live)
    job = wait_for(lambda: (j := record(live, job_id)).status == "completed" and j)
    [delivery] = wait_for(lambda: answered_deliveries(simulator))
    assert delivery["status"] == 204
    assert delivery["url"] == f"{live.url}/webhooks/openrouter?job={job_id}"
    assert status_polls(live) == []
    counters = simulator.counters()
    assert (counters["openrouter.retrieve"], counters["openrouter.content"]) == (1, 1)
    assert job.cost == simulator.job(job.provider_job_id)["usage"]["cost"]

    # A retried delivery is answered 2xx and does nothing.
    replay = requests.post(
        delivery["url"], data=delivery["body"].encode(), headers=delivery["headers"], timeout=10
    )
    assert replay.status_code == 204
    assert record(live, job_id) == job
    status = requests.get(f"{live.url}/api/video-status/{job_id}", timeout=10).json()
    assert status["status"] == "completed" and status["cost"] == job.cost
    assert simulator.counters() == counters  # a finished job never asks the provider again
    video = requests.get(status["videoUrl"], timeout=10)
    assert video.content == openrouter_video_bytes(simulator, job.provider_job_id)


def test_a_delivery_signed_with_another_secret_changes_nothing(
    live: LiveServer, simulator: SimulatorHandle
) -> None:
    simulator.configure(webhook_secret="someone-elses-secret")
    job_id = create(live)
    before = record(live, job_id)
    [delivery] = wait_for(lambda: answered_deliveries(simulator))
    assert delivery["status"] == 401
    time.sleep(0.3)  # a background task, had one been started, would have run by now
    assert record(live, job_id) == before
    assert simulator.counters()["openrouter.retrieve"] == 0
    assert delivery_records(live) == []


@pytest.fixture
def rendering(live: LiveServer, simulator: SimulatorHandle) -> tuple[str, Job]:
    """A job whose render takes long enough that only the test's own deliveries arrive."""
    simulator.configure(render_seconds=60.0)
    job_id = create(live)
    return job_id, record(live, job_id)


@pytest.mark.parametrize(
    "forge",
    [
        lambda body, now: None,  # unsigned
        lambda body, now: f"t={now},v1={'ab' * 32}",  # made-up MAC
        lambda body, now: signed(body, now, secret="guessed-secret"),  # wrong secret
        lambda body, now: signed(body, now - 301),  # stale timestamp
        lambda body, now: signed(body + b" ", now),  # body changed after signing
    ],
    ids=["unsigned", "forged", "wrong-secret", "stale", "tampered"],
)
def test_forged_deliveries_are_401_and_change_nothing(
    live: LiveServer, simulator: SimulatorHandle, rendering: tuple[str, Job], forge
) -> None:
    job_id, before = rendering
    body = event(before.provider_job_id)
    answer = post(live, job_id, body, forge(body, int(time.time())), f"{before.provider_job_id}-x")
    assert answer.status_code == 401
    assert answer.json() == {"error": "Invalid webhook signature", "code": "unauthorized"}
    time.sleep(0.3)
    assert record(live, job_id) == before
    assert simulator.counters()["openrouter.retrieve"] == 0
    assert delivery_records(live) == []


def test_a_replayed_delivery_is_2xx_and_a_no_op(
    live: LiveServer, simulator: SimulatorHandle, rendering: tuple[str, Job]
) -> None:
    job_id, before = rendering
    body = event(before.provider_job_id)
    signature = signed(body, int(time.time()))
    key = f"{before.provider_job_id}-completed"
    assert post(live, job_id, body, signature, key).status_code == 204
    # The one confirming check ran (the render is not done: the job stays running).
    wait_for(lambda: simulator.counters()["openrouter.retrieve"] == 1)
    time.sleep(0.3)  # and its answer was written
    after = record(live, job_id)
    assert after.checked_at != before.checked_at and after.status in ("pending", "processing")
    assert post(live, job_id, body, signature, key).status_code == 204
    time.sleep(0.3)
    assert simulator.counters()["openrouter.retrieve"] == 1
    assert record(live, job_id) == after
    assert len(delivery_records(live)) == 1


def test_a_delivery_about_another_job_is_refused(
    live: LiveServer, simulator: SimulatorHandle, rendering: tuple[str, Job]
) -> None:
    job_id, before = rendering
    body = event("gen-vid-1-someone-elses-job")
    answer = post(live, job_id, body, signed(body, int(time.time())), "gen-vid-1-x-completed")
    assert answer.status_code == 400
    missing = post(live, "video_doesnotexist000000000", body, signed(body, int(time.time())), "k")
    assert missing.status_code == 204  # signed by OpenRouter, but no such job here: nothing to do
    time.sleep(0.3)
    assert record(live, job_id) == before
    assert simulator.counters()["openrouter.retrieve"] == 0


def test_without_a_secret_there_is_no_webhook_endpoint(app_config, simulator) -> None:
    app = create_app({**app_config, **openrouter_settings(simulator)})
    answer = app.test_client().post("/webhooks/openrouter", data=b"{}")
    assert answer.status_code == 404


def test_a_secret_needs_a_public_url(app_config, simulator) -> None:
    secret = {"OPENROUTER_WEBHOOK_SECRET": "a-secret"}
    config = {**app_config, **openrouter_settings(simulator), **secret}
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert info.value.args[0] == "PUBLIC_URL" or "PUBLIC_URL" in str(info.value)
    assert str(info.value) != "s"  # the secret is never echoed


def test_openrouter_itself_needs_an_https_public_url(app_config, simulator) -> None:
    config = {
        **app_config,
        **openrouter_settings(simulator),
        "OPENROUTER_BASE_URL": "https://openrouter.ai/api/v1",
        "OPENROUTER_WEBHOOK_SECRET": "a-secret",
        "PUBLIC_URL": "http://dreams.example.com",
    }
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert (info.value.variable, "https" in info.value.problem) == ("PUBLIC_URL", True)


def test_webhook_errors_are_json(live: LiveServer) -> None:
    answer = requests.get(f"{live.url}/webhooks/openrouter", timeout=10)
    assert answer.status_code == 405
    assert answer.json() == {"error": "Method GET not allowed", "code": "method_not_allowed"}
