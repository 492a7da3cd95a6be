"""``JobService`` (``dreamweb.jobs.service``) against the simulator and a local store."""

from __future__ import annotations

import time

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
from dreamweb.services import BackgroundTasks
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


def test_a_poll_answers_from_the_record_and_hands_the_check_to_the_background(
    jobs, simulator, store, clock
):
    spawned: list = []
    service = JobService(
        store, jobs.provider, jobs.config, clock=clock, spawn=lambda key, task: spawned.append(task)
    )
    job = create(service)
    simulator.complete(job.provider_job_id)
    clock.now += 10
    before = simulator.counters()
    polled = service.status(job.id)
    assert (polled.status, polled.stage) == ("pending", "queued"), "the stored state, at once"
    assert simulator.counters() == before, "the poll itself never calls the provider"
    assert len(spawned) == 1
    spawned.pop()()  # the background task: checks upstream, then copies the video in
    assert simulator.counters()["retrieve"] == before["retrieve"] + 1
    done = service.status(job.id)
    assert done.status == "completed" and done.completed_at is not None
    assert done.video_bytes == store.stat(layout.video_key(job.id)).size
    assert not store.exists(layout.active_key(job.id))
    assert spawned == [], "a finished job has nothing left to check"


def test_a_poll_inside_the_ttl_window_starts_nothing(jobs, store, clock):
    spawned: list = []
    service = JobService(
        store, jobs.provider, jobs.config, clock=clock, spawn=lambda key, task: spawned.append(key)
    )
    job = create(service)
    clock.now += 4
    service.status(job.id)
    assert spawned == []
    clock.now += 1
    service.status(job.id)
    assert spawned == [job.id]


def test_twenty_concurrent_polls_cost_one_upstream_get_per_window_in_the_background(
    jobs, simulator, store, clock
):
    background = BackgroundTasks(4)
    service = JobService(store, jobs.provider, jobs.config, clock=clock, spawn=background.spawn)
    job = create(service)
    for window in (1, 2):
        clock.now += 5
        before = simulator.counters()["retrieve"]
        run_at_once(lambda: service.status(job.id), 20)
        wait_until(lambda before=before: simulator.counters()["retrieve"] > before)
        time.sleep(0.3)  # room for a second check, if anything would start one
        run_at_once(lambda: service.status(job.id), 20)  # still inside this window
        time.sleep(0.3)
        assert simulator.counters()["retrieve"] - before == 1, f"window {window}"


def wait_until(condition, timeout: float = 5.0) -> None:
    """Wait for ``condition()`` to hold (the background pool works on its own time)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)


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
