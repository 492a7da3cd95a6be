"""``accept_webhook``: matching a verified delivery to our job, deduplicating it in the store,
and handing the job to the background (a local store and the simulator provider)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from dreamweb.jobs import IDEMPOTENCY_TTL, FailureCode, JobService
from dreamweb.jobs.idempotency import expire_idempotency_keys
from dreamweb.jobs.webhooks import WebhookOutcome, accept_webhook
from dreamweb.storage import layout
from tests.jobs.conftest import create, unsaved_job


@pytest.fixture
def spawned(jobs: JobService) -> list[tuple[str, Callable[[], object]]]:
    """What ``jobs`` hands to the background, kept instead of run."""
    tasks: list[tuple[str, Callable[[], object]]] = []
    jobs.spawn = lambda key, task: tasks.append((key, task))
    return tasks


def deliver(jobs: JobService, job_id: str, provider_job_id: str, key: str = "k-completed"):
    provider = jobs.provider.name if jobs.provider else ""
    return accept_webhook(
        jobs, provider=provider, job_id=job_id, provider_job_id=provider_job_id, delivery_key=key
    )


def delivery_records(jobs: JobService) -> list[str]:
    return list(jobs.store.list(layout.IDEMPOTENCY))


def test_a_delivery_is_taken_once_across_processes(jobs, spawned, simulator, store, config, clock):
    job = create(jobs)
    assert deliver(jobs, job.id, job.provider_job_id) is WebhookOutcome.ACCEPTED
    [(key, task)] = spawned
    assert key == f"webhook:{job.id}"
    task()  # the background check: one upstream call, whatever the status TTL says
    assert simulator.counters()["retrieve"] == 1
    assert jobs.get(job.id, fresh=True).checked_at is not None

    other_process = JobService(store, jobs.provider, config, clock=clock)
    assert deliver(other_process, job.id, job.provider_job_id) is WebhookOutcome.DUPLICATE
    assert deliver(jobs, job.id, job.provider_job_id) is WebhookOutcome.DUPLICATE
    assert len(spawned) == 1 and len(delivery_records(jobs)) == 1
    # Another state of the same job is a new delivery.
    assert deliver(jobs, job.id, job.provider_job_id, "k-failed") is WebhookOutcome.ACCEPTED

    clock.now += IDEMPOTENCY_TTL + 1  # the sweeper forgets delivery records after 24 h
    assert expire_idempotency_keys(jobs.records) == 0
    assert delivery_records(jobs) == []


def test_deliveries_that_are_not_about_this_job(jobs, spawned, clock):
    job = create(jobs)
    assert deliver(jobs, job.id, "video_someone_else") is WebhookOutcome.MISMATCH
    assert (
        accept_webhook(
            jobs,
            provider="openrouter",
            job_id=job.id,
            provider_job_id=job.provider_job_id,
            delivery_key="k",
        )
        is WebhookOutcome.MISMATCH
    )
    assert deliver(jobs, "../jobs/x", "p") is WebhookOutcome.UNKNOWN_JOB
    assert deliver(jobs, unsaved_job(clock).id, "p") is WebhookOutcome.UNKNOWN_JOB
    assert spawned == [] and delivery_records(jobs) == []


def test_a_finished_job_or_one_still_being_created(jobs, spawned, clock):
    finished = create(jobs)
    jobs.records.fail(finished.id, FailureCode.CANCELLED)
    assert deliver(jobs, finished.id, finished.provider_job_id) is WebhookOutcome.FINISHED

    submitting = replace(unsaved_job(clock), provider=finished.provider)
    jobs.records.write(submitting, generation=None)  # the create has not heard back yet
    assert deliver(jobs, submitting.id, "p") is WebhookOutcome.NOT_READY
    # Not recorded: OpenRouter's retry, once the id is known, is taken.
    assert spawned == [] and delivery_records(jobs) == []
