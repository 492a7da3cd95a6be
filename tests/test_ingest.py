"""Exactly-once ingest: the simulator over HTTP as the provider, real stores as the target."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from dreamweb.errors import ContentTruncatedError
from dreamweb.providers.openai_videos import OpenAIVideosClient
from dreamweb.storage.ingest import IngestOutcome, acquire_lease, ingest_video
from dreamweb.storage.layout import lease_key, thumbnail_key, video_key
from dreamweb.storage.local import LocalVideoStore
from tests.concurrency import run_at_once

JOB_ID = "video_ingestTest01"


@pytest.fixture
def provider(simulator):
    """The project's client pointed at the simulator, with quick retries."""
    return OpenAIVideosClient.from_config(
        {
            "OPENAI_API_KEY": "sim-key",
            "OPENAI_BASE_URL": simulator.base_url,
            "PROVIDER_CONNECT_TIMEOUT": 2,
            "PROVIDER_READ_TIMEOUT": 2,
            "PROVIDER_MAX_RETRIES": 1,
            "PROVIDER_RETRY_DEADLINE": 5,
        }
    )


@pytest.fixture(params=["local", "gcs"])
def store(request, tmp_path):
    """Both adapters: local disk and the GCS emulator."""
    if request.param == "local":
        return LocalVideoStore(tmp_path / "store")
    return request.getfixturevalue("gcs_store")


def finished_job(simulator, provider, prompt="a dream of a lighthouse in fog") -> str:
    """A provider job the simulator has completed; returns its provider id."""
    job = provider.create(prompt, model="sora-2", seconds="4", size="1280x720")
    simulator.complete(job.id)
    return job.id


def served_bytes(provider, provider_job_id: str) -> bytes:
    with provider.download(provider_job_id) as content:
        return b"".join(content)


def ingest(store, provider, provider_job_id, **options):
    return ingest_video(store, provider, job_id=JOB_ID, provider_job_id=provider_job_id, **options)


def test_ingest_stores_video_and_thumbnail_byte_exact(simulator, provider, store):
    provider_job_id = finished_job(simulator, provider)
    expected = served_bytes(provider, provider_job_id)
    result = ingest(store, provider, provider_job_id)
    assert result.outcome is IngestOutcome.STORED
    assert result.video_bytes == len(expected)
    assert result.thumbnail is True
    assert b"".join(store.open_range(video_key(JOB_ID))) == expected
    assert store.stat(video_key(JOB_ID)).content_type == "video/mp4"
    assert store.exists(thumbnail_key(JOB_ID))
    assert not store.exists(lease_key(JOB_ID)), "the lease is released after the copy"


def test_second_ingest_does_not_download_again(simulator, provider, store):
    provider_job_id = finished_job(simulator, provider)
    ingest(store, provider, provider_job_id)
    before = simulator.counters()["content"]
    assert ingest(store, provider, provider_job_id).outcome is IngestOutcome.ALREADY_STORED
    assert simulator.counters()["content"] == before


def test_dropped_connection_is_retried_then_bytes_are_exact(simulator, provider, store):
    simulator.configure(video_bytes=3 * 1024 * 1024)
    provider_job_id = finished_job(simulator, provider)
    expected = served_bytes(provider, provider_job_id)
    simulator.inject("content", "drop", count=1, after_bytes=512 * 1024)
    result = ingest(store, provider, provider_job_id)
    assert result.outcome is IngestOutcome.STORED
    assert b"".join(store.open_range(video_key(JOB_ID))) == expected


def test_truncated_content_is_rejected_and_nothing_is_stored(simulator, provider, store):
    provider_job_id = finished_job(simulator, provider)
    simulator.inject("content", "truncate", count=10, after_bytes=1000)
    with pytest.raises(ContentTruncatedError):
        ingest(store, provider, provider_job_id, attempts=2)
    assert not store.exists(video_key(JOB_ID))
    assert not list(store.list("videos/"))
    assert not store.exists(lease_key(JOB_ID)), "a failed copy frees the lease for the next try"


def test_concurrent_ingests_download_once(simulator, provider, store):
    simulator.configure(video_bytes=4 * 1024 * 1024)
    provider_job_id = finished_job(simulator, provider)
    before = simulator.counters()["content"]
    outcomes: list[IngestOutcome] = []
    run_at_once(lambda: outcomes.append(ingest(store, provider, provider_job_id).outcome), 4)
    assert outcomes.count(IngestOutcome.STORED) == 1
    assert set(outcomes) <= {
        IngestOutcome.STORED,
        IngestOutcome.IN_PROGRESS,
        IngestOutcome.ALREADY_STORED,
    }
    # One video download and one thumbnail download, whoever won.
    assert simulator.counters()["content"] - before == 2


