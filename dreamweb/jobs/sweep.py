"""The sweeper: advances every unfinished job and stores finished videos even when nobody
polls, and expires old idempotency keys. One job's (or one key's) trouble never stops the rest:
every error is logged and counted, none is raised.

Jobs are advanced ``SWEEP_CONCURRENCY`` at a time, and the sweep waits at most
``SWEEP_JOB_DEADLINE`` seconds for each (``dreamweb.jobs.parallel``): during a provider
brownout a pass over ``n`` jobs takes at most about ``n × deadline ÷ concurrency`` — and far
less once the circuit breaker opens and checks are refused at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from dreamweb.errors import DreamwebError, NotFoundError
from dreamweb.jobs.idempotency import expire_idempotency_keys
from dreamweb.jobs.model import COMPLETED, FAILED, Job
from dreamweb.jobs.parallel import run_bounded
from dreamweb.jobs.service import JobService
from dreamweb.storage import layout
from dreamweb.storage.debris import remove_debris
from dreamweb.webhooks.hooks import sweep_callbacks

logger = logging.getLogger("dreamweb.jobs")


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did. ``errors`` counts every job or key that could not be handled,
    ``timed_out`` (also in ``errors``) the jobs the sweep stopped waiting for."""

    examined: int = 0
    stored: int = 0
    failed: int = 0
    errors: int = 0
    timed_out: int = 0


class Sweeper:
    """Sweeps with ``jobs`` (its copy-ins run in the sweep's own threads)."""

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs
        self.store = jobs.store
        self.concurrency: int = jobs.config["SWEEP_CONCURRENCY"]
        self.deadline: float = jobs.config["SWEEP_JOB_DEADLINE"]

    def active_job_ids(self) -> Iterator[str]:
        """Ids of jobs not yet completed or failed."""
        for key in self.store.list(layout.ACTIVE):
            job_id = layout.job_id_from_key(key)
            if job_id is not None:
                yield job_id

    def sweep(self) -> SweepReport:
        """Advance every unfinished job, expire idempotency keys past their 24 h, then retry
        due completion webhooks."""
        stored = failed = errors = timed_out = 0
        try:
            active = list(self.active_job_ids())
        except DreamwebError as error:
            logger.warning("sweep could not list jobs", extra={"error": type(error).__name__})
            active, errors = [], 1
        outcomes = run_bounded(
            active, self._sweep_one, concurrency=self.concurrency, deadline=self.deadline
        )
        for outcome in outcomes:
            if outcome.timed_out or outcome.error is not None:
                errors += 1
                timed_out += outcome.timed_out
                problem = "timed out" if outcome.timed_out else type(outcome.error).__name__
                logger.warning(
                    "sweep could not advance job", extra={"job_id": outcome.item, "error": problem}
                )
            elif outcome.result is not None:
                stored += outcome.result.status == COMPLETED
                failed += outcome.result.status == FAILED
        errors += expire_idempotency_keys(self.jobs.records)
        # Temporary files of writers killed mid-copy (older than any live copy-in's lease).
        remove_debris(self.store, self.jobs.config["INGEST_LEASE_SECONDS"])
        sweep_callbacks(self.jobs)  # due webhook retries; its own trouble is logged, not raised
        return SweepReport(len(active), stored, failed, errors, timed_out)

    def _sweep_one(self, job_id: str) -> Job:
        record = self.jobs.records.read(job_id)
        if record is None:
            self.store.delete(layout.active_key(job_id))
            raise NotFoundError(f"active marker without a job: {job_id}")
        job = Job.from_record(record.data)
        if job.is_final:
            self.store.delete(layout.active_key(job_id))
            return job
        return self.jobs.refresh(job_id, force=True)  # copy-ins run right here
