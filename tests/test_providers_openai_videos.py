"""OpenAIVideosClient against real HTTP on loopback: the project's simulator, plus a tiny scripted
server for what the simulator cannot express (custom headers, redirects, non-JSON bodies).

Nothing here mocks ``requests``: every request crosses a socket.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import urllib3.exceptions

from dreamweb.errors import (
    AuthenticationError,
    ConfigError,
    ContentPolicyError,
    ContentTruncatedError,
    InputRejectedError,
    ProviderError,
    ProviderNotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    UpstreamUnavailableError,
)
from dreamweb.providers import build_provider
from dreamweb.providers.base import COMPLETED, CONTENT_POLICY, FAILED, PENDING, PROCESSING
from dreamweb.providers.calls import in_host_family
from dreamweb.providers.openai_videos import OpenAIVideosClient, parse_video
from dreamweb.providers.retry import is_connect_failure as _is_connect_failure
from dreamweb.providers.retry import parse_retry_after, retry_wait
from dreamweb.providers.streaming import CHUNK_SIZE, verified_chunks
from tests.fixtures.peers import free_port
from tests.fixtures.scripted import Reply, ScriptedServer
from tests.fixtures.simulator import SimulatorHandle

KEY = "sk-test-SECRET-7f3a9c1e5b"
MIB = 1024 * 1024


_made: list[OpenAIVideosClient] = []


def make_client(base_url: str, **overrides: Any) -> OpenAIVideosClient:
    """A client with short timeouts so failure paths stay fast (closed after each test)."""
    options: dict[str, Any] = {
        "base_url": base_url,
        "api_key": KEY,
        "connect_timeout": 1.0,
        "read_timeout": 2.0,
        "max_retries": 2,
        "retry_deadline": 10.0,
    }
    options.update(overrides)
    client = OpenAIVideosClient(**options)
    _made.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Close every client a test made, so no pooled socket outlives its test."""
    yield
    while _made:
        _made.pop().close()


