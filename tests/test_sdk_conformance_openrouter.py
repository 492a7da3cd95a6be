"""The official ``openrouter`` SDK drives the OpenRouter dialect and parses every answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openrouter import OpenRouter, errors
from openrouter.utils import BackoffStrategy, RetryConfig

from tests.fixtures.simulator import SimulatorHandle

NO_RETRIES = RetryConfig("none", BackoffStrategy(500, 60000, 1.5, 3600000), False)


@pytest.fixture
def client(simulator: SimulatorHandle) -> Iterator[OpenRouter]:
    """An SDK client on the simulator, retries off (the SDK retries 5xx for an hour)."""
    with OpenRouter(
        api_key="sk-or-test",
        server_url=simulator.openrouter_base_url,
        x_open_router_title="dreamweb",
        retry_config=NO_RETRIES,
        timeout_ms=10_000,
    ) as sdk_client:
        yield sdk_client


def test_generate_poll_download_parse(simulator, client):
    """generate (202) -> get_generation -> get_video_content, all through the SDK's types."""
    job = client.video_generation.generate(
        model="google/veo-3.1", prompt="a lighthouse", duration=8, resolution="720p",
        aspect_ratio="16:9", generate_audio=False,
    )  # fmt: skip
    assert job.status == "pending" and job.polling_url.endswith(job.id)
    assert client.video_generation.get_generation(job_id=job.id).status in (
        "pending",
        "in_progress",
    )
    simulator.complete(job.id)
    done = client.video_generation.get_generation(job_id=job.id)
    assert done.status == "completed"
    assert done.usage.cost == pytest.approx(1.6)  # 8 s x $0.20 without audio
    assert done.usage.is_byok is False
    assert isinstance(done.expires_at, int) and done.unsigned_urls
    response = client.video_generation.get_video_content(job_id=job.id, index=0)
    data = response.read()
    response.close()
    assert data[4:8] == b"ftyp"
    assert simulator.counters()["openrouter.content"] == 1


def test_catalog_parses_into_video_models(client):
    """Every model object satisfies the SDK's 14 required keys and types."""
    models = client.video_generation.list_videos_models().data
    veo = next(model for model in models if model.id == "google/veo-3.1")
    assert veo.supported_durations == [4, 6, 8]
    assert veo.pricing_skus["duration_seconds_with_audio"] == "0.40"


def test_failed_and_cancelled_jobs_parse_with_string_errors(simulator, client):
    """``error`` is a string the SDK accepts."""
    simulator.configure(render_seconds=0)
    simulator.inject("openrouter.create", "cancelled")
    job = client.video_generation.generate(model="google/veo-3.1", prompt="x")
    view = client.video_generation.get_generation(job_id=job.id)
    assert (view.status, view.error) == ("cancelled", "Job was cancelled")


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [("402", errors.PaymentRequiredResponseError), ("429", errors.TooManyRequestsResponseError),
     ("500", errors.InternalServerResponseError), ("401", errors.UnauthorizedResponseError)],
)  # fmt: skip
def test_error_envelopes_map_to_typed_sdk_errors(simulator, client, fault, error_type):
    """The SDK reads our envelopes into its typed errors."""
    simulator.inject("openrouter.create", fault)
    with pytest.raises(error_type) as raised:
        client.video_generation.generate(model="google/veo-3.1", prompt="x")
    assert raised.value.status_code == int(fault)
    assert raised.value.data.error.message


def test_content_errors_parse(simulator, client):
    """409 before completion and 410 after expiry are typed errors too."""
    job = client.video_generation.generate(model="google/veo-3.1", prompt="x")
    with pytest.raises(errors.ConflictResponseError):
        client.video_generation.get_video_content(job_id=job.id, index=0)
    simulator.expire(job.id)
    with pytest.raises(errors.GoneResponseError):
        client.video_generation.get_video_content(job_id=job.id, index=0)
