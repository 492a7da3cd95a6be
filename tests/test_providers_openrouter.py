"""OpenRouterClient and its catalog: pure parsing, then the simulator's OpenRouter dialect over
real HTTP (and a scripted loopback server for headers the simulator does not report).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dreamweb.errors import (
    ContentTruncatedError,
    OutOfCreditsError,
    ProviderNotFoundError,
    RateLimitedError,
    UpstreamUnavailableError,
)
from dreamweb.providers import build_provider
from dreamweb.providers.base import CANCELLED, COMPLETED, FAILED, PENDING, TIMED_OUT
from dreamweb.providers.openrouter import CATALOG, Catalog, OpenRouterClient
from dreamweb.providers.openrouter.catalog import fetch_models
from dreamweb.providers.openrouter.wire import create_body, parse_generation
from tests.fixtures.scripted import Reply, ScriptedServer
from tests.fixtures.simulator import SimulatorHandle

KEY = "sk-or-test-SECRET-1234"
VEO = {
    "id": "google/veo-3.1",
    "supported_aspect_ratios": ["16:9", "9:16"],
    "supported_resolutions": ["720p", "1080p"],
    "generate_audio": True,
}


class TestWire:
    def test_statuses_cost_and_reasons(self) -> None:
        done = parse_generation({"id": "j", "status": "completed", "usage": {"cost": 0.5}})
        assert (done.status, done.cost, done.progress) == (COMPLETED, 0.5, None)
        assert parse_generation({"id": "j", "status": "pending"}).status == PENDING
        cancelled = parse_generation({"id": "j", "status": "cancelled"})
        assert (cancelled.status, cancelled.error_code) == (FAILED, CANCELLED)
        assert "cancelled" in cancelled.error_message
        expired = parse_generation(
            {"id": "j", "status": "expired", "error": "Job exceeded maximum time to live"}
        )
        assert (expired.error_code, expired.error_message) == (
            TIMED_OUT,
            "Job exceeded maximum time to live",
        )
        failed = parse_generation(
            {"id": "j", "status": "failed", "error": "Content policy violation"}
        )
        assert (failed.status, failed.error_message) == (FAILED, "Content policy violation")
        assert parse_generation({"id": "j", "status": "rendering"}).status == "processing"
        with pytest.raises(UpstreamUnavailableError):
            parse_generation({"status": "pending"})

    def test_create_body(self) -> None:
        body = create_body(
            "p",
            model="google/veo-3.1",
            seconds="8",
            size="720x1280",
            entry=VEO,
            generate_audio=False,
            callback_url="https://x/hook",
        )
        assert body == {
            "model": "google/veo-3.1",
            "prompt": "p",
            "duration": 8,
            "aspect_ratio": "9:16",
            "resolution": "720p",
            "generate_audio": False,
            "callback_url": "https://x/hook",
        }
        plain = create_body(
            "p",
            model="m",
            seconds="5",
            size="1280x720",
            entry=None,
            generate_audio=True,
            callback_url=None,
        )
        assert plain == {"model": "m", "prompt": "p", "duration": 5, "size": "1280x720"}


class TestCatalogCache:
    def test_cached_refreshed_and_stale_when_down(self, simulator: SimulatorHandle) -> None:
        now = [0.0]
        catalog = Catalog(clock=lambda: now[0])
        base = simulator.url + "/api/v1"
        first = catalog.models(base)
        assert "google/veo-3.1" in first and catalog.models(base) is first
        assert simulator.counters()["openrouter.models"] == 1
        now[0] = 3601.0
        simulator.inject("openrouter.models", "503")
        assert catalog.models(base) == first, "stale copy while the catalog is down"
        assert catalog.models(base) == first, "and no second try at once"
        assert simulator.counters()["openrouter.models"] == 2
        now[0] = 3601.0 + 61
        catalog.models(base)
        assert simulator.counters()["openrouter.models"] == 3

    def test_nothing_cached_and_down(self, simulator: SimulatorHandle) -> None:
        simulator.inject("openrouter.models", "500")
        with pytest.raises(UpstreamUnavailableError):
            Catalog().models(simulator.url + "/api/v1")

    def test_read_without_a_key(self, scripted: ScriptedServer) -> None:
        scripted.script("/videos/models", Reply(body=json.dumps({"data": [VEO]}).encode()))
        assert list(fetch_models(scripted.url)) == ["google/veo-3.1"]
        assert "Authorization" not in scripted.seen[0].headers


# --- against the simulator -------------------------------------------------------------------

_made: list[OpenRouterClient] = []


def make_client(simulator: SimulatorHandle, **more: Any) -> OpenRouterClient:
    CATALOG.forget()
    config = {
        "VIDEO_PROVIDER": "openrouter",
        "OPENROUTER_API_KEY": KEY,
        "OPENROUTER_BASE_URL": simulator.url + "/api/v1",
        "PROVIDER_READ_TIMEOUT": 2,
        "PROVIDER_RETRY_DEADLINE": 8,
        **more,
    }
    client = build_provider(config)
    _made.append(client)  # type: ignore[arg-type]
    return client  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def _close() -> Iterator[None]:
    yield
    while _made:
        _made.pop().close()


def create(client: OpenRouterClient, **more: Any) -> Any:
    return client.create(
        "a quiet lake at dawn", model="google/veo-3.1", seconds="8", size="1280x720", **more
    )


def test_create_poll_download(simulator: SimulatorHandle) -> None:
    client = make_client(simulator)
    job = create(client, job_id="video_x")
    assert job.status == PENDING and job.progress is None
    simulator.complete(job.id)
    done = client.retrieve(job.id)
    assert done.status == COMPLETED and done.cost is not None and done.cost > 0
    reference = requests.get(
        f"{simulator.url}/api/v1/videos/{job.id}/content",
        params={"index": 0},
        headers={"Authorization": "Bearer r"},
        timeout=5,
    )
    with client.download(job.id) as stream:
        assert b"".join(stream) == reference.content and stream.content_type.startswith("video/mp4")
    with pytest.raises(ProviderNotFoundError):
        client.download(job.id, "thumbnail")


@pytest.mark.parametrize(
    ("fault", "calls", "error"),
    [
        ("429", 2, None),
        ("500", 1, UpstreamUnavailableError),
        ("503", 1, UpstreamUnavailableError),
        ("402", 1, OutOfCreditsError),
        ("drop", 1, UpstreamUnavailableError),
    ],
)
def test_submit_never_paid_twice(
    simulator: SimulatorHandle, fault: str, calls: int, error: type[Exception] | None
) -> None:
    simulator.inject("openrouter.create", fault, retry_after=0.05)
    client = make_client(simulator)
    if error is None:
        assert create(client).status == PENDING
    else:
        with pytest.raises(error) as info:
            create(client)
        assert KEY not in str(info.value)
    assert simulator.counters()["openrouter.create"] == calls


def test_out_of_credits_is_503(simulator: SimulatorHandle) -> None:
    simulator.inject("openrouter.create", "402")
    with pytest.raises(OutOfCreditsError) as info:
        create(make_client(simulator))
    assert info.value.status == 503 and "credits" in info.value.public_message


@pytest.mark.parametrize(
    ("fault", "code"), [("cancelled", CANCELLED), ("expired", TIMED_OUT), ("failed", None)]
)
def test_final_failures(simulator: SimulatorHandle, fault: str, code: str | None) -> None:
    client = make_client(simulator)
    simulator.inject("openrouter.create", fault)
    job = create(client)
    simulator.complete(job.id)
    failed = client.retrieve(job.id)
    assert (failed.status, failed.error_code) == (FAILED, code) and failed.error_message


def test_poll_retried_and_rate_limit_surfaces(simulator: SimulatorHandle) -> None:
    client = make_client(simulator)
    job = create(client)
    simulator.inject("openrouter.retrieve", "500")
    assert client.retrieve(job.id).id == job.id
    simulator.inject("openrouter.retrieve", "429", count=5, retry_after=0.05)
    with pytest.raises(RateLimitedError):
        client.retrieve(job.id)


@pytest.mark.parametrize("fault", ["truncate", "drop"])
def test_cut_download_raises(simulator: SimulatorHandle, fault: str) -> None:
    simulator.configure(video_bytes=1024 * 1024)
    client = make_client(simulator)
    job = create(client)
    simulator.complete(job.id)
    simulator.inject("openrouter.content", fault, after_bytes=100_000)
    with pytest.raises(ContentTruncatedError), client.download(job.id) as stream:
        for _ in stream:
            pass


def test_expired_output_is_gone(simulator: SimulatorHandle) -> None:
    client = make_client(simulator)
    job = create(client)
    simulator.expire(job.id)
    with pytest.raises(ProviderNotFoundError):
        client.download(job.id)


def test_attribution_headers(scripted: ScriptedServer) -> None:
    scripted.script(
        "/videos",
        Reply(202, b'{"id": "j", "polling_url": "/api/v1/videos/j", "status": "pending"}'),
    )
    client = OpenRouterClient(
        base_url=scripted.url, api_key=KEY, public_url="https://dreams.example"
    )
    _made.append(client)
    create(client)
    headers = scripted.seen[0].headers
    assert headers["HTTP-Referer"] == "https://dreams.example"
    assert headers["X-OpenRouter-Title"] == "dreamweb"
    assert headers["Authorization"] == f"Bearer {KEY}"
