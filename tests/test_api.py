"""The JSON API contract: shapes, statuses, bad input, faults. Simulator over HTTP, real stores."""

from __future__ import annotations

import io
import json
import time

import pytest
import requests

from dreamweb import create_app
from dreamweb.storage import layout
from dreamweb.storage.layout import is_job_id

PROMPT = "A serene dream of flying over mountains at sunset"


def create(client, body=None, **kw):
    return client.post("/api/create-video", json=body or {"prompt": PROMPT}, **kw)


def wait_for(client, job_id, statuses=("completed", "failed"), timeout=20.0):
    """Poll the status endpoint until the job reaches one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        payload = client.get(f"/api/video-status/{job_id}").get_json()
        if payload["status"] in statuses or time.monotonic() > deadline:
            return payload
        time.sleep(0.1)


def provider_videos(simulator) -> list[dict]:
    """Every job the simulator has, read through its own list endpoint."""
    response = requests.get(
        f"{simulator.base_url}/videos",
        params={"limit": 100},
        headers={"Authorization": "Bearer any"},
        timeout=5,
    )
    return response.json()["data"]


def provider_video_bytes(simulator, video_id: str) -> bytes:
    """The bytes the simulator serves for a job's video."""
    response = requests.get(
        f"{simulator.base_url}/videos/{video_id}/content",
        headers={"Authorization": "Bearer any"},
        timeout=5,
    )
    return response.content


@pytest.fixture
def app_config(app_config, simulator):
    simulator.configure(render_seconds=0.5)
    return {**app_config, "STATUS_TTL_SECONDS": "0.2"}


@pytest.fixture
def contract(app_config, provider_config):
    """``(client, case)``: an app on one provider of the contract suite (``provider_config``:
    openai-videos, vertex-veo on the GCS emulator, openrouter). Only the configuration differs."""
    return create_app({**app_config, **provider_config.config}).test_client(), provider_config


# --- create -----------------------------------------------------------------------------


def test_create_returns_202_with_location_and_the_seed_shape(contract):
    client, case = contract
    response = create(client)
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"jobId", "status", "createdAt"}
    assert is_job_id(body["jobId"]) and body["status"] == "pending"
    assert time.strptime(body["createdAt"], "%Y-%m-%dT%H:%M:%SZ")
    assert response.headers["Location"] == f"http://localhost/api/video-status/{body['jobId']}"
    assert case.paid() == 1


def test_provider_id_is_never_exposed(contract):
    client, case = contract
    body = create(client).get_json()
    provider_ids = case.provider_ids()
    status = client.get(f"/api/video-status/{body['jobId']}").get_data(as_text=True)
    assert provider_ids and not any(pid in status or pid == body["jobId"] for pid in provider_ids)
    assert "operations/" not in status
    assert client.get(f"/api/video-status/{provider_ids[0]}").status_code in (400, 404)


def test_location_is_correct_behind_a_proxy(app_config):
    client = create_app({**app_config, "TRUSTED_PROXY_HOPS": "1"}).test_client()
    response = create(
        client,
        headers={"Host": "dreams.example.com", "X-Forwarded-Proto": "https"},
    )
    assert response.headers["Location"].startswith("https://dreams.example.com/api/video-status/")


def test_a_client_cannot_choose_the_host_of_our_urls(client):
    response = create(client, headers={"X-Forwarded-Host": "evil.example"})
    assert response.headers["Location"].startswith("http://localhost/api/video-status/")


