"""dreamweb with ``VIDEO_PROVIDER=openrouter``, through the JSON API and the form, against the
simulator over HTTP and the local store: the whole flow with its cost, faults at every step
(each job ends stored byte-exact or failed with a human reason, one paid submit per job), out
of credits, and form choices that follow ``VIDEO_MODEL``.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import pytest
import requests

from dreamweb import create_app
from dreamweb.jobs import FailureCode, Job
from dreamweb.providers.openrouter import CATALOG
from dreamweb.storage import layout
from tests.fixtures.providers import (
    OPENROUTER_TEST_KEY,
    openrouter_settings,
    openrouter_video_bytes,
)
from tests.fixtures.simulator import SimulatorHandle
from tests.web.conftest import post_dream

PROMPT = "A lighthouse keeper dreaming of whales singing in the fog"
STORED = "stored"


@pytest.fixture
def app_config(app_config: dict[str, Any], simulator: SimulatorHandle) -> dict[str, Any]:
    """OpenRouter through the simulator; a provider check on every poll; short timeouts."""
    CATALOG.forget()
    return {
        **app_config,
        **openrouter_settings(simulator),
        "STATUS_TTL_SECONDS": "0",
        "PROVIDER_READ_TIMEOUT": "1",
    }


def services_of(app: Any) -> Any:
    return app.extensions["dreamweb"]


def stored_job(app: Any, job_id: str) -> Job:
    with app.app_context():
        return services_of(app).jobs.get(job_id, fresh=True)


def only_job_id(app: Any) -> str:
    """The one job record in the store (for creates whose answer carried no job id)."""
    keys = list(services_of(app).store.list(layout.JOBS))
    assert len(keys) == 1, keys
    return layout.job_id_from_key(keys[0])


def poll_until_final(client: Any, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
    """Poll the status API (tolerating provider trouble answers) until the job is final."""
    deadline = time.monotonic() + timeout
    seen: list[Any] = []
    while time.monotonic() < deadline:
        answer = client.get(f"/api/video-status/{job_id}")
        seen.append((answer.status_code, answer.get_json()))
        if answer.status_code == 200 and answer.get_json()["status"] in ("completed", "failed"):
            return answer.get_json()
        assert answer.status_code in (200, 502, 503), seen[-1]
        time.sleep(0.1)
    raise AssertionError(f"never final: {seen[-5:]}")


def assert_stored_byte_exact(app, client, simulator: SimulatorHandle, job_id: str) -> None:
    stored = client.get(f"/api/get-video/{job_id}")
    assert stored.status_code == 200
    expected = openrouter_video_bytes(simulator, stored_job(app, job_id).provider_job_id)
    assert stored.data == expected and stored.data[4:8] == b"ftyp"


def test_full_flow_keeps_the_cost(app, client, simulator: SimulatorHandle) -> None:
    created = client.post("/api/create-video", json={"prompt": PROMPT, "seconds": "4"})
    assert created.status_code == 202, created.get_json()
    job_id = created.get_json()["jobId"]
    final = poll_until_final(client, job_id)
    assert final["status"] == "completed", final
    upstream = simulator.job(stored_job(app, job_id).provider_job_id)
    assert upstream["usage"]["cost"] > 0
    assert final["cost"] == upstream["usage"]["cost"]
    assert stored_job(app, job_id).cost == upstream["usage"]["cost"]
    counters = simulator.counters()
    assert (counters["openrouter.create"], counters["openrouter.content"]) == (1, 1)
    assert_stored_byte_exact(app, client, simulator, job_id)
    assert simulator.webhook_deliveries() == []  # no secret configured: no callback_url sent
    schema = client.get("/api/openapi.json").get_json()["components"]["schemas"]
    assert schema["CompletedStatus"]["properties"]["cost"]["type"] == "number"


# (route, fault, options, create calls, what the job ends as)
FAULTS = [
    ("openrouter.create", "429", {"retry_after": 0.05}, 2, STORED),
    ("openrouter.create", "500", {}, 1, FailureCode.SUBMIT_UNCONFIRMED),
    ("openrouter.create", "503", {}, 1, FailureCode.SUBMIT_UNCONFIRMED),
    ("openrouter.create", "hang", {"hang_seconds": 2.5}, 1, FailureCode.SUBMIT_UNCONFIRMED),
    ("openrouter.create", "drop", {}, 1, FailureCode.SUBMIT_UNCONFIRMED),
    ("openrouter.create", "cancelled", {}, 1, FailureCode.CANCELLED),
    ("openrouter.create", "expired", {}, 1, FailureCode.TIMED_OUT),
    ("openrouter.retrieve", "500", {"count": 2}, 1, STORED),
    ("openrouter.retrieve", "503", {}, 1, STORED),
    ("openrouter.retrieve", "429", {"retry_after": 0.05}, 1, STORED),
    ("openrouter.retrieve", "hang", {"hang_seconds": 2.5}, 1, STORED),
    ("openrouter.content", "500", {}, 1, STORED),
    ("openrouter.content", "drop", {"after_bytes": 100}, 1, STORED),
    ("openrouter.content", "truncate", {"after_bytes": 100}, 1, STORED),
    ("openrouter.content", "hang", {"hang_seconds": 2.5}, 1, STORED),
]


@pytest.mark.parametrize(
    ("route", "fault", "options", "creates", "ends"),
    FAULTS,
    ids=[f"{route.split('.')[1]}-{fault}" for route, fault, *_ in FAULTS],
)
def test_faults_end_stored_or_failed_with_a_reason(
    app, client, simulator: SimulatorHandle, route, fault, options, creates, ends
) -> None:
    simulator.inject(route, fault, **options)
    created = client.post("/api/create-video", json={"prompt": PROMPT})
    if created.status_code == 202:
        job_id = created.get_json()["jobId"]
        final = poll_until_final(client, job_id)
    else:
        # The provider may have started a job we cannot see: kept failed, never retried.
        assert created.status_code == 502, created.get_json()
        job_id = only_job_id(app)
        final = client.get(f"/api/video-status/{job_id}").get_json()
        assert created.get_json()["error"]
    assert simulator.counters()["openrouter.create"] == creates  # one paid submit at most
    if ends == STORED:
        assert final["status"] == "completed", final
        assert_stored_byte_exact(app, client, simulator, job_id)
    else:
        assert final == {
            "jobId": job_id,
            "status": "failed",
            "error": ends.text,
            "errorCode": ends.api_code,
        }
        assert stored_job(app, job_id).error_code == ends.value


@pytest.mark.parametrize("code", [FailureCode.CANCELLED, FailureCode.TIMED_OUT])
def test_cancelled_and_timed_out_are_explained_on_the_page(
    app, client, simulator: SimulatorHandle, code: FailureCode
) -> None:
    simulator.inject("openrouter.create", {"cancelled": "cancelled", "timed_out": "expired"}[code])
    job_id = client.post("/api/create-video", json={"prompt": PROMPT}).get_json()["jobId"]
    assert poll_until_final(client, job_id)["error"] == code.text
    with client.session_transaction() as session:
        session["history"] = [job_id]  # the page is this browser's own dream
    page = client.get(f"/dreams/{job_id}").get_data(as_text=True)
    assert code.explanation in page.replace("&#39;", "'")


def test_output_expired_before_it_was_stored(app, client, simulator: SimulatorHandle) -> None:
    job_id = client.post("/api/create-video", json={"prompt": PROMPT}).get_json()["jobId"]
    provider_job_id = stored_job(app, job_id).provider_job_id
    simulator.complete(provider_job_id)
    simulator.expire(provider_job_id)  # gone before anybody asked for the bytes
    final = poll_until_final(client, job_id)
    assert final["error"] == FailureCode.EXPIRED.text
    assert not services_of(app).store.exists(layout.video_key(job_id))


def test_out_of_credits_is_503_for_clients_and_a_log_line_for_the_operator(
    app, client, simulator: SimulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    simulator.inject("openrouter.create", "402")
    with caplog.at_level(logging.ERROR, logger="dreamweb.provider"):
        answer = client.post("/api/create-video", json={"prompt": PROMPT})
    assert answer.status_code == 503
    assert answer.get_json() == {
        "error": "The video provider is out of credits; try again later",
        "code": "provider_out_of_credits",
    }
    assert any("out of credits" in r.getMessage() for r in caplog.records), caplog.records
    assert OPENROUTER_TEST_KEY not in caplog.text
    assert list(services_of(app).store.list(layout.JOBS)) == []  # nothing was started
    assert simulator.counters()["openrouter.create"] == 1


def test_out_of_credits_on_the_form_says_so(app, client, simulator: SimulatorHandle) -> None:
    simulator.inject("openrouter.create", "402")
    answer = post_dream(client, PROMPT)
    assert answer.status_code == 503
    assert "out of credits" in answer.get_data(as_text=True)
    assert list(services_of(app).store.list(layout.JOBS)) == []


def radio_values(page: str, name: str) -> list[str]:
    return re.findall(rf'type="radio" name="{name}" value="([^"]+)"', page)


def test_form_choices_follow_the_model(app_config, simulator: SimulatorHandle) -> None:
    catalog = {
        model["id"]: model
        for model in requests.get(
            f"{simulator.openrouter_base_url}/videos/models", timeout=5
        ).json()["data"]
    }
    offered = {}
    for model in ("google/veo-3.1", "alibaba/wan-2.7"):
        app = create_app({**app_config, "VIDEO_MODEL": model})
        page = app.test_client().get("/").get_data(as_text=True)
        seconds, sizes = radio_values(page, "seconds"), radio_values(page, "size")
        assert seconds == [str(d) for d in catalog[model]["supported_durations"]]
        assert set(sizes) == set(catalog[model]["supported_sizes"])
        offered[model] = (seconds, sizes)
    assert offered["google/veo-3.1"][0] != offered["alibaba/wan-2.7"][0]
    assert "720x720" in offered["alibaba/wan-2.7"][1]
    assert "720x720" not in offered["google/veo-3.1"][1]