@pytest.fixture
def provider_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture ``dreamweb.provider`` records even when ``dreamweb`` stops propagating.

    ``configure_logging`` (run by any app built earlier in the session) sets
    ``propagate = False`` on ``dreamweb``, so the caplog handler is attached directly (and
    propagation paused, so no record is captured twice).
    """
    provider_logger = logging.getLogger("dreamweb.provider")
    saved = provider_logger.level, provider_logger.propagate
    provider_logger.addHandler(caplog.handler)
    provider_logger.setLevel(logging.DEBUG)
    provider_logger.propagate = False
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        provider_logger.removeHandler(caplog.handler)
        provider_logger.level, provider_logger.propagate = saved


def video_json(video_id: str = "video_abc", status: str = "queued", **extra: Any) -> bytes:
    """A minimal Video object as bytes."""
    return json.dumps({"id": video_id, "object": "video", "status": status, **extra}).encode()


def error_json(message: str, code: str | None = None) -> bytes:
    """An error envelope as bytes."""
    envelope = {"error": {"message": message, "type": "x", "param": None, "code": code}}
    return json.dumps(envelope).encode()


# --- pure functions -----------------------------------------------------------------------------


class TestParseVideo:
    """``parse_video`` accepts whatever a gateway sends, within reason."""

    def test_full_object(self) -> None:
        job = parse_video(
            {
                "id": "video_1",
                "object": "video",
                "model": "sora-2",
                "status": "in_progress",
                "progress": 42,
                "created_at": 1700000000,
                "completed_at": None,
                "expires_at": None,
                "prompt": "a dream",
                "size": "1280x720",
                "seconds": "8",
                "remixed_from_video_id": None,
                "error": None,
            }
        )
        assert (job.id, job.status, job.raw_status, job.progress) == (
            "video_1",
            PROCESSING,
            "in_progress",
            42,
        )
        assert (job.model, job.seconds, job.size, job.created_at) == (
            "sora-2",
            "8",
            "1280x720",
            1700000000,
        )
        assert job.completed_at is None and job.error_code is None

    def test_unknown_fields_and_missing_nullables(self) -> None:
        job = parse_video({"id": "v", "status": "queued", "quality": "hd", "extra": {"a": 1}})
        assert job.status == PENDING and job.progress == 0
        assert job.model is None and job.expires_at is None and job.error_message is None

    @pytest.mark.parametrize(
        ("progress", "expected"),
        [
            (None, 0),
            ("57", 57),
            (33.9, 33),
            (-5, 0),
            (250, 100),
            ("soon", 0),
            (True, 0),
            ("nan", 0),
        ],
    )
    def test_progress_coerced_and_clamped(self, progress: Any, expected: int) -> None:
        assert parse_video({"id": "v", "status": "in_progress", "progress": progress}).progress == (
            expected
        )

    def test_completed_is_100(self) -> None:
        job = parse_video({"id": "v", "status": "completed", "progress": 97, "seconds": 8})
        assert (job.status, job.progress, job.seconds) == (COMPLETED, 100, "8")

    @pytest.mark.parametrize("raw", ["rendering", "CANCELLED", "", None, 7])
    def test_unknown_status_is_processing(self, raw: Any) -> None:
        job = parse_video({"id": "v", "status": raw})
        assert job.status == PROCESSING
        assert job.raw_status == (raw if isinstance(raw, str) else "")

    def test_failed_carries_error(self) -> None:
        job = parse_video(
            {
                "id": "v",
                "status": "failed",
                "progress": 10,
                "error": {"code": "moderation_blocked", "message": "Blocked."},
            }
        )
        assert (job.status, job.error_code, job.error_message) == (
            FAILED,
            "moderation_blocked",
            "Blocked.",
        )

    def test_error_as_plain_string(self) -> None:
        job = parse_video({"id": "v", "status": "failed", "error": "boom"})
        assert (job.error_code, job.error_message) == (None, "boom")

    def test_missing_id_is_an_upstream_fault(self) -> None:
        with pytest.raises(UpstreamUnavailableError):
            parse_video({"status": "queued"})


class TestRetryArithmetic:
    """Header parsing and the SDK's wait rule."""

    def test_retry_after_ms_wins(self) -> None:
        assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25

    @pytest.mark.parametrize(("value", "expected"), [("3", 3.0), ("1.5", 1.5), ("-2", 0.0)])
    def test_retry_after_seconds(self, value: str, expected: float) -> None:
        assert parse_retry_after({"retry-after": value}) == expected

    def test_retry_after_http_date(self) -> None:
        when = email.utils.formatdate(1_000_030, usegmt=True)
        assert parse_retry_after({"retry-after": when}, now=1_000_000) == pytest.approx(30)

    @pytest.mark.parametrize("headers", [{}, {"retry-after": "soon"}, {"retry-after-ms": "x"}])
    def test_retry_after_absent_or_garbage(self, headers: dict[str, str]) -> None:
        assert parse_retry_after(headers) is None

    def test_wait_uses_server_value_up_to_60s(self) -> None:
        assert retry_wait(0, {"retry-after": "12"}) == 12
        assert retry_wait(0, {"retry-after": "0"}) == 0

    @pytest.mark.parametrize(
        ("retries_done", "rand", "expected"),
        [(0, 0.0, 0.5), (1, 0.0, 1.0), (2, 1.0, 1.5), (5, 0.0, 8.0), (9, 1.0, 6.0)],
    )
    def test_backoff(self, retries_done: int, rand: float, expected: float) -> None:
        assert retry_wait(retries_done, {}, rand) == pytest.approx(expected)

    def test_too_long_server_wait_falls_back_to_backoff(self) -> None:
        assert retry_wait(0, {"retry-after": "3600"}, 0.0) == pytest.approx(0.5)

    def test_connect_failure_classification(self, scripted: ScriptedServer) -> None:
        """Real exceptions: refused connection vs. a connection dropped after sending."""
        with pytest.raises(requests.ConnectionError) as refused:
            requests.get(f"http://127.0.0.1:{free_port()}/", timeout=1)
        assert _is_connect_failure(refused.value)
        assert _is_connect_failure(requests.exceptions.ConnectTimeout())
        scripted.script("/x", Reply(action="drop"))
        with pytest.raises(requests.ConnectionError) as dropped:
            requests.get(scripted.url + "/x", timeout=1)
        assert not _is_connect_failure(dropped.value)
        assert not _is_connect_failure(requests.exceptions.ReadTimeout())
        assert not _is_connect_failure(urllib3.exceptions.ProtocolError("x"))


