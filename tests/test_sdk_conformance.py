"""The official ``openai`` SDK against the simulator: its types must parse what we send.

If the simulator drifted from the wire format (a missing key, a wrong type, a list without
``last_id``, an error envelope the SDK cannot read), these tests fail in the SDK's own parsing.
"""

from __future__ import annotations

import io

import av
import openai
import pytest
from openai import OpenAI
from openai.pagination import SyncConversationCursorPage
from openai.types import Video, VideoDeleteResponse

from tests.fixtures.simulator import SimulatorHandle

# Every Videos method of the SDK is marked @typing_extensions.deprecated (OpenAI shut the Sora
# API down in September 2026), so each call emits this DeprecationWarning. The simulator exists
# precisely to keep talking that wire format, so the warning is expected here and only here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The Sora API is scheduled to permanently shut down:DeprecationWarning"
)


@pytest.fixture
def client(simulator: SimulatorHandle):
    """An SDK client for the simulator, without retries unless a test asks for them."""
    with OpenAI(base_url=simulator.base_url, api_key="sk-test", max_retries=0) as sdk_client:
        yield sdk_client


def test_create_and_retrieve_parse_as_sdk_videos(simulator, client):
    """The SDK's multipart create and its retrieve both yield ``Video`` objects."""
    video = client.videos.create(prompt="a paper boat on a storm", seconds="8", size="1280x720")
    assert isinstance(video, Video)
    assert video.status == "queued"
    assert video.progress == 0
    assert (video.model, video.seconds, video.size) == ("sora-2", "8", "1280x720")
    assert video.completed_at is None and video.error is None
    assert video._request_id is not None and video._request_id.startswith("req_")
    simulator.complete(video.id)
    fetched = client.videos.retrieve(video.id)
    assert isinstance(fetched, Video)
    assert (fetched.id, fetched.status, fetched.progress) == (video.id, "completed", 100)
    assert isinstance(fetched.completed_at, int) and isinstance(fetched.expires_at, int)
    assert fetched.expires_at > fetched.completed_at


def test_create_and_poll_follows_the_state_machine(simulator, client):
    """The SDK's own polling helper ends on ``completed`` once the render time has passed."""
    simulator.configure(render_seconds=0.3)
    video = client.videos.create_and_poll(prompt="fireflies", poll_interval_ms=50)
    assert (video.status, video.progress) == ("completed", 100)
    assert simulator.counters()["retrieve"] >= 2


def test_list_pages_through_every_video(simulator, client):
    """Auto-pagination uses ``last_id``/``has_more``; pages are ``SyncConversationCursorPage``."""
    created = [client.videos.create(prompt=f"dream {n}").id for n in range(5)]
    first_page = client.videos.list(limit=2)
    assert isinstance(first_page, SyncConversationCursorPage)
    assert [video.id for video in first_page.data] == created[::-1][:2]
    assert first_page.has_more is True and first_page.has_next_page()
    assert all(isinstance(video, Video) for video in first_page.data)
    assert [video.id for video in client.videos.list(limit=2)] == created[::-1]
    ascending = client.videos.list(limit=2, order="asc")
    assert [video.id for video in ascending] == created
    assert simulator.counters()["list"] == 1 + 3 + 3


def test_download_content_returns_a_decodable_video(simulator, client):
    """``download_content`` gets the MP4 bytes; PyAV decodes them as H.264."""
    video_id = client.videos.create(prompt="tidal clock").id
    simulator.complete(video_id)
    content = client.videos.download_content(video_id)
    data = content.read()
    assert content.response.headers["content-type"] == "video/mp4"
    assert len(data) == int(content.response.headers["content-length"])
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    thumbnail = client.videos.download_content(video_id, variant="thumbnail")
    assert thumbnail.read()[8:12] == b"WEBP"


def test_streamed_download_of_a_padded_video(simulator, client):
    """The SDK's streaming response reads a padded video chunk by chunk to its exact size."""
    simulator.configure(video_bytes=4 * 1024 * 1024)
    video_id = client.videos.create(prompt="slow river").id
    simulator.complete(video_id)
    with client.videos.with_streaming_response.download_content(video_id) as response:
        total = sum(len(chunk) for chunk in response.iter_bytes())
    assert total == 4 * 1024 * 1024


def test_delete_parses_as_a_delete_response(simulator, client):
    """Delete answers ``VideoDeleteResponse``; afterwards the SDK raises ``NotFoundError``."""
    video_id = client.videos.create(prompt="soon gone").id
    deleted = client.videos.delete(video_id)
    assert isinstance(deleted, VideoDeleteResponse)
    assert (deleted.id, deleted.object, deleted.deleted) == (video_id, "video.deleted", True)
    with pytest.raises(openai.NotFoundError) as not_found:
        client.videos.retrieve(video_id)
    assert not_found.value.code == "video_not_found"


def test_remix_parses_with_its_source_id(simulator, client):
    """Remix returns a new ``Video`` pointing at its source."""
    source = client.videos.create(prompt="a garden").id
    simulator.complete(source)
    remix = client.videos.remix(source, prompt="the same garden at night")
    assert isinstance(remix, Video)
    assert remix.remixed_from_video_id == source and remix.id != source


def test_error_envelopes_become_the_sdks_typed_errors(simulator, client):
    """400, 401, 429 and quota envelopes surface with the SDK's classes, codes and params."""
    with pytest.raises(openai.BadRequestError) as bad_seconds:
        client.videos.create(prompt="x", seconds="15")  # type: ignore[arg-type]
    assert bad_seconds.value.code == "invalid_value"
    assert bad_seconds.value.param == "seconds"
    assert bad_seconds.value.message.endswith(
        "Invalid value: '15'. Supported values are: '4', '8', and '12'."
    )
    simulator.inject("retrieve", "401")
    with pytest.raises(openai.AuthenticationError):
        client.videos.retrieve("video_" + "0" * 48)
    simulator.inject("create", "429")
    with pytest.raises(openai.RateLimitError) as limited:
        client.videos.create(prompt="x")
    assert limited.value.code == "rate_limit_exceeded"
    simulator.inject("create", "quota")
    with pytest.raises(openai.RateLimitError) as no_quota:
        client.videos.create(prompt="x")
    assert no_quota.value.code == "insufficient_quota"


def test_sdk_retries_honour_the_simulators_retry_headers(simulator):
    """With retries on, a 429 then a 500 are retried and the third attempt succeeds."""
    simulator.inject("create", "429", retry_after=0.05)
    simulator.inject("create", "500")
    with OpenAI(base_url=simulator.base_url, api_key="sk-test", max_retries=2) as retrying:
        video = retrying.videos.create(prompt="third time lucky")
    assert video.status == "queued"
    assert simulator.counters()["create"] == 3
