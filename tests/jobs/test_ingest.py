"""Ingest coordination (``dreamweb.jobs.ingest``): failed copy-ins back off, then fail."""

from __future__ import annotations

from dreamweb.jobs import (
    FailureCode,
    Sweeper,
)
from tests.jobs.conftest import create


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
    assert job.error == FailureCode.STORE_FAILED.text
    assert list(Sweeper(jobs).active_job_ids()) == []