class TestConstruction:
    """Configuration and representation."""

    def test_from_config(self) -> None:
        client = build_provider(
            {
                "OPENAI_API_KEY": KEY,
                "OPENAI_BASE_URL": "http://127.0.0.1:9/v1/",
                "PROVIDER_CONNECT_TIMEOUT": 1.5,
                "PROVIDER_READ_TIMEOUT": "7",
                "PROVIDER_MAX_RETRIES": 4,
                "PROVIDER_RETRY_DEADLINE": 12,
            }
        )
        assert isinstance(client, OpenAIVideosClient) and client.name == "openai-videos"
        assert client.base_url == "http://127.0.0.1:9/v1"
        assert (client.connect_timeout, client.read_timeout) == (1.5, 7.0)
        assert (client.max_retries, client.retry_deadline) == (4, 12.0)
        assert KEY not in repr(client) and KEY not in str(vars(client).get("_auth"))

    def test_missing_key_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError) as info:
            OpenAIVideosClient.from_config({"OPENAI_BASE_URL": "http://x/v1"})
        assert info.value.variable == "OPENAI_API_KEY"

    def test_bad_variant_and_empty_id(self) -> None:
        client = make_client("http://127.0.0.1:9/v1")
        with pytest.raises(ValueError):
            client.download("video_1", "poster")
        with pytest.raises(ValueError):
            client.retrieve("")


# --- scripted server: headers, redirects, odd bodies --------------------------------------------


