"""The OpenRouter dialect over real HTTP: endpoints, statuses, faults, signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import av
import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.fixtures.simulator import SimulatorHandle

AUTH = {"Authorization": "Bearer sk-or-test"}
JOB_ID = re.compile(r"^gen-vid-\d{10}-[A-Za-z0-9]{20}$")
VEO = {"model": "google/veo-3.1", "prompt": "a paper boat at night", "duration": 8}
SECRET = "whsec-simulator-test"


def create(simulator: SimulatorHandle, **fields) -> requests.Response:
    """POST /videos with the Veo defaults above, overridden by ``fields``."""
    return requests.post(f"{simulator.openrouter_base_url}/videos", json={**VEO, **fields},
                         headers=AUTH)  # fmt: skip


def retrieve(simulator: SimulatorHandle, job_id: str) -> requests.Response:
    """GET /videos/{id}."""
    return requests.get(f"{simulator.openrouter_base_url}/videos/{job_id}", headers=AUTH)


def content(simulator: SimulatorHandle, job_id: str, index: str = "0") -> requests.Response:
    """GET /videos/{id}/content?index=N."""
    url = f"{simulator.openrouter_base_url}/videos/{job_id}/content"
    return requests.get(url, params={"index": index}, headers=AUTH)


def envelope(response: requests.Response, code: int) -> str:
    """Check OpenRouter's error envelope; return the message."""
    assert response.status_code == code, response.text
    error = response.json()["error"]
    assert error["code"] == code and isinstance(error["message"], str)
    return error["message"]


def verify(raw: bytes, header: str, secret: str, tolerance: int = 300) -> bool:
    """The reference's verifier, verbatim in behaviour."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, v1 = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or not v1 or time.time() - int(t) > tolerance:
        return False
    mac = hmac.new(secret.encode(), t.encode() + b"," + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, v1)


@dataclass
class Delivery:
    """One webhook POST as the receiver saw it."""

    headers: dict[str, str]
    body: bytes


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[Delivery]]]:
    """A real HTTP server collecting webhook deliveries; yields its URL and a queue."""
    received: queue.Queue[Delivery] = queue.Queue()

    @Request.application
    def collect(request: Request) -> Response:
        received.put(Delivery(dict(request.headers), request.get_data()))
        return Response(status=204)

    server = make_server("127.0.0.1", 0, collect, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}/webhooks/openrouter", received
    finally:
        server.shutdown()
        server.server_close()


def test_create_answers_202_pending_with_a_relative_polling_url(simulator):
    """The SDK accepts only 202; the id has the documented shape."""
    answer = create(simulator)
    assert answer.status_code == 202
    job = answer.json()
    assert set(job) == {"id", "polling_url", "status"} and job["status"] == "pending"
    assert JOB_ID.match(job["id"]) and job["polling_url"] == f"/api/v1/videos/{job['id']}"


def test_statuses_go_pending_in_progress_completed_with_cost_and_urls(simulator):
    """No progress field ever; usage.cost is price x seconds once completed."""
    simulator.configure(render_seconds=0.6)
    job_id = create(simulator).json()["id"]
    seen = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        view = retrieve(simulator, job_id).json()
        assert "progress" not in view
        if not seen or seen[-1] != view["status"]:
            seen.append(view["status"])
        if view["status"] == "completed":
            break
        time.sleep(0.03)
    assert seen == ["pending", "in_progress", "completed"]
    assert view["usage"] == {"cost": 3.2, "is_byok": False}  # 8 s x $0.40 with audio
    assert view["unsigned_urls"] == [
        f"{simulator.openrouter_base_url}/videos/{job_id}/content?index=0"
    ]
    assert isinstance(view["expires_at"], int) and view["generation_id"]


def test_content_is_a_decodable_mp4_with_an_exact_length(simulator):
    """video/mp4, Content-Length, H.264 frames."""
    simulator.configure(render_seconds=0, video_bytes=200_000)
    job_id = create(simulator).json()["id"]
    answer = content(simulator, job_id)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "video/mp4"
    assert int(answer.headers["Content-Length"]) == len(answer.content) == 200_000
    with av.open(io.BytesIO(answer.content)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) > 0


def test_content_errors_409_410_404_400(simulator):
    """Not ready, expired, unknown index or job, bad index."""
    job_id = create(simulator).json()["id"]
    envelope(content(simulator, job_id), 409)
    simulator.expire(job_id)
    assert retrieve(simulator, job_id).json()["status"] == "completed"
    envelope(content(simulator, job_id), 410)
    other = create(simulator).json()["id"]
    simulator.complete(other)
    envelope(content(simulator, other, "1"), 404)
    envelope(content(simulator, other, "first"), 400)
    envelope(content(simulator, "gen-vid-0-unknown"), 404)
    envelope(retrieve(simulator, "gen-vid-0-unknown"), 404)


def test_models_catalog_is_public_and_complete(simulator):
    """No key needed; every object has the 14 keys the SDK requires."""
    answer = requests.get(f"{simulator.openrouter_base_url}/videos/models")
    assert answer.status_code == 200
    models = answer.json()["data"]
    required = {
        "id", "canonical_slug", "name", "created", "allowed_passthrough_parameters",
        "supported_resolutions", "supported_aspect_ratios", "supported_sizes",
        "supported_durations", "supported_frame_images", "generate_audio", "seed",
        "creativity", "upscale_factor",
    }  # fmt: skip
    assert {"google/veo-3.1", "openai/sora-2-pro"} <= {model["id"] for model in models}
    for model in models:
        assert required <= set(model)
        assert all(isinstance(v, str) for v in (model.get("pricing_skus") or {}).values())


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"duration": 5}, "duration 5"),
        ({"duration": "8"}, "integer"),
        ({"resolution": "2K"}, "resolution"),
        ({"aspect_ratio": "1:1"}, "aspect_ratio"),
        ({"model": "google/veo-9"}, "not a valid model ID"),
        ({"prompt": ""}, "prompt"),
        ({"model": "openai/sora-2-pro", "seed": 7}, "seed"),
        ({"callback_url": "ftp://x"}, "callback_url"),
    ],
)
def test_values_outside_the_catalog_are_400(simulator, fields, needle):
    """The catalog's supported sets are enforced; nothing is started."""
    assert needle in envelope(create(simulator, **fields), 400)
    assert simulator.app.core.jobs_of("openrouter") == []


