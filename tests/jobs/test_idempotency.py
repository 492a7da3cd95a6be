"""Idempotency-Key bookkeeping: claim, replay, settle, release — never two paid generations."""

from __future__ import annotations

import pytest

from dreamweb.errors import (
    ConflictError,
    ValidationError,
)
from dreamweb.jobs import (
    IDEMPOTENCY_TTL,
    SUBMIT_GRACE_SECONDS,
    IdempotencyKeys,
)
from dreamweb.storage import layout
from tests.concurrency import run_at_once
from tests.jobs.conftest import PROMPT, create, unsaved_job

CLIENT = "203.0.113.1"


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


def test_a_late_release_never_frees_a_key_another_request_took_over(jobs, store, clock):
    first = IdempotencyKeys(jobs.records, "k-slow", CLIENT)
    _, first_claim = first.claim(unsaved_job(clock))
    clock.now += SUBMIT_GRACE_SECONDS + 1  # the first create is still waiting on the provider
    second_job = unsaved_job(clock)
    _, second_claim = IdempotencyKeys(jobs.records, "k-slow", CLIENT).claim(second_job)
    assert second_claim is not None, "the abandoned-looking key was taken over"
    first.release(first_claim)  # only now is the first create refused: nothing started
    stored = store.get_record(layout.idempotency_record_key("k-slow", scope=CLIENT))
    assert stored is not None and stored.data["job_id"] == second_job.id
    # A third request sees the second one in flight instead of starting a new generation.
    with pytest.raises(ConflictError):
        IdempotencyKeys(jobs.records, "k-slow", CLIENT).claim(unsaved_job(clock))


def test_a_late_settle_of_a_taken_over_key_leaves_the_new_owner_alone(jobs, store, clock):
    first = IdempotencyKeys(jobs.records, "k-late", CLIENT)
    _, first_claim = first.claim(unsaved_job(clock))
    clock.now += SUBMIT_GRACE_SECONDS + 1
    second_job = unsaved_job(clock)
    IdempotencyKeys(jobs.records, "k-late", CLIENT).claim(second_job)
    first.settle(first_claim)  # the first create did start a job: its client still gets it
    stored = store.get_record(layout.idempotency_record_key("k-late", scope=CLIENT))
    assert stored.data["job_id"] == second_job.id and stored.data["state"] == "in_flight"