def test_live_lease_means_in_progress_without_downloading(simulator, provider, store):
    provider_job_id = finished_job(simulator, provider)
    assert acquire_lease(store, JOB_ID, seconds=60) is not None
    before = simulator.counters()["content"]
    assert ingest(store, provider, provider_job_id).outcome is IngestOutcome.IN_PROGRESS
    assert simulator.counters()["content"] == before


def test_expired_lease_of_a_dead_process_is_taken_over(simulator, provider, store):
    provider_job_id = finished_job(simulator, provider)
    now = time.time()
    dead = acquire_lease(store, JOB_ID, seconds=30, clock=lambda: now - 60)
    assert dead is not None, "a lease that expired 30 s ago"
    assert ingest(store, provider, provider_job_id).outcome is IngestOutcome.STORED
    assert store.exists(video_key(JOB_ID))


def test_a_late_release_never_drops_the_lease_of_whoever_took_over(store):
    now = time.time()
    stale = acquire_lease(store, JOB_ID, seconds=1, clock=lambda: now - 10)
    successor = acquire_lease(store, JOB_ID, seconds=60)
    assert stale is not None and successor is not None
    stale.release()  # the slow first owner finally gives up
    assert store.get_record(lease_key(JOB_ID)).data["owner"] == successor.owner
    successor.release()
    assert not store.exists(lease_key(JOB_ID))


def test_only_one_of_several_concurrent_takeovers_wins(store):
    now = time.time()
    assert acquire_lease(store, JOB_ID, seconds=1, clock=lambda: now - 10) is not None
    winners: list[object] = []

    def take_over() -> None:
        if acquire_lease(store, JOB_ID, seconds=60) is not None:
            winners.append(True)

    run_at_once(take_over, 6)
    assert winners == [True]


def test_content_past_expiry_is_reported_expired(simulator, provider, store):
    provider_job_id = finished_job(simulator, provider)
    assert ingest(store, provider, provider_job_id, expires_at=time.time() - 1).outcome is (
        IngestOutcome.EXPIRED
    )
    simulator.expire(provider_job_id)
    assert ingest(store, provider, provider_job_id).outcome is IngestOutcome.EXPIRED
    assert not store.exists(video_key(JOB_ID))


# --- the thumbnail's stored type ----------------------------------------------------------------


class GatewayContent:
    """A loopback stand-in for a Videos API gateway that answers only the content route, with
    the thumbnail's ``Content-Type`` chosen by the test (the simulator always sends WebP)."""

    VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(1000)
    THUMBNAIL = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"

    def __init__(self) -> None:
        self.thumbnail_type: str | None = "image/webp"
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                variant = parse_qs(url.query).get("variant", ["video"])[0]
                if not url.path.endswith("/content") or variant not in {"video", "thumbnail"}:
                    self.send_error(404)
                    return
                video = variant == "video"
                body = gateway.VIDEO if video else gateway.THUMBNAIL
                content_type = "video/mp4" if video else gateway.thumbnail_type
                self.send_response(200)
                if content_type is not None:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,))
        self._thread.start()

    def close(self) -> None:
        """Stop serving and join the server thread."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def gateway() -> Iterator[GatewayContent]:
    """A fresh loopback gateway for one test."""
    server = GatewayContent()
    yield server
    server.close()


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("text/html; charset=utf-8", "image/webp"),
        ("image/svg+xml", "image/webp"),
        ("application/xhtml+xml", "image/webp"),
        ("application/octet-stream", "image/webp"),
        ("text/plain", "image/webp"),
        (None, "image/webp"),
        ("image/png", "image/png"),
        ("IMAGE/JPEG; foo=bar", "image/jpeg"),
        ("image/webp", "image/webp"),
    ],
)
def test_thumbnail_is_stored_only_as_a_raster_image_type(gateway, tmp_path, sent, stored):
    """The thumbnail is served inline from our origin: a gateway's text/html or SVG must never
    make it active content there."""
    gateway.thumbnail_type = sent
    provider = OpenAIVideosClient(
        base_url=gateway.url,
        api_key="gateway-key",
        connect_timeout=1.0,
        read_timeout=2.0,
        max_retries=0,
        retry_deadline=2.0,
    )
    store = LocalVideoStore(tmp_path / "store")
    try:
        result = ingest(store, provider, "video_gatewayJob1")
    finally:
        provider.close()
    assert (result.outcome, result.thumbnail) == (IngestOutcome.STORED, True)
    thumbnail = store.stat(thumbnail_key(JOB_ID))
    assert thumbnail.content_type == stored
    assert b"".join(store.open_range(thumbnail_key(JOB_ID))) == GatewayContent.THUMBNAIL
