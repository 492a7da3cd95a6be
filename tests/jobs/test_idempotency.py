"""Idempotency-Key bookkeeping: claim, replay, settle, release — never two paid generations."""

from __future__ import annotations

import pytest

from dreamweb.errors import ConflictError
from dreamweb.jobs import SUBMIT_GRACE_SECONDS, IdempotencyKeys
from dreamweb.storage import layout
from tests.jobs.conftest import unsaved_job

CLIENT = "203.0.113.1"


def test_a_late_release_never_frees_a_key_another_request_took_over(jobs, store, clock):
    first = IdempotencyKeys(jobs, "k-slow", CLIENT)
    _, first_claim = first.claim(unsaved_job(clock))
    clock.now += SUBMIT_GRACE_SECONDS + 1  # the first create is still waiting on the provider
    second_job = unsaved_job(clock)
    _, second_claim = IdempotencyKeys(jobs, "k-slow", CLIENT).claim(second_job)
    assert second_claim is not None, "the abandoned-looking key was taken over"
    first.release(first_claim)  # only now is the first create refused: nothing started
    stored = store.get_record(layout.idempotency_record_key("k-slow", scope=CLIENT))
    assert stored is not None and stored.data["job_id"] == second_job.id
    # A third request sees the second one in flight instead of starting a new generation.
    with pytest.raises(ConflictError):
        IdempotencyKeys(jobs, "k-slow", CLIENT).claim(unsaved_job(clock))


def test_a_late_settle_of_a_taken_over_key_leaves_the_new_owner_alone(jobs, store, clock):
    first = IdempotencyKeys(jobs, "k-late", CLIENT)
    _, first_claim = first.claim(unsaved_job(clock))
    clock.now += SUBMIT_GRACE_SECONDS + 1
    second_job = unsaved_job(clock)
    IdempotencyKeys(jobs, "k-late", CLIENT).claim(second_job)
    first.settle(first_claim)  # the first create did start a job: its client still gets it
    stored = store.get_record(layout.idempotency_record_key("k-late", scope=CLIENT))
    assert stored.data["job_id"] == second_job.id and stored.data["state"] == "in_flight"
