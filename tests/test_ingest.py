"""Exactly-once ingest: the simulator over HTTP as the provider, real stores as the target."""

from __future__ import annotations

import time

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


def test_only_one_of_two_takeovers_wins(store):
    now = time.time()
    assert acquire_lease(store, JOB_ID, seconds=1, clock=lambda: now - 10) is not None
    first = acquire_lease(store, JOB_ID, seconds=60)
    second = acquire_lease(store, JOB_ID, seconds=60)
    assert first is not None
    assert second is None


def test_content_past_expiry_is_reported_expired(simulator, provider, store):
    provider_job_id = finished_job(simulator, provider)
    assert ingest(store, provider, provider_job_id, expires_at=time.time() - 1).outcome is (
        IngestOutcome.EXPIRED
    )
    simulator.expire(provider_job_id)
    assert ingest(store, provider, provider_job_id).outcome is IngestOutcome.EXPIRED
    assert not store.exists(video_key(JOB_ID))