def test_a_key_is_required_except_for_the_catalog(simulator):
    """401 ``Missing Authentication header``."""
    url = f"{simulator.openrouter_base_url}/videos"
    assert envelope(requests.post(url, json=VEO), 401) == "Missing Authentication header"
    envelope(requests.get(f"{url}/gen-vid-1"), 401)


@pytest.mark.parametrize(("fault", "code"), [("401", 401), ("402", 402), ("500", 500),
                                             ("503", 503)])  # fmt: skip
def test_answering_faults_start_no_job(simulator, fault, code):
    """Each envelope as documented; a faulted create bills nothing."""
    simulator.inject("openrouter.create", fault)
    message = envelope(create(simulator), code)
    if fault == "402":
        assert message.startswith("Insufficient credits")
    assert simulator.app.core.jobs_of("openrouter") == []


def test_429_carries_retry_after(simulator):
    """Rate limited with a Retry-After in seconds."""
    simulator.inject("openrouter.retrieve", "429", retry_after=7)
    answer = retrieve(simulator, "gen-vid-1")
    assert envelope(answer, 429) == "Rate limit exceeded"
    assert answer.headers["Retry-After"] == "7"


@pytest.mark.parametrize(
    ("fault", "status", "error"),
    [
        ("failed", "failed", "Provider returned error"),
        ("cancelled", "cancelled", "Job was cancelled"),
        ("expired", "expired", "Job exceeded maximum time to live"),
    ],
)
def test_outcome_faults_end_jobs_with_a_string_error(simulator, fault, status, error):
    """failed / cancelled / expired, each with the documented string error and no usage."""
    simulator.configure(render_seconds=0)
    simulator.inject("openrouter.create", fault)
    view = retrieve(simulator, create(simulator).json()["id"]).json()
    assert (view["status"], view["error"]) == (status, error)
    assert "usage" not in view and "unsigned_urls" not in view


def test_moderated_prompt_fails_with_content_policy(simulator):
    """The shared trigger word."""
    simulator.configure(render_seconds=0)
    view = retrieve(simulator, create(simulator, prompt="a nightmare").json()["id"]).json()
    assert (view["status"], view["error"]) == ("failed", "Content policy violation")


def test_drop_and_hang_on_content(simulator):
    """drop: a short body then a reset; hang: a client timeout."""
    simulator.configure(render_seconds=0, video_bytes=100_000)
    job_id = create(simulator).json()["id"]
    simulator.inject("openrouter.content", "drop", after_bytes=1000)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        content(simulator, job_id)
    simulator.inject("openrouter.content", "hang", hang_seconds=5)
    with pytest.raises(requests.Timeout):
        requests.get(f"{simulator.openrouter_base_url}/videos/{job_id}/content", headers=AUTH,
                     timeout=0.3)  # fmt: skip


def test_webhook_is_signed_verifiable_and_sent_without_any_poll(simulator, receiver):
    """One POST when the render ends; the reference's verifier accepts it."""
    url, received = receiver
    simulator.configure(render_seconds=0.3, webhook_secret=SECRET)
    job_id = create(simulator, callback_url=url).json()["id"]
    delivery = received.get(timeout=5)
    assert simulator.counters()["openrouter.retrieve"] == 0
    assert delivery.headers["X-Openrouter-Idempotency-Key"] == f"{job_id}-completed"
    assert delivery.headers["Content-Type"] == "application/json"
    assert verify(delivery.body, delivery.headers["X-Openrouter-Signature"], SECRET)
    assert not verify(delivery.body, delivery.headers["X-Openrouter-Signature"], "wrong")
    assert not verify(delivery.body + b" ", delivery.headers["X-Openrouter-Signature"], SECRET)
    event = json.loads(delivery.body)
    assert event["type"] == "video.generation.completed"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["created_at"])
    data = event["data"]
    assert (data["id"], data["status"], data["model"]) == (job_id, "completed", VEO["model"])
    assert data["usage"]["cost"] == 3.2 and data["unsigned_urls"]
    time.sleep(0.3)
    assert received.empty()  # exactly once, though the status is read again below
    retrieve(simulator, job_id)
    assert received.empty()
    records = simulator.webhook_deliveries()
    assert len(records) == 1 and records[0]["status"] == 204


def test_failed_jobs_send_their_event_and_unsigned_without_a_secret(simulator, receiver):
    """``video.generation.cancelled`` with the string error; no signature header."""
    url, received = receiver
    simulator.inject("openrouter.create", "cancelled")
    job_id = create(simulator, callback_url=url).json()["id"]
    simulator.complete(job_id)
    delivery = received.get(timeout=5)
    assert "X-Openrouter-Signature" not in delivery.headers
    event = json.loads(delivery.body)
    assert event["type"] == "video.generation.cancelled"
    assert event["data"]["error"] == "Job was cancelled"
    assert requests.get(f"{simulator.url}/_sim/webhooks").json()["deliveries"][0]["url"] == url