BAD_BODIES = [
    (
        "{broken",
        "application/json",
        "Invalid request: body must be a JSON object",
        "invalid_request",
    ),
    (
        "[1, 2]",
        "application/json",
        "Invalid request: body must be a JSON object",
        "invalid_request",
    ),
    ("42", "application/json", "Invalid request: body must be a JSON object", "invalid_request"),
    ("null", "application/json", "Invalid request: body must be a JSON object", "invalid_request"),
    (
        '"a string"',
        "application/json",
        "Invalid request: body must be a JSON object",
        "invalid_request",
    ),
    ("{}", "application/json", "Invalid prompt: prompt is required", "invalid_prompt"),
    (
        '{"prompt": null}',
        "application/json",
        "Invalid prompt: prompt is required",
        "invalid_prompt",
    ),
    (
        '{"prompt": 12345678901}',
        "application/json",
        "Invalid prompt: must be a string",
        "invalid_prompt",
    ),
    (
        '{"prompt": ["a dream of"]}',
        "application/json",
        "Invalid prompt: must be a string",
        "invalid_prompt",
    ),
    (
        '{"prompt": "x"}',
        "application/json",
        "Invalid prompt: must be between 10 and 500 characters",
        "invalid_prompt",
    ),
    (
        json.dumps({"prompt": "x" * 10_000}),
        "application/json",
        "Invalid prompt: must be between 10 and 500 characters",
        "invalid_prompt",
    ),
    (
        '{"prompt": "          "}',
        "application/json",
        "Invalid prompt: must not be empty or only whitespace",
        "invalid_prompt",
    ),
    (
        json.dumps({"prompt": "\u200b\u200c\u200d\u2060\ufeff" * 5}),
        "application/json",
        "Invalid prompt: must not be empty or only whitespace",
        "invalid_prompt",
    ),
    (
        json.dumps({"prompt": "\x00\x01\x02\x1b[31m"}),
        "application/json",
        "Invalid prompt: must be between 10 and 500 characters",
        "invalid_prompt",
    ),
    (
        json.dumps({"prompt": "\u202e\u202d\u2066abc"}),
        "application/json",
        "Invalid prompt: must be between 10 and 500 characters",
        "invalid_prompt",
    ),
    (
        json.dumps({"prompt": PROMPT, "seconds": "10"}),
        "application/json",
        "Invalid seconds: must be one of 4, 8, 12",
        "invalid_seconds",
    ),
    (
        json.dumps({"prompt": PROMPT, "size": "4096x4096"}),
        "application/json",
        "Invalid size: must be one of 1280x720, 720x1280",
        "invalid_size",
    ),
    (
        json.dumps({"prompt": PROMPT, "size": None}),
        "application/json",
        "Invalid size: must be one of 1280x720, 720x1280",
        "invalid_size",
    ),
    (
        json.dumps({"prompt": PROMPT, "seconds": None}),
        "application/json",
        "Invalid seconds: must be one of 4, 8, 12",
        "invalid_seconds",
    ),
    (
        json.dumps({"prompt": "x " * 251}),
        "application/json",
        "Invalid prompt: must be between 10 and 500 characters",
        "invalid_prompt",
    ),
]


@pytest.mark.parametrize(("data", "content_type", "message", "code"), BAD_BODIES)
def test_bad_create_bodies_get_400_and_no_upstream_call(
    client, simulator, data, content_type, message, code
):
    response = client.post("/api/create-video", data=data, content_type=content_type)
    assert response.status_code == 400
    assert response.get_json() == {"error": message, "code": code}
    assert simulator.counters()["create"] == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_bodies_that_are_not_json_get_415(client, simulator, content_type):
    response = client.post(
        "/api/create-video", data=json.dumps({"prompt": PROMPT}), content_type=content_type
    )
    assert response.status_code == 415
    assert response.get_json() == {
        "error": "Invalid request: Content-Type must be application/json",
        "code": "unsupported_media_type",
    }
    assert simulator.counters()["create"] == 0


def test_deeply_nested_json_is_a_400_not_a_500(client, simulator):
    response = client.post(
        "/api/create-video", data="[" * 5000 + "]" * 5000, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "Invalid request: body must be a JSON object",
        "code": "invalid_request",
    }


