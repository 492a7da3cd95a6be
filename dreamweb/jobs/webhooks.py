"""A provider's webhook for one of our jobs: match it, deduplicate it, advance the job.

Knows nothing of HTTP or signatures (the caller verified the delivery first). A webhook is a
nudge, never the truth: the job is advanced by checking the provider's own answer
(``JobService.refresh(force=True)``) in the background, so a delivery can make dreamweb look
sooner but can never tell it what to believe. Each delivery key is recorded create-only in the
store under ``idempotency/`` (scoped apart from clients' keys, expired by the sweeper after
24 h), so a retried delivery is a no-op in every process.
"""

from __future__ import annotations

import enum
import logging

from dreamweb.errors import PreconditionFailedError
from dreamweb.jobs.model import Job
from dreamweb.jobs.service import JobService
from dreamweb.storage import layout

logger = logging.getLogger("dreamweb.jobs")


class WebhookOutcome(enum.Enum):
    """What became of one delivery."""

    ACCEPTED = "accepted"  # the job will be advanced in the background
    DUPLICATE = "duplicate"  # this delivery was seen before: nothing to do
    FINISHED = "finished"  # the job is already completed or failed: nothing to do
    UNKNOWN_JOB = "unknown_job"  # no such job (deleted, or never ours): nothing to do
    MISMATCH = "mismatch"  # the delivery names another provider job than ours
    NOT_READY = "not_ready"  # the create has not recorded the provider's id yet: retry later


def accept_webhook(
    jobs: JobService, *, provider: str, job_id: str, provider_job_id: str, delivery_key: str
) -> WebhookOutcome:
    """Take a verified delivery about ``job_id`` (whose provider id must be ``provider_job_id``).

    Never calls the provider in the calling thread: the check and the copy-in run in
    ``jobs.spawn``, so the webhook is answered at once.
    """
    record = jobs.records.read(job_id, fresh=True) if layout.is_job_id(job_id) else None
    if record is None:
        return WebhookOutcome.UNKNOWN_JOB
    job = Job.from_record(record.data)
    if job.provider != provider or (
        job.provider_job_id is not None and job.provider_job_id != provider_job_id
    ):
        return WebhookOutcome.MISMATCH
    if job.is_final:
        return WebhookOutcome.FINISHED
    if job.provider_job_id is None:
        return WebhookOutcome.NOT_READY  # not recorded as seen: the retry will be taken
    key = layout.idempotency_record_key(delivery_key, scope=f"webhook:{provider}")
    record_body = {"created_at": jobs.clock(), "job_id": job_id, "delivery": delivery_key}
    try:
        jobs.store.put_record(key, record_body, generation=None)
    except PreconditionFailedError:
        return WebhookOutcome.DUPLICATE
    jobs.spawn(f"webhook:{job_id}", lambda: _advance(jobs, job_id))
    return WebhookOutcome.ACCEPTED


def _advance(jobs: JobService, job_id: str) -> None:
    """Check the provider now (whatever the status TTL says); a finished video is copied in."""
    jobs.records.cache.forget(job_id)  # a cached copy would lose the check's compare-and-set
    job = jobs.refresh(job_id, force=True)
    logger.info(
        "webhook advanced job", extra={"job_id": job_id, "status": job.status, "stage": job.stage}
    )
