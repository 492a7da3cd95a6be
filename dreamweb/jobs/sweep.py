"""The sweeper: advances every unfinished job and stores finished videos even when nobody
polls, and expires old idempotency keys. One job's (or one key's) trouble never stops the rest:
every error is logged and counted, none is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from dreamweb.errors import DreamwebError, NotFoundError
from dreamweb.jobs.idempotency import expire_idempotency_keys
from dreamweb.jobs.model import COMPLETED, FAILED, Job
from dreamweb.jobs.service import JobService
from dreamweb.storage import layout

logger = logging.getLogger("dreamweb.jobs")


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did."""

    examined: int = 0
    stored: int = 0
    failed: int = 0
    errors: int = 0


class Sweeper:
    """Sweeps with ``jobs`` (give it an inline-spawning ``JobService``: ingests run here)."""

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs
        self.store = jobs.store

    def active_job_ids(self) -> Iterator[str]:
        """Ids of jobs not yet completed or failed."""
        for key in self.store.list(layout.ACTIVE):
            job_id = layout.job_id_from_key(key)
            if job_id is not None:
                yield job_id

    def sweep(self) -> SweepReport:
        """Advance every unfinished job, then expire idempotency keys past their 24 h."""
        examined = stored = failed = errors = 0
        try:
            active = list(self.active_job_ids())
        except DreamwebError as error:
            logger.warning("sweep could not list jobs", extra={"error": type(error).__name__})
            return SweepReport(errors=1)
        for job_id in active:
            examined += 1
            try:
                job = self._sweep_one(job_id)
            except Exception as error:
                errors += 1
                logger.warning(
                    "sweep could not advance job",
                    extra={"job_id": job_id, "error": type(error).__name__},
                )
                continue
            stored += job.status == COMPLETED
            failed += job.status == FAILED
        errors += expire_idempotency_keys(self.jobs.records)
        return SweepReport(examined, stored, failed, errors)

    def _sweep_one(self, job_id: str) -> Job:
        record = self.jobs.records.read(job_id)
        if record is None:
            self.store.delete(layout.active_key(job_id))
            raise NotFoundError(f"active marker without a job: {job_id}")
        job = Job.from_record(record.data)
        if job.is_final:
            self.store.delete(layout.active_key(job_id))
            return job
        self.jobs.refresh(job_id, force=True)  # an inline spawn ingests right here
        return self.jobs.get(job_id)