class TestScripted:
    """Behaviour that needs replies the simulator cannot be told to send."""

    def test_headers_sent(self, scripted: ScriptedServer) -> None:
        scripted.script("/v1/videos", Reply(body=video_json()))
        job = make_client(scripted.url + "/v1").create("a dream", model="m", seconds="8", size="s")
        assert job.id == "video_abc" and job.status == PENDING
        request = scripted.seen[0]
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        assert request.headers["User-Agent"].startswith("dreamweb/")
        assert request.headers["Content-Type"] == "application/json"

    def test_a_create_refused_by_moderation_answers_content_policy(
        self, scripted: ScriptedServer
    ) -> None:
        """The provider's own refusal code says why: clients get ``content_policy``, and any
        other refusal of the input stays ``provider_rejected``."""
        blocked = error_json("Your request was blocked by our moderation system.", CONTENT_POLICY)
        scripted.script("/v1/videos", Reply(400, blocked), Reply(400, error_json("bad size")))
        client = make_client(scripted.url + "/v1")
        with pytest.raises(ContentPolicyError) as refused:
            client.create("a nightmare", model="m", seconds="4", size="s")
        assert (refused.value.status, refused.value.code) == (400, "content_policy")
        assert "content policy" in refused.value.public_message  # a fixed text, never upstream
        with pytest.raises(InputRejectedError) as other:
            client.create("a dream", model="m", seconds="4", size="s")
        assert other.value.code == "provider_rejected"

    def test_x_should_retry_false_stops_a_retryable_status(self, scripted: ScriptedServer) -> None:
        scripted.script("/v1/videos/v", Reply(500, error_json("x"), {"x-should-retry": "false"}))
        with pytest.raises(UpstreamUnavailableError):
            make_client(scripted.url + "/v1").retrieve("v")
        assert scripted.hits("/v1/videos/v") == 1

    def test_x_should_retry_true_retries_a_plain_status(self, scripted: ScriptedServer) -> None:
        scripted.script(
            "/v1/videos/v",
            Reply(400, error_json("try again"), {"x-should-retry": "true", "retry-after-ms": "10"}),
            Reply(body=video_json("v", "in_progress", progress=5)),
        )
        assert make_client(scripted.url + "/v1").retrieve("v").progress == 5
        assert scripted.hits("/v1/videos/v") == 2

    def test_x_should_retry_true_does_not_repeat_a_create(self, scripted: ScriptedServer) -> None:
        scripted.script(
            "/v1/videos", Reply(503, error_json("x"), {"x-should-retry": "true"}), Reply()
        )
        with pytest.raises(UpstreamUnavailableError):
            make_client(scripted.url + "/v1").create("a", model="m", seconds="4", size="s")
        assert scripted.hits("/v1/videos") == 1

    def test_create_not_retried_after_a_drop(self, scripted: ScriptedServer) -> None:
        """The request was sent, then the connection died: the job may exist. One attempt."""
        scripted.script("/v1/videos", Reply(action="drop"), Reply(body=video_json()))
        with pytest.raises(UpstreamUnavailableError):
            make_client(scripted.url + "/v1").create("a", model="m", seconds="4", size="s")
        assert scripted.hits("/v1/videos") == 1

    def test_retrieve_retried_after_a_drop(self, scripted: ScriptedServer) -> None:
        scripted.script("/v1/videos/v", Reply(action="drop"), Reply(body=video_json("v")))
        assert make_client(scripted.url + "/v1").retrieve("v").id == "v"
        assert scripted.hits("/v1/videos/v") == 2

    def test_create_retried_when_connection_refused(
        self, provider_logs: pytest.LogCaptureFixture
    ) -> None:
        """Nothing listens: the create surely never arrived, so it is retried (3 attempts)."""
        client = make_client(f"http://127.0.0.1:{free_port()}/v1", max_retries=2)
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailableError):
            client.create("a", model="m", seconds="4", size="s")
        attempts = [r.attempt for r in provider_logs.records if r.name == "dreamweb.provider"]
        assert attempts == [1, 2, 3]
        assert time.monotonic() - started < 4  # two backoffs of at most 0.5 s and 1 s

    def test_retry_after_http_date(self, scripted: ScriptedServer) -> None:
        soon = email.utils.formatdate(time.time() + 1, usegmt=True)
        scripted.script(
            "/v1/videos/v",
            Reply(429, error_json("Rate limit reached for requests"), {"retry-after": soon}),
            Reply(body=video_json("v")),
        )
        assert make_client(scripted.url + "/v1").retrieve("v").id == "v"
        assert scripted.hits("/v1/videos/v") == 2

    @pytest.mark.parametrize(
        ("status", "error_class"),
        [(400, InputRejectedError), (502, UpstreamUnavailableError), (403, AuthenticationError)],
    )
    def test_non_json_error_bodies(
        self, scripted: ScriptedServer, status: int, error_class: type[ProviderError]
    ) -> None:
        scripted.script(
            "/v1/videos/v",
            Reply(status, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"}),
        )
        with pytest.raises(error_class) as info:
            make_client(scripted.url + "/v1", max_retries=0).retrieve("v")
        assert info.value.public_message == error_class.default_message
        assert info.value.upstream_status == status

    def test_unreadable_success_body(self, scripted: ScriptedServer) -> None:
        scripted.script("/v1/videos/v", Reply(body=b"not json"))
        with pytest.raises(UpstreamUnavailableError):
            make_client(scripted.url + "/v1").retrieve("v")

    def test_upstream_message_never_echoes_the_key(self, scripted: ScriptedServer) -> None:
        scripted.script("/v1/videos/v", Reply(400, error_json(f"Bad key {KEY} in body")))
        with pytest.raises(InputRejectedError) as info:
            make_client(scripted.url + "/v1").retrieve("v")
        assert KEY not in str(info.value) and "[redacted]" in info.value.detail

    def test_a_download_redirected_out_of_the_providers_domain_is_refused(
        self, scripted: ScriptedServer
    ) -> None:
        """A 302 to another host family (here localhost from 127.0.0.1): nothing is sent there,
        neither the key nor a request at all, and the download fails instead of following."""
        elsewhere = ScriptedServer()
        try:
            elsewhere.script("/signed", Reply(body=b"V" * 1000))
            signed = f"http://localhost:{elsewhere.port}/signed?sig=abc"
            scripted.script("/v1/videos/v/content", Reply(302, b"", {"Location": signed}))
            with pytest.raises(UpstreamUnavailableError) as info:
                make_client(scripted.url + "/v1").download("v")
            assert "localhost" in info.value.detail
            assert scripted.seen[0].headers["Authorization"] == f"Bearer {KEY}"
            assert elsewhere.seen == []
        finally:
            elsewhere.close()

    def test_same_host_redirect_keeps_authorization(self, scripted: ScriptedServer) -> None:
        scripted.script("/v1/videos/v/content", Reply(302, b"", {"Location": "/files/v.mp4"}))
        scripted.script("/files/v.mp4", Reply(body=b"abc"))
        with make_client(scripted.url + "/v1").download("v") as stream:
            assert b"".join(stream) == b"abc"
        assert scripted.seen[1].headers["Authorization"] == f"Bearer {KEY}"

    def test_short_body_with_clean_close_is_truncated(self, scripted: ScriptedServer) -> None:
        """Content-Length says 2000, 1000 bytes arrive, then an orderly close."""
        scripted.script("/v1/videos/v/content", Reply(body=b"x" * 1000, action="short"))
        stream = make_client(scripted.url + "/v1").download("v")
        assert stream.content_length == 2000
        with pytest.raises(ContentTruncatedError), stream:
            for _ in stream:
                pass

    def test_short_body_caught_without_urllib3_enforcement(self, scripted: ScriptedServer) -> None:
        """The byte count catches a short body even where urllib3 does not (1.x behaviour)."""
        scripted.script("/short", Reply(body=b"x" * 1000, action="short"))
        with requests.get(scripted.url + "/short", stream=True, timeout=2) as response:
            response.raw.enforce_content_length = False
            chunks = verified_chunks(response, 2000)
            assert next(chunks) == b"x" * 1000  # urllib3 itself ends quietly here
            with pytest.raises(ContentTruncatedError, match="1000 of 2000"):
                next(chunks)


# --- against the simulator ----------------------------------------------------------------------

VALID = {"model": "sora-2", "seconds": "4", "size": "1280x720"}


def served_bytes(simulator: SimulatorHandle, video_id: str, variant: str = "video") -> bytes:
    """The content exactly as the simulator serves it, fetched without the client under test."""
    response = requests.get(
        f"{simulator.base_url}/videos/{video_id}/content",
        params={"variant": variant},
        headers={"Authorization": "Bearer reference"},
        timeout=5,
    )
    response.raise_for_status()
    return response.content


def completed_job(simulator: SimulatorHandle, client: OpenAIVideosClient) -> str:
    """Create a job and finish it at once; returns its id."""
    job = client.create("a quiet lake at dawn", **VALID)
    simulator.complete(job.id)
    return job.id


class TestOperations:
    """Every operation, happy path."""

    def test_create_then_retrieve_until_completed(self, simulator: SimulatorHandle) -> None:
        simulator.configure(render_seconds=3)  # a wide in_progress window, even on a busy box
        client = make_client(simulator.base_url)
        job = client.create("a quiet lake at dawn", **VALID)
        assert job.id.startswith("video_") and job.status == PENDING and job.progress == 0
        assert (job.model, job.seconds, job.size, job.raw_status) == (
            "sora-2",
            "4",
            "1280x720",
            "queued",
        )
        time.sleep(0.4)  # past the queued 10 % (0.3 s), well before the end
        running = client.retrieve(job.id)
        assert running.status == PROCESSING and 0 < running.progress < 100
        simulator.complete(job.id)
        done = client.retrieve(job.id)
        assert (done.status, done.progress) == (COMPLETED, 100)
        assert done.completed_at is not None and done.expires_at is not None
        assert simulator.counters()["create"] == 1

    def test_full_download_matches_and_is_chunked(self, simulator: SimulatorHandle) -> None:
        simulator.configure(video_bytes=3 * MIB + 12345)
        client = make_client(simulator.base_url)
        video_id = completed_job(simulator, client)
        with client.download(video_id) as stream:
            assert stream.content_length == 3 * MIB + 12345
            assert stream.content_type == "video/mp4"
            chunks = list(stream)
        assert len(chunks) > 1 and max(map(len, chunks)) <= min(CHUNK_SIZE, MIB)
        assert b"".join(chunks) == served_bytes(simulator, video_id)

    @pytest.mark.parametrize(
        ("variant", "content_type"), [("thumbnail", "image/webp"), ("spritesheet", "image/jpeg")]
    )
    def test_other_variants(
        self, simulator: SimulatorHandle, variant: str, content_type: str
    ) -> None:
        client = make_client(simulator.base_url)
        video_id = completed_job(simulator, client)
        with client.download(video_id, variant) as stream:
            body = b"".join(stream)
            assert stream.content_type == content_type
        assert body and body == served_bytes(simulator, video_id, variant)

    def test_delete(self, simulator: SimulatorHandle) -> None:
        client = make_client(simulator.base_url)
        job = client.create("a quiet lake at dawn", **VALID)
        assert client.delete(job.id) is None
        with pytest.raises(ProviderNotFoundError):
            client.retrieve(job.id)
        with pytest.raises(ProviderNotFoundError):
            client.delete(job.id)
        assert simulator.counters()["delete"] == 2  # 404 is final, not retried

    def test_moderation_failure(self, simulator: SimulatorHandle) -> None:
        client = make_client(simulator.base_url)
        job = client.create("a nightmare about teeth", **VALID)
        simulator.complete(job.id)
        failed = client.retrieve(job.id)
        assert (failed.status, failed.error_code) == (FAILED, "moderation_blocked")
        assert "moderation" in (failed.error_message or "")


class TestErrorMapping:
    """Each upstream failure becomes its typed error, with status and request id."""

    @pytest.mark.parametrize(
        ("field", "value"), [("seconds", "10"), ("size", "640x480"), ("model", "sora-9")]
    )
    def test_invalid_input(self, simulator: SimulatorHandle, field: str, value: str) -> None:
        with pytest.raises(InputRejectedError) as info:
            make_client(simulator.base_url).create("a lake", **(VALID | {field: value}))
        assert value in info.value.detail and info.value.upstream_status == 400
        assert info.value.public_message == InputRejectedError.default_message
        assert info.value.request_id.startswith("req_")
        assert simulator.counters()["create"] == 1

    def test_unknown_video(self, simulator: SimulatorHandle) -> None:
        with pytest.raises(ProviderNotFoundError) as info:
            make_client(simulator.base_url).retrieve("video_" + "0" * 48)
        assert info.value.upstream_status == 404 and simulator.counters()["retrieve"] == 1

    def test_bad_key(self, simulator: SimulatorHandle) -> None:
        simulator.inject("retrieve", "401")
        with pytest.raises(AuthenticationError) as info:
            make_client(simulator.base_url).retrieve("video_x")
        assert info.value.upstream_status == 401 and simulator.counters()["retrieve"] == 1
        assert KEY not in str(info.value) and KEY not in repr(info.value)

    @pytest.mark.parametrize("route", ["create", "retrieve"])
    def test_quota_is_final(self, simulator: SimulatorHandle, route: str) -> None:
        simulator.inject(route, "quota", count=5)
        client = make_client(simulator.base_url)
        with pytest.raises(QuotaExhaustedError) as info:
            if route == "create":
                client.create("a lake", **VALID)
            else:
                client.retrieve("video_x")
        assert info.value.upstream_status == 429 and simulator.counters()[route] == 1

    def test_content_not_ready_and_expired(self, simulator: SimulatorHandle) -> None:
        client = make_client(simulator.base_url)
        job = client.create("a lake", **VALID)
        with pytest.raises(InputRejectedError, match="not ready"):
            client.download(job.id)
        simulator.expire(job.id)
        with pytest.raises(ProviderNotFoundError):
            client.download(job.id)
        assert simulator.counters()["content"] == 2


class TestRetries:
    """The retry loop, proven by the simulator's call counters."""

    def test_rate_limit_then_success(self, simulator: SimulatorHandle) -> None:
        simulator.inject("retrieve", "429", count=2, retry_after=0.1)
        client = make_client(simulator.base_url)
        job = client.create("a lake", **VALID)
        started = time.monotonic()
        assert client.retrieve(job.id).id == job.id
        assert time.monotonic() - started >= 0.2  # waited retry-after twice
        assert simulator.counters()["retrieve"] == 3

    def test_rate_limit_outlasting_retries(self, simulator: SimulatorHandle) -> None:
        simulator.inject("retrieve", "429", count=5, retry_after=0.05)
        with pytest.raises(RateLimitedError) as info:
            make_client(simulator.base_url).retrieve("video_x")
        assert info.value.retry_after == pytest.approx(0.05)
        assert simulator.counters()["retrieve"] == 3  # 1 + PROVIDER_MAX_RETRIES (2)

    def test_max_retries_zero(self, simulator: SimulatorHandle) -> None:
        simulator.inject("retrieve", "429", count=5, retry_after=0.05)
        with pytest.raises(RateLimitedError):
            make_client(simulator.base_url, max_retries=0).retrieve("video_x")
        assert simulator.counters()["retrieve"] == 1

    def test_create_retried_on_rate_limit(self, simulator: SimulatorHandle) -> None:
        """A 429 proves the create was refused, so repeating it cannot double-bill."""
        simulator.inject("create", "429", count=1, retry_after=0.05)
        job = make_client(simulator.base_url).create("a lake", **VALID)
        assert simulator.counters()["create"] == 2
        assert simulator.video(job.id)["status"] in ("queued", "in_progress")

    def test_create_not_retried_on_server_error(self, simulator: SimulatorHandle) -> None:
        simulator.inject("create", "500", count=3)
        with pytest.raises(UpstreamUnavailableError) as info:
            make_client(simulator.base_url).create("a lake", **VALID)
        assert info.value.upstream_status == 500
        assert simulator.counters()["create"] == 1

    def test_create_not_retried_on_read_timeout(self, simulator: SimulatorHandle) -> None:
        """The server got the create and is slow: a retry could start a second paid job."""
        simulator.inject("create", "hang", count=3, hang_seconds=2.0)
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailableError, match="may still have been started"):
            make_client(simulator.base_url, read_timeout=0.3).create("a lake", **VALID)
        assert time.monotonic() - started < 1.5  # gave up after one timeout, no second try
        assert simulator.counters()["create"] == 1

    @pytest.mark.parametrize("fault", ["drop", "truncate"])
    def test_create_not_retried_when_answer_cut(
        self, simulator: SimulatorHandle, fault: str
    ) -> None:
        simulator.inject("create", fault, count=3, after_bytes=10)
        with pytest.raises(UpstreamUnavailableError):
            make_client(simulator.base_url).create("a lake", **VALID)
        assert simulator.counters()["create"] == 1

    def test_retrieve_retried_on_server_error(self, simulator: SimulatorHandle) -> None:
        client = make_client(simulator.base_url)
        job = client.create("a lake", **VALID)
        simulator.inject("retrieve", "500", count=1)
        assert client.retrieve(job.id).id == job.id
        assert simulator.counters()["retrieve"] == 2

    def test_server_errors_outlasting_retries(self, simulator: SimulatorHandle) -> None:
        simulator.inject("retrieve", "500", count=5)
        with pytest.raises(UpstreamUnavailableError):
            make_client(simulator.base_url, max_retries=1).retrieve("video_x")
        assert simulator.counters()["retrieve"] == 2

    def test_retrieve_retried_on_read_timeout(self, simulator: SimulatorHandle) -> None:
        client = make_client(simulator.base_url, read_timeout=0.3)
        job = client.create("a lake", **VALID)
        simulator.inject("retrieve", "hang", count=1, hang_seconds=1.0)
        assert client.retrieve(job.id).id == job.id
        assert simulator.counters()["retrieve"] == 2

    def test_deadline_refuses_a_wait_past_it(self, simulator: SimulatorHandle) -> None:
        """retry-after 2 s, deadline 0.5 s: give up at once instead of sleeping."""
        simulator.inject("retrieve", "429", count=3, retry_after=2)
        started = time.monotonic()
        with pytest.raises(RateLimitedError) as info:
            make_client(simulator.base_url, retry_deadline=0.5).retrieve("video_x")
        assert time.monotonic() - started < 0.4
        assert info.value.retry_after == 2 and simulator.counters()["retrieve"] == 1

    def test_deadline_bounds_slow_attempts(self, simulator: SimulatorHandle) -> None:
        """Attempt timeouts shrink to the time left, so hangs cannot stretch the call."""
        simulator.inject("retrieve", "hang", count=5, hang_seconds=3)
        client = make_client(simulator.base_url, read_timeout=5, retry_deadline=0.8)
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailableError):
            client.retrieve("video_x")
        assert time.monotonic() - started < 1.3
        assert simulator.counters()["retrieve"] == 1

    def test_download_setup_retried(self, simulator: SimulatorHandle) -> None:
        client = make_client(simulator.base_url)
        video_id = completed_job(simulator, client)
        simulator.inject("content", "429", count=1, retry_after=0.05)
        with client.download(video_id) as stream:
            assert b"".join(stream) == served_bytes(simulator, video_id)
        assert simulator.counters()["content"] == 3  # 429, success, reference fetch