def test_huge_body_gets_413_json(client, simulator):
    response = client.post(
        "/api/create-video",
        data=json.dumps({"prompt": "x" * 100_000}),
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.get_json() == {"error": "Request body too large", "code": "payload_too_large"}
    assert simulator.counters()["create"] == 0


@pytest.mark.parametrize(
    "prompt",
    ['<script>alert("x")</script> a dream', '"><img src=x onerror=alert(1)> a dream'],
)
def test_html_payloads_are_stored_as_text(client, app, prompt):
    body = create(client, {"prompt": prompt}).get_json()
    with app.app_context():
        from dreamweb.services import services

        assert services().jobs.get(body["jobId"]).prompt == prompt


def test_rtl_and_zero_width_characters_are_removed_before_the_provider(client, simulator):
    create(client, {"prompt": "a \u202edream\u200b of\u00a0the   sea\u2066"})
    assert provider_videos(simulator)[0]["prompt"].count("a dream of the sea") == 1


def test_no_key_means_503_not_configured(app_config, simulator):
    client = create_app({**app_config, "OPENAI_API_KEY": ""}).test_client()
    response = create(client)
    assert response.status_code == 503
    assert "not configured" in response.get_json()["error"]
    assert simulator.counters()["create"] == 0


def test_provider_rate_limit_on_create_is_503_with_retry_after(contract, simulator):
    client, case = contract
    simulator.inject(case.route("create"), "429", count=5, retry_after=1)
    response = create(client)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert "error" in response.get_json()


def test_provider_500_on_create_is_502_and_not_retried(contract, simulator):
    client, case = contract
    simulator.inject(case.route("create"), "500", count=5)
    response = create(client)
    assert response.status_code == 502
    assert response.get_json() == {
        "error": "The video provider is unavailable",
        "code": "provider_unavailable",
    }
    assert case.paid() == 1, "a create is never retried after a 500"


def test_provider_hang_on_create_is_a_bounded_502(app_config, simulator):
    client = create_app({**app_config, "PROVIDER_READ_TIMEOUT": "0.5"}).test_client()
    simulator.inject("create", "hang", count=1, hang_seconds=3)
    started = time.monotonic()
    response = create(client)
    assert response.status_code == 502
    assert time.monotonic() - started < 3
    assert simulator.counters()["create"] == 1


def test_provider_rejection_is_400_with_a_fixed_message_and_the_upstream_text_logged(
    app_config, simulator, caplog
):
    client = create_app({**app_config, "VIDEO_MODEL": "sora-9"}).test_client()
    with caplog.at_level("INFO", logger="dreamweb"):
        response = create(client)
    assert response.status_code == 400
    assert response.get_json()["error"] == "The video provider rejected the request"
    logged = [getattr(r, "upstream_message", "") for r in caplog.records]
    assert any("sora-9" in text for text in logged), "the provider's own words are logged"


def test_idempotency_key_returns_the_first_response(contract):
    client, case = contract
    first = create(client, headers={"Idempotency-Key": "order-77"})
    second = create(client, headers={"Idempotency-Key": "order-77"})
    assert first.status_code == second.status_code == 202
    assert first.get_json()["jobId"] == second.get_json()["jobId"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert case.paid() == 1
    assert create(client, headers={"Idempotency-Key": "bad key"}).status_code == 400


# --- status -----------------------------------------------------------------------------


BAD_IDS = [
    "abc",
    "video_",
    "video_a",
    "../../etc/passwd",
    "video_..%2F..%2Fx",
    "video_%2Fetc",
    "video_\u00e9t\u00e9abcd",
    "video_" + "a" * 200,
    "video_abc def",
    "VIDEO_abcdef",
]


@pytest.mark.parametrize("job_id", BAD_IDS)
@pytest.mark.parametrize("endpoint", ["video-status", "get-video"])
def test_malformed_ids_get_400_without_upstream(client, simulator, endpoint, job_id):
    response = client.get(f"/api/{endpoint}/{job_id}")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("Invalid job ID")
    assert sum(simulator.counters().values()) == 0


def test_unknown_id_is_404_without_upstream(client, simulator):
    response = client.get("/api/video-status/video_neverMade123")
    assert response.status_code == 404
    assert response.get_json() == {
        "error": "Job not found: video_neverMade123",
        "code": "not_found",
    }
    assert sum(simulator.counters().values()) == 0


def test_running_then_completed_shapes(contract):
    client, case = contract
    job_id = create(client).get_json()["jobId"]
    running = client.get(f"/api/video-status/{job_id}").get_json()
    assert {"jobId", "status", "progress"} <= set(running)
    assert set(running) <= {"jobId", "status", "progress", "stage", "progressEstimated"}
    assert running["status"] in ("pending", "processing")
    assert 0 <= running["progress"] <= 100
    if not client.application.config["VIDEO_CAPABILITIES"].reports_progress:
        # A figure the provider never sent is an estimate, marked so, below 100.
        assert running["progressEstimated"] is True and running["progress"] < 100
    done = wait_for(client, job_id)
    # What the provider charged (USD), only where it says: OpenRouter's usage.cost.
    charged = {"cost"} if case.name == "openrouter" else set()
    assert set(done) == {"jobId", "status", "videoUrl", "completedAt"} | charged
    assert not charged or done["cost"] > 0
    assert done["status"] == "completed"
    assert done["videoUrl"] == f"http://localhost/api/get-video/{job_id}"
    video = client.get(done["videoUrl"])
    assert video.status_code == 200 and video.headers["Content-Type"] == "video/mp4"
    assert video.data[4:8] == b"ftyp"


def test_storing_stage_is_reported_while_the_copy_runs(client, simulator):
    simulator.configure(video_bytes=8 * 1024 * 1024)
    simulator.inject("content", "hang", count=1, hang_seconds=1.5)
    job_id = create(client).get_json()["jobId"]
    payload = wait_for(client, job_id, statuses=("processing",))
    deadline = time.monotonic() + 10
    while payload.get("stage") != "storing" and time.monotonic() < deadline:
        time.sleep(0.05)
        payload = client.get(f"/api/video-status/{job_id}").get_json()
    assert payload == {"jobId": job_id, "status": "processing", "progress": 100, "stage": "storing"}
    assert wait_for(client, job_id)["status"] == "completed"


def test_failed_shape(contract):
    client, _ = contract
    job_id = create(client, {"prompt": "a nightmare of teeth falling out"}).get_json()["jobId"]
    assert wait_for(client, job_id) == {
        "jobId": job_id,
        "status": "failed",
        "error": "Video generation failed: content policy violation",
        "errorCode": "content_policy",
    }


def test_status_answers_the_last_state_while_the_provider_rate_limits(contract, simulator):
    # The contract changed: a poll never surfaces the provider's trouble as an error (it never
    # waits on the provider at all); it answers 200 with the last stored state.
    client, case = contract
    job_id = create(client).get_json()["jobId"]
    simulator.inject(case.route("retrieve"), "429", count=100, retry_after=1)
    time.sleep(0.25)
    for _ in range(5):
        response = client.get(f"/api/video-status/{job_id}")
        assert response.status_code == 200 and "Retry-After" not in response.headers
        body = response.get_json()
        assert (body["jobId"], body["status"], body["stage"]) == (job_id, "pending", "queued")
        time.sleep(0.1)
    assert simulator.counters()[case.route("retrieve")] >= 1, "the background check did ask"


def test_status_keeps_the_last_state_while_upstream_is_down_then_completes(contract, simulator):
    client, case = contract
    job_id = create(client).get_json()["jobId"]
    simulator.inject(case.route("retrieve"), "500", count=2)  # the first attempt and its one retry
    time.sleep(0.25)
    response = client.get(f"/api/video-status/{job_id}")
    assert response.status_code == 200 and response.get_json()["status"] == "pending"
    assert "notice" not in response.get_json(), "one failure does not open the breaker"
    time.sleep(0.25)
    assert wait_for(client, job_id)["status"] == "completed"


def test_dropped_download_still_completes_byte_exact(client, simulator):
    simulator.configure(video_bytes=2 * 1024 * 1024)
    simulator.inject("content", "drop", count=1, after_bytes=100_000)
    job_id = create(client).get_json()["jobId"]
    assert wait_for(client, job_id)["status"] == "completed"
    provider_id = provider_videos(simulator)[0]["id"]
    assert client.get(f"/api/get-video/{job_id}").data == provider_video_bytes(
        simulator, provider_id
    )


# --- get-video --------------------------------------------------------------------------


def test_get_video_404_shape_before_it_is_stored(client):
    job_id = create(client).get_json()["jobId"]
    response = client.get(f"/api/get-video/{job_id}")
    assert response.status_code == 404
    assert response.get_json() == {
        "error": f"Video not found for job ID: {job_id}",
        "code": "not_found",
    }


def test_get_video_headers_range_and_conditionals(contract):
    client, case = contract
    job_id = create(client).get_json()["jobId"]
    wait_for(client, job_id)
    full = client.get(f"/api/get-video/{job_id}")
    size = len(full.data)
    assert full.data == case.video_bytes(case.provider_ids()[0]), "byte-exact"
    assert full.headers["Content-Length"] == str(size)
    assert full.headers["Accept-Ranges"] == "bytes"
    assert full.headers["Content-Disposition"] == f'attachment; filename="dream-{job_id}.mp4"'
    etag = full.headers["ETag"]
    assert etag.startswith('"') and "Last-Modified" in full.headers
    part = client.get(f"/api/get-video/{job_id}", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == full.data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{size}"
    assert (
        client.get(f"/api/get-video/{job_id}", headers={"If-None-Match": etag}).status_code == 304
    )
    unsatisfiable = client.get(f"/api/get-video/{job_id}", headers={"Range": f"bytes={size}-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["Content-Range"] == f"bytes */{size}"
    head = client.head(f"/api/get-video/{job_id}")
    assert (
        head.status_code == 200 and head.data == b"" and head.headers["Content-Length"] == str(size)
    )


# --- cross-cutting ----------------------------------------------------------------------


def test_every_api_error_is_json(client):
    assert client.get("/api/nowhere").get_json() == {"error": "Not found", "code": "not_found"}
    options = client.options("/api/create-video")
    assert options.status_code == 200 and options.get_json() == {}
    assert "POST" in options.headers["Allow"]
    response = client.delete("/api/create-video")
    assert response.status_code == 405 and response.get_json() == {
        "error": "Method DELETE not allowed",
        "code": "method_not_allowed",
    }


def test_unexpected_errors_are_generic_500_json(app_config, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store's folder should be")
    client = create_app({**app_config, "STORAGE_URL": (blocker / "store").as_uri()}).test_client()
    response = create(client)
    assert response.status_code in (500, 503)
    body = response.get_json()
    assert set(body) == {"error", "code"} and "Traceback" not in body["error"]
    assert str(blocker) not in body["error"]


def test_rate_limits_answer_429_json_with_retry_after(app_config):
    client = create_app(
        {**app_config, "RATELIMIT_ENABLED": "true", "RATELIMIT_CREATE": "2/minute"}
    ).test_client()
    codes = [create(client).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    limited = create(client)
    assert limited.get_json()["error"].startswith("Rate limit exceeded")
    assert int(limited.headers["Retry-After"]) > 0
    # Limits are per client address.
    other = create(client, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert other.status_code == 202


def test_cors_allowlist(app_config):
    closed = create_app(app_config).test_client()
    assert (
        "Access-Control-Allow-Origin"
        not in closed.get("/api/health", headers={"Origin": "https://evil.example"}).headers
    )
    opened = create_app({**app_config, "CORS_ORIGINS": "https://app.example"}).test_client()
    allowed = opened.options(
        "/api/create-video",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type, Idempotency-Key",
        },
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    denied = opened.get("/api/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in denied.headers


def test_active_marker_tracks_unfinished_jobs(client, app):
    job_id = create(client).get_json()["jobId"]
    with app.app_context():
        from dreamweb.services import services

        assert services().store.exists(layout.active_key(job_id))
        wait_for(client, job_id)
        assert not services().store.exists(layout.active_key(job_id))


# --- the GCS emulator as the store ------------------------------------------------------


@pytest.fixture
def gcs_client(app_config, gcs_config):
    """An app storing in the GCS emulator instead of on disk."""
    return create_app({**app_config, **gcs_config}).test_client()


def test_full_flow_on_gcs(gcs_client, simulator):
    simulator.configure(video_bytes=3 * 1024 * 1024)
    job_id = create(gcs_client).get_json()["jobId"]
    done = wait_for(gcs_client, job_id)
    assert done["status"] == "completed"
    provider_id = provider_videos(simulator)[0]["id"]
    expected = provider_video_bytes(simulator, provider_id)
    assert gcs_client.get(f"/api/get-video/{job_id}").data == expected
    middle = gcs_client.get(f"/api/get-video/{job_id}", headers={"Range": "bytes=1500000-1500099"})
    assert middle.status_code == 206 and middle.data == expected[1500000:1500100]


def test_faults_end_every_job_completed_or_failed_never_stuck_or_duplicated(app, simulator):
    simulator.configure(video_bytes=512 * 1024)
    client = app.test_client()
    simulator.inject("create", "429", count=1, retry_after=0.1)
    simulator.inject("retrieve", "500", count=3)
    simulator.inject("content", "drop", count=2, after_bytes=10_000)
    simulator.inject("content", "truncate", count=1, after_bytes=20_000)
    prompts = [f"a dream number {n} of rivers made of light" for n in range(5)]
    prompts.append("a nightmare number 6 of a house with no doors")
    job_ids = [create(client, {"prompt": p}).get_json()["jobId"] for p in prompts]
    from dreamweb.jobs import Sweeper
    from dreamweb.services import services

    with app.app_context():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            Sweeper(services().inline_jobs()).sweep()
            jobs = [services().jobs.get(job_id) for job_id in job_ids]
            if all(job.is_final for job in jobs):
                break
            time.sleep(0.2)
        assert [job.status for job in jobs] == ["completed"] * 5 + ["failed"]
        assert jobs[-1].error == "Video generation failed: content policy violation"
        for job in jobs[:5]:
            stored = b"".join(services().store.open_range(layout.video_key(job.id)))
            assert stored == provider_video_bytes(simulator, job.provider_job_id)
    assert len(provider_videos(simulator)) == 6, "no generation was started twice"


def test_signed_url_delivery(app_config, gcs_config, signing_key, simulator):
    config = {
        **app_config,
        **gcs_config,
        "VIDEO_DELIVERY": "signed-url",
        "GCS_CREDENTIALS_JSON": json.dumps(signing_key[1]),
    }
    client = create_app(config).test_client()
    job_id = create(client).get_json()["jobId"]
    done = wait_for(client, job_id)
    assert done["status"] == "completed"
    emulator = gcs_config["STORAGE_EMULATOR_HOST"]
    assert done["videoUrl"].startswith(emulator) and "X-Goog-Signature=" in done["videoUrl"]
    redirect = client.get(f"/api/get-video/{job_id}")
    assert redirect.status_code == 302
    assert redirect.headers["Location"].startswith(emulator)
    expected = provider_video_bytes(simulator, provider_videos(simulator)[0]["id"])
    part = requests.get(redirect.headers["Location"], headers={"Range": "bytes=100-199"}, timeout=5)
    assert part.status_code == 206 and part.content == expected[100:200]
    assert client.get("/api/get-video/video_notStoredYet1").status_code == 404


def test_read_endpoints_have_their_own_generous_limit(app_config):
    client = create_app(
        {**app_config, "RATELIMIT_ENABLED": "true", "RATELIMIT_READ": "3/minute"}
    ).test_client()
    codes = [client.get("/api/video-status/video_unknownJob1").status_code for _ in range(4)]
    assert codes == [404, 404, 404, 429]
    # Each read endpoint counts on its own.
    videos = [client.get("/api/get-video/video_unknownJob1") for _ in range(4)]
    assert [r.status_code for r in videos] == [404, 404, 404, 429]
    assert int(videos[-1].headers["Retry-After"]) > 0
    assert create(client).status_code == 202, "creation is limited separately"


# --- idempotency --------------------------------------------------------------------------


def test_replay_answers_exactly_as_the_first_time_even_after_completion(client, simulator):
    first = create(client, headers={"Idempotency-Key": "k-done"})
    job_id = first.get_json()["jobId"]
    assert wait_for(client, job_id)["status"] == "completed"
    again = create(client, headers={"Idempotency-Key": "k-done"})
    assert (again.status_code, again.get_json()) == (202, first.get_json())
    assert again.headers["Location"] == first.headers["Location"]


def test_keys_are_per_client(client, simulator):
    mine = create(client, headers={"Idempotency-Key": "1"}).get_json()["jobId"]
    theirs = create(
        client, headers={"Idempotency-Key": "1"}, environ_base={"REMOTE_ADDR": "203.0.113.7"}
    ).get_json()["jobId"]
    assert mine != theirs
    assert simulator.counters()["create"] == 2


@pytest.mark.parametrize("fault", ["drop", "hang"])
def test_a_create_the_provider_may_have_started_is_never_paid_twice(app_config, simulator, fault):
    client = create_app({**app_config, "PROVIDER_READ_TIMEOUT": "0.5"}).test_client()
    simulator.inject("create", fault, count=1, hang_seconds=2)
    first = create(client, headers={"Idempotency-Key": "k-unsure"})
    assert first.status_code == 502
    again = create(client, headers={"Idempotency-Key": "k-unsure"})
    assert (again.status_code, again.get_json()) == (502, first.get_json())
    assert simulator.counters()["create"] == 1, "the retry started no second generation"


def test_a_refused_create_frees_its_key(client, simulator):
    simulator.inject("create", "429", count=2, retry_after=0.05)  # the attempt and its retry
    assert create(client, headers={"Idempotency-Key": "k-busy"}).status_code == 503
    retried = create(client, headers={"Idempotency-Key": "k-busy"})
    assert retried.status_code == 202 and "Idempotent-Replayed" not in retried.headers


def test_a_key_whose_job_was_deleted_starts_afresh(client, app, simulator):
    first = create(client, headers={"Idempotency-Key": "k-gone"}).get_json()["jobId"]
    with app.app_context():
        from dreamweb.services import services

        services().jobs.delete(first)
    again = create(client, headers={"Idempotency-Key": "k-gone"})
    assert again.status_code == 202 and again.get_json()["jobId"] != first


# --- provider-side endings --------------------------------------------------------------


def test_content_expired_before_storing_fails_with_a_reason(client, simulator):
    simulator.configure(render_seconds=0)
    job_id = create(client).get_json()["jobId"]
    simulator.expire(provider_videos(simulator)[0]["id"])
    assert wait_for(client, job_id) == {
        "jobId": job_id,
        "status": "failed",
        "error": "Video generation failed: the finished video expired before it could be saved",
        "errorCode": "video_expired",
    }


def test_a_job_the_provider_lost_fails_with_a_reason(client, simulator):
    job_id = create(client).get_json()["jobId"]
    requests.delete(
        f"{simulator.base_url}/videos/{provider_videos(simulator)[0]['id']}",
        headers={"Authorization": "Bearer any"},
        timeout=5,
    )
    time.sleep(0.25)
    assert wait_for(client, job_id) == {
        "jobId": job_id,
        "status": "failed",
        "error": "Video generation failed: the provider no longer has this video",
        "errorCode": "provider_lost",
    }


def test_a_copy_in_that_keeps_failing_backs_off_then_fails(app_config, simulator):
    client = create_app(app_config).test_client()
    simulator.inject("content", "truncate", count=1000, after_bytes=10)
    job_id = create(client).get_json()["jobId"]
    payload = wait_for(client, job_id, statuses=("processing",))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # poll hard for a while
        payload = client.get(f"/api/video-status/{job_id}").get_json()
    downloads = simulator.counters()["content"]
    assert payload["stage"] == "storing"
    # Without backoff every poll would start a download (hundreds); with it a handful.
    assert downloads <= 3 * 2, downloads  # INGEST_ATTEMPTS=3 per try, at most two tries in 5 s


def test_a_huge_chunked_body_is_413_too(client, simulator):
    body = json.dumps({"prompt": "x" * 100_000}).encode()
    response = client.post(
        "/api/create-video",
        input_stream=io.BytesIO(body),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        # What gunicorn says of a chunked body it de-chunks; without it werkzeug reads nothing.
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert response.get_json() == {"error": "Request body too large", "code": "payload_too_large"}
    assert simulator.counters()["create"] == 0


# --- error codes ------------------------------------------------------------------------


def test_every_error_of_the_bad_input_corpus_has_a_documented_code(client, simulator):
    """Each JSON error the corpus above provokes carries a code from the one table, answered
    with the status the table gives it, and listed in the OpenAPI enum."""
    from dreamweb.error_codes import ERROR_CODES

    enum = client.get("/api/openapi.json").get_json()["components"]["schemas"]["ErrorCode"]
    responses = [
        client.post("/api/create-video", data=data, content_type=content_type)
        for data, content_type, _, _ in BAD_BODIES
    ]
    responses += [
        client.get(f"/api/{endpoint}/{job_id}")
        for job_id in BAD_IDS
        for endpoint in ("video-status", "get-video")
    ]
    responses += [
        client.post("/api/create-video", data="{}", content_type="text/plain"),
        client.post(
            "/api/create-video", data="[" * 5000 + "]" * 5000, content_type="application/json"
        ),
        client.post(
            "/api/create-video",
            data=json.dumps({"prompt": "x" * 100_000}),
            content_type="application/json",
        ),
        create(client, headers={"Idempotency-Key": "bad key"}),
        create(client, {"prompt": PROMPT, "callbackUrl": "http://10.0.0.1/x"}),
        client.get("/api/video-status/video_neverMade123"),
        client.get("/api/get-video/video_neverMade123"),
        client.get("/api/nowhere"),
        client.delete("/api/create-video"),
    ]
    assert len(responses) > 40
    for response in responses:
        body = response.get_json()
        assert body["code"] in ERROR_CODES, body
        assert ERROR_CODES[body["code"]].status == response.status_code, body
        assert body["code"] in enum["enum"] and body["error"]
