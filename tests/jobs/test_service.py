"""``JobService`` (``dreamweb.jobs.service``) against the simulator and a local store."""

from __future__ import annotations

import pytest

from dreamweb.errors import (
    InputRejectedError,
    NotFoundError,
    RateLimitedError,
)
from dreamweb.jobs import (
    FailureCode,
    JobService,
)
from dreamweb.storage import layout
from tests.concurrency import run_at_once
from tests.jobs.conftest import PROMPT, create, unsaved_job


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


def test_abandoned_submit_fails_after_a_grace_period(jobs, store, clock):
    job = unsaved_job(clock)
    store.put_record(layout.job_key(job.id), job.to_record(), generation=None)
    store.put_record(layout.active_key(job.id), {"id": job.id}, generation=None)
    assert jobs.refresh(job.id).status == "pending"
    clock.now += 600
    failed = jobs.refresh(job.id)
    assert failed.status == "failed" and failed.error == FailureCode.SUBMIT_FAILED.text


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