class TestCutDownloads:
    """A body that stops early raises; it never looks like a finished (short) video."""

    @pytest.mark.parametrize("fault", ["truncate", "drop"])
    @pytest.mark.parametrize("after_bytes", [0, 300_000])
    def test_cut_body_raises(
        self, simulator: SimulatorHandle, fault: str, after_bytes: int
    ) -> None:
        simulator.configure(video_bytes=2 * MIB)
        client = make_client(simulator.base_url)
        video_id = completed_job(simulator, client)
        simulator.inject("content", fault, after_bytes=after_bytes)
        received = 0
        with pytest.raises(ContentTruncatedError) as info, client.download(video_id) as stream:
            assert stream.content_length == 2 * MIB
            for chunk in stream:
                received += len(chunk)
        # urllib3 discards the partial read that hit the reset/EOF, so <= rather than ==.
        assert received <= after_bytes
        assert info.value.upstream_status == 200
        # Not retried by the client: starting over is the ingest layer's decision.
        assert simulator.counters()["content"] == 1


class TestSecrecyAndLogs:
    """The key appears nowhere; every upstream call leaves a structured line."""

    def test_log_fields(
        self, simulator: SimulatorHandle, provider_logs: pytest.LogCaptureFixture
    ) -> None:
        simulator.inject("create", "429", count=1, retry_after=0.05)
        make_client(simulator.base_url).create("a lake", **VALID)
        retry, success = [r for r in provider_logs.records if r.name == "dreamweb.provider"]
        assert (retry.levelno, retry.status, retry.attempt) == (logging.WARNING, 429, 1)
        assert (success.levelno, success.status, success.attempt) == (logging.INFO, 200, 2)
        assert (success.method, success.path, success.op) == ("POST", "/videos", "create")
        assert success.upstream_request_id.startswith("req_")
        assert isinstance(success.duration_ms, float)

    def test_key_never_in_logs_or_errors(
        self, simulator: SimulatorHandle, provider_logs: pytest.LogCaptureFixture
    ) -> None:
        client = make_client(simulator.base_url, max_retries=1)
        errors: list[BaseException] = []
        simulator.inject("retrieve", "401")
        simulator.inject("create", "quota")
        simulator.inject("content", "truncate", after_bytes=100)
        actions = [
            lambda: client.retrieve("video_x"),
            lambda: client.create("a lake", **VALID),
            lambda: client.create("a lake", **(VALID | {"seconds": "7"})),
            lambda: list(client.download(completed_job(simulator, client))),
            lambda: make_client(f"http://127.0.0.1:{free_port()}/v1", max_retries=0).retrieve("v"),
        ]
        for action in actions:
            with pytest.raises(ProviderError) as info:
                action()
            errors.append(info.value)
        assert len({type(error) for error in errors}) == 5
        for error in errors:
            assert KEY not in f"{error!s} {error!r} {error.public_message} {error.args}"
        # The root capture holds urllib3's DEBUG lines too (caplog is at DEBUG): check them all.
        assert {"dreamweb.provider", "urllib3.connectionpool"} <= {
            record.name for record in provider_logs.records
        }
        for record in provider_logs.records:
            assert KEY not in provider_logs.handler.format(record)
            assert KEY not in repr(vars(record))
        assert KEY not in provider_logs.text
        assert KEY not in repr(client)


@pytest.mark.parametrize(
    ("origin", "target", "allowed"),
    [
        ("api.openai.com", "api.openai.com", True),
        ("api.openai.com", "cdn.openai.com", True),
        ("api.openai.com", "openai.com", True),
        ("api.openai.com", "files.eu.openai.com", True),
        ("api.openai.com", "openai.com.evil.example", False),
        ("api.openai.com", "evilopenai.com", False),
        ("openrouter.ai", "files.openrouter.ai", True),
        ("openrouter.ai", "example.ai", False),
        ("storage.googleapis.com", "storage.googleapis.com", True),
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "localhost", False),
        ("127.0.0.1", "169.254.169.254", False),
        ("api.openai.com", "169.254.169.254", False),
    ],
)
def test_download_redirects_stay_in_the_providers_host_family(origin, target, allowed):
    assert in_host_family(origin, target) is allowed
