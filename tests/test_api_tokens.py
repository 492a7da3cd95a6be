"""API tokens (per-token scoping of limits, budget and idempotency keys) and DELETE for the
job's creator. The provider is the simulator over real HTTP."""

from __future__ import annotations

import pytest
import requests

from dreamweb import create_app
from dreamweb.api_tokens import ApiTokens, bearer_token, parse_api_tokens, token_hash
from dreamweb.services import services
from dreamweb.storage import layout
from tests.test_api import wait_for
from tests.web.conftest import post_dream

ALICE = "alice-token-0123456789abcdef"
BOB = "bob-token-0123456789abcdef000"
PROMPT = "A serene dream of flying over mountains at sunset"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create(client, token: str | None = None, **headers: str):
    sent = {**(bearer(token) if token else {}), **headers}
    return client.post("/api/create-video", json={"prompt": PROMPT}, headers=sent)


@pytest.fixture
def token_app(app_config):
    return create_app({**app_config, "API_TOKENS": f"{ALICE}, {BOB}"})


@pytest.fixture
def token_client(token_app):
    return token_app.test_client()


# --- pure ---------------------------------------------------------------------------------------


def test_tokens_parse_and_short_ones_are_refused_without_echoing_them():
    assert parse_api_tokens(f" {ALICE} ,{BOB},") == (ALICE, BOB)
    with pytest.raises(ValueError) as caught:
        parse_api_tokens("short-secret")
    assert "short-secret" not in str(caught.value)


def test_bearer_header_parsing_and_identification():
    tokens = ApiTokens([ALICE, BOB])
    assert bearer_token(f"bearer  {ALICE}") == ALICE
    assert bearer_token(f"Basic {ALICE}") is None and bearer_token("Bearer ") is None
    assert tokens.identify(f"Bearer {BOB}") == token_hash(BOB)
    assert tokens.identify(f"Bearer {ALICE}x") is None
    assert token_hash(ALICE) != token_hash(BOB) and ALICE not in token_hash(ALICE)


# --- create -------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, bearer("not-a-configured-token-at-all"), bearer("")])
def test_missing_or_wrong_token_is_401_with_www_authenticate(token_client, simulator, headers):
    response = token_client.post("/api/create-video", json={"prompt": PROMPT}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"].startswith("A valid API token is required")
    assert simulator.counters()["create"] == 0


def test_right_token_is_202_and_the_record_keeps_only_its_hash(token_app, token_client, simulator):
    response = create(token_client, ALICE)
    assert response.status_code == 202
    job_id = response.get_json()["jobId"]
    with token_app.app_context():
        record = services().store.get_record(layout.job_key(job_id))
    assert record.data["token_hash"] == token_hash(ALICE)
    assert ALICE not in str(record.data)


def test_same_idempotency_key_from_two_tokens_makes_two_jobs(token_client, simulator):
    alice = create(token_client, ALICE, **{"Idempotency-Key": "order-1"})
    bob = create(token_client, BOB, **{"Idempotency-Key": "order-1"})
    assert alice.status_code == bob.status_code == 202
    assert alice.get_json()["jobId"] != bob.get_json()["jobId"]
    replay = create(token_client, BOB, **{"Idempotency-Key": "order-1"})
    assert replay.get_json()["jobId"] == bob.get_json()["jobId"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert simulator.counters()["create"] == 2


def test_rate_limits_count_per_token(app_config, simulator):
    config = {
        **app_config,
        "API_TOKENS": f"{ALICE},{BOB}",
        "RATELIMIT_ENABLED": "true",
        "RATELIMIT_CREATE": "2/minute",
    }
    client = create_app(config).test_client()
    assert [create(client, ALICE).status_code for _ in range(3)] == [202, 202, 429]
    assert create(client, BOB).status_code == 202, "one address, another token: its own limit"


def test_per_client_budget_counts_per_token(app_config, simulator):
    config = {**app_config, "API_TOKENS": ALICE + "," + BOB, "DAILY_VIDEO_SECONDS_PER_CLIENT": "8"}
    client = create_app(config).test_client()
    assert create(client, ALICE).status_code == 202
    assert create(client, ALICE).status_code == 503
    assert create(client, BOB).status_code == 202
    assert simulator.counters()["create"] == 2


def test_web_form_needs_no_token(token_client, simulator):
    response = post_dream(token_client)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/dreams/video_")


def test_status_and_video_stay_readable_by_job_id(token_client, simulator):
    job_id = create(token_client, ALICE).get_json()["jobId"]
    assert wait_for(token_client, job_id)["status"] == "completed"
    assert token_client.get(f"/api/get-video/{job_id}").status_code == 200


# --- delete -------------------------------------------------------------------------------------


def test_delete_by_the_creator_removes_everything(token_app, token_client, simulator):
    job_id = create(token_client, ALICE).get_json()["jobId"]
    assert wait_for(token_client, job_id)["status"] == "completed"
    with token_app.app_context():
        store = services().store
        provider_id = services().jobs.get(job_id).provider_job_id
        assert store.exists(layout.video_key(job_id))
    response = token_client.delete(f"/api/videos/{job_id}", headers=bearer(ALICE))
    assert response.status_code == 204 and response.get_data() == b""
    with token_app.app_context():
        for key in (layout.video_key(job_id), layout.thumbnail_key(job_id)):
            assert not store.exists(key)
        assert store.get_record(layout.job_key(job_id)) is None
        assert list(store.list(layout.ACTIVE)) == []
    assert simulator.counters()["delete"] == 1
    upstream = requests.get(
        f"{simulator.base_url}/videos/{provider_id}", headers=bearer("sim-test-key"), timeout=5
    )
    assert upstream.status_code == 404, "the provider's copy is gone too"
    assert token_client.get(f"/api/video-status/{job_id}").status_code == 404
    again = token_client.delete(f"/api/videos/{job_id}", headers=bearer(ALICE))
    assert again.status_code == 404


def test_delete_by_another_token_is_404_and_keeps_the_job(token_app, token_client, simulator):
    job_id = create(token_client, ALICE).get_json()["jobId"]
    response = token_client.delete(f"/api/videos/{job_id}", headers=bearer(BOB))
    assert response.status_code == 404
    assert response.get_json()["error"] == f"Job not found: {job_id}"
    assert token_client.get(f"/api/video-status/{job_id}").status_code == 200
    assert simulator.counters()["delete"] == 0


def test_delete_of_a_web_form_job_is_404_for_every_token(token_client, simulator):
    job_id = post_dream(token_client).headers["Location"].rsplit("/", 1)[-1]
    assert token_client.delete(f"/api/videos/{job_id}", headers=bearer(ALICE)).status_code == 404


def test_delete_without_a_token_is_401(token_client, simulator):
    job_id = create(token_client, ALICE).get_json()["jobId"]
    response = token_client.delete(f"/api/videos/{job_id}")
    assert response.status_code == 401 and "WWW-Authenticate" in response.headers


def test_delete_with_a_malformed_id_is_400(token_client):
    assert token_client.delete("/api/videos/..%2Fjobs", headers=bearer(ALICE)).status_code == 400


def test_delete_without_tokens_configured_is_405(client, simulator):
    job_id = create(client).get_json()["jobId"]
    response = client.delete(f"/api/videos/{job_id}")
    assert response.status_code == 405
    assert response.headers["Allow"] == ""
    assert "API_TOKENS" in response.get_json()["error"]
    assert client.get(f"/api/video-status/{job_id}").status_code == 200
