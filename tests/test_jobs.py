"""Job lifecycle against the simulator (real HTTP) and a local store."""

from __future__ import annotations

import time

import pytest

from dreamweb.config import load_settings
from dreamweb.errors import (
    ConflictError,
    InputRejectedError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from dreamweb.jobs import FAILURE_TEXT, IDEMPOTENCY_TTL, Job, JobService, failure_text, new_job_id
from dreamweb.providers.openai_videos import OpenAIVideosClient
from dreamweb.storage import layout
from dreamweb.storage.layout import is_job_id
from dreamweb.storage.local import LocalVideoStore
from tests.concurrency import run_at_once

PROMPT = "a dream of flying over mountains at sunset"


class Clock:
    """A clock the test moves by hand (time is an input here, not a peer)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def config(simulator):
    return load_settings(
        {
            "DREAMWEB_ENV": "development",
            "OPENAI_API_KEY": "sim-key",
            "OPENAI_BASE_URL": simulator.base_url,
            "STATUS_TTL_SECONDS": "5",
            "PROVIDER_MAX_RETRIES": "0",
            "PROVIDER_READ_TIMEOUT": "3",
        }
    )


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path):
    return LocalVideoStore(tmp_path / "store")


@pytest.fixture
def jobs(store, config, clock):
    provider = OpenAIVideosClient.from_config(config)
    return JobService(store, provider, config, clock=clock)


def create(jobs: JobService, prompt: str = PROMPT, **options) -> Job:
    job, replayed = jobs.create(prompt, seconds="4", size="1280x720", **options)
    assert replayed is False
    return job


def test_new_job_ids_have_the_seed_format():
    ids = {new_job_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(is_job_id(i) and 10 <= len(i) <= 50 for i in ids)


def test_create_keeps_both_prompts_and_maps_to_the_provider_id(jobs, store, simulator):
    job = create(jobs)
    assert job.status == "pending" and job.stage == "queued"
    assert job.provider_job_id and job.provider_job_id != job.id
    assert job.prompt == PROMPT
    assert PROMPT in job.enhanced_prompt and "cinematic dream sequence" in job.enhanced_prompt
    stored = store.get_record(layout.job_key(job.id)).data
    assert stored["provider_job_id"] == job.provider_job_id
    assert stored["model"] == "sora-2" and stored["seconds"] == "4"
    assert store.exists(layout.active_key(job.id))
    assert simulator.video(job.provider_job_id)["prompt"] == job.enhanced_prompt


def test_rejected_input_leaves_no_record(jobs, store, config):
    service = JobService(store, jobs.provider, {**config, "VIDEO_MODEL": "no-such-model"})
    with pytest.raises(InputRejectedError):
        service.create(PROMPT, seconds="4", size="1280x720")
    assert list(store.list("jobs/")) == []


def test_refresh_calls_upstream_once_per_ttl_window(jobs, simulator, clock):
    job = create(jobs)
    before = simulator.counters()["retrieve"]
    jobs.refresh(job.id)
    assert simulator.counters()["retrieve"] == before, "creation counts as the first check"
    clock.now += 5
    for _ in range(10):
        jobs.refresh(job.id)
    assert simulator.counters()["retrieve"] - before == 1
    clock.now += 5
    jobs.refresh(job.id)
    assert simulator.counters()["retrieve"] - before == 2


def test_twenty_concurrent_pollers_share_one_upstream_check(jobs, simulator, clock):
    job = create(jobs)
    clock.now += 5
    before = simulator.counters()["retrieve"]
    run_at_once(lambda: jobs.refresh(job.id), 20)
    assert simulator.counters()["retrieve"] - before == 1


def test_progress_then_storing_then_completed(jobs, simulator, store, clock):
    simulator.configure(render_seconds=1.0)
    spawned: list[str] = []
    service = JobService(
        store, jobs.provider, jobs.config, clock=clock, spawn=lambda key, task: spawned.append(key)
    )
    job = create(service)
    simulator.complete(job.provider_job_id)
    clock.now += 10
    job = service.refresh(job.id)
    assert (job.status, job.stage, job.progress) == ("processing", "storing", 100)
    assert spawned == [job.id], "the download is handed to the background, never awaited"
    job = service.ingest(job.id)
    assert job.status == "completed" and job.completed_at is not None
    assert job.video_bytes == store.stat(layout.video_key(job.id)).size
    assert not store.exists(layout.active_key(job.id))


def test_finished_job_never_calls_the_provider_again(jobs, simulator, clock):
    job = create(jobs)
    simulator.complete(job.provider_job_id)
    clock.now += 10
    # With the sweeper's inline spawn the copy-in happens within the refresh.
    assert jobs.refresh(job.id).status == "completed"
    before = simulator.counters()
    for _ in range(3):
        clock.now += 60
        assert jobs.refresh(job.id).status == "completed"
    assert simulator.counters() == before


def test_moderation_failure_has_human_text(jobs, simulator, clock):
    job = create(jobs, "a nightmare about falling forever")
    simulator.complete(job.provider_job_id)
    clock.now += 10
    job = jobs.refresh(job.id)
    assert job.status == "failed"
    assert job.error == "Video generation failed: content policy violation"
    assert job.error_code == "moderation_blocked"


def test_rate_limited_refresh_keeps_the_last_good_state(jobs, simulator, clock):
    job = create(jobs)
    simulator.inject("retrieve", "429", count=5, retry_after=2)
    clock.now += 10
    with pytest.raises(RateLimitedError) as caught:
        jobs.refresh(job.id)
    assert caught.value.retry_after == pytest.approx(2, abs=1)
    kept = jobs.get(job.id)
    assert (kept.status, kept.provider_job_id) == ("pending", job.provider_job_id)


def test_unknown_job_is_not_found_without_calling_upstream(jobs, simulator):
    with pytest.raises(NotFoundError):
        jobs.refresh("video_neverCreated1")
    assert sum(simulator.counters().values()) == 0


def test_idempotency_key_replays_the_first_job(jobs, simulator, clock):
    first = create(jobs, idempotency_key="key-1")
    again, replayed = jobs.create(PROMPT, seconds="4", size="1280x720", idempotency_key="key-1")
    assert replayed is True and again.id == first.id
    assert simulator.counters()["create"] == 1
    with pytest.raises(ValidationError, match="different request"):
        jobs.create("another dream entirely", seconds="4", size="1280x720", idempotency_key="key-1")
    clock.now += IDEMPOTENCY_TTL + 1
    later, replayed = jobs.create(PROMPT, seconds="4", size="1280x720", idempotency_key="key-1")
    assert replayed is False and later.id != first.id


def test_concurrent_creates_with_one_key_start_one_generation(jobs, simulator):
    ids: list[str] = []
    conflicts: list[ConflictError] = []

    def post() -> None:
        try:
            job, _ = jobs.create(PROMPT, seconds="4", size="1280x720", idempotency_key="same")
        except ConflictError as error:  # the first one is still talking to the provider
            conflicts.append(error)
        else:
            ids.append(job.id)

    run_at_once(post, 5)
    assert len(ids) + len(conflicts) == 5 and len(set(ids)) == 1
    assert all(error.status == 409 and error.retry_after for error in conflicts)
    assert simulator.counters()["create"] == 1


def test_sweep_finishes_jobs_nobody_polls(jobs, simulator, store, clock):
    done = create(jobs)
    failing = create(jobs, "a nightmare in a hall of mirrors")
    running = create(jobs, "a slow dream of drifting clouds")
    for job in (done, failing):
        simulator.complete(job.provider_job_id)
    clock.now += 10
    report = jobs.sweep()
    assert (report.examined, report.stored, report.failed, report.errors) == (3, 1, 1, 0)
    assert jobs.get(done.id).status == "completed"
    assert store.exists(layout.video_key(done.id))
    assert jobs.get(failing.id).status == "failed"
    assert jobs.get(running.id).status in {"pending", "processing"}
    assert sorted(jobs.active_job_ids()) == [running.id]


def test_abandoned_submit_fails_after_a_grace_period(jobs, store, clock):
    job = Job(
        id=new_job_id(),
        provider="x",
        prompt=PROMPT,
        enhanced_prompt=PROMPT,
        model="sora-2",
        seconds="4",
        size="1280x720",
        created_at=clock.now,
    )
    store.put_record(layout.job_key(job.id), job.to_record(), generation=None)
    store.put_record(layout.active_key(job.id), {"id": job.id}, generation=None)
    assert jobs.refresh(job.id).status == "pending"
    clock.now += 600
    failed = jobs.refresh(job.id)
    assert failed.status == "failed" and failed.error == FAILURE_TEXT["submit_failed"]


def test_delete_removes_everything(jobs, simulator, store, clock):
    job = create(jobs)
    simulator.complete(job.provider_job_id)
    clock.now += 10
    jobs.refresh(job.id)
    assert store.exists(layout.video_key(job.id))
    jobs.delete(job.id)
    for key in (layout.video_key(job.id), layout.thumbnail_key(job.id), layout.job_key(job.id)):
        assert not store.exists(key)
    assert simulator.counters()["delete"] == 1
    with pytest.raises(NotFoundError):
        jobs.get(job.id)


def test_failure_text_for_unknown_codes_is_fixed_and_the_provider_message_only_logged(caplog):
    with caplog.at_level("INFO", logger="dreamweb"):
        text = failure_text("weird_code", "The render farm caught fire")
    assert text == failure_text(None) == "Video generation failed at the provider"
    logged = [getattr(record, "upstream_message", None) for record in caplog.records]
    assert "The render farm caught fire" in logged


def test_a_stale_cached_record_never_overwrites_a_newer_one(store, config, clock, simulator):
    from dreamweb.jobs import RecordCache

    simulator.configure(render_seconds=10)  # queued for the first second, then rendering
    provider = OpenAIVideosClient.from_config(config)
    process_a = JobService(store, provider, config, clock=clock, cache=RecordCache(max_age=100))
    process_b = JobService(store, provider, config, clock=clock)
    job = create(process_a)
    assert process_a.get(job.id).checked_at == clock.now  # cached in A as just checked
    clock.now += 10
    time.sleep(1.2)
    advanced = process_b.refresh(job.id)  # B checks upstream and writes a newer record
    assert advanced.status == "processing" and advanced.checked_at == clock.now
    calls = simulator.counters()["retrieve"]
    seen_by_a = process_a.refresh(job.id)  # A's copy says "due": its claim must lose
    assert simulator.counters()["retrieve"] == calls, "the stale copy caused no upstream call"
    assert seen_by_a == advanced
    stored = Job.from_record(store.get_record(layout.job_key(job.id)).data)
    assert stored == advanced


def test_cached_reads_skip_the_store(store, config, clock, simulator):
    from dreamweb.jobs import RecordCache

    service = JobService(
        store,
        OpenAIVideosClient.from_config(config),
        config,
        clock=clock,
        cache=RecordCache(max_age=1),
    )
    job = create(service)
    store.delete(layout.job_key(job.id))  # behind the cache's back
    assert service.get(job.id).id == job.id, "served from the cache"
    clock.now += 1
    with pytest.raises(NotFoundError):
        service.get(job.id)


def test_failing_copy_ins_back_off_and_finally_fail_the_job(jobs, simulator, clock):
    from dreamweb.jobs import INGEST_MAX_FAILURES

    job = create(jobs)
    simulator.complete(job.provider_job_id)
    simulator.inject("content", "truncate", count=10_000, after_bytes=10)
    clock.now += 10
    job = jobs.refresh(job.id)  # provider says completed -> inline copy-in fails
    assert (job.stage, job.ingest_failures) == ("storing", 1)
    downloads = simulator.counters()["content"]
    for _ in range(5):
        jobs.refresh(job.id)
    assert simulator.counters()["content"] == downloads, "no new copy-in inside the backoff"
    for _ in range(INGEST_MAX_FAILURES):
        clock.now += 301
        job = jobs.refresh(job.id)
    assert job.status == "failed"
    assert job.error == FAILURE_TEXT["store_failed"]
    assert list(jobs.active_job_ids()) == []
