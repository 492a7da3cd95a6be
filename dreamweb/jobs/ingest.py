"""Ingest coordination: when a provider-finished job's video is copied in, and what the job
becomes (completed, backing off after a failed copy, or failed for good).

The byte copy itself — lease, download, verified write — is ``dreamweb.storage.ingest``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from dreamweb.errors import NotConfiguredError, NotFoundError, VideoTooLargeError
from dreamweb.jobs.model import INGEST_MAX_FAILURES, FailureCode, Job, count_ingest_failure
from dreamweb.jobs.records import JobRecords
from dreamweb.providers.base import VideoProvider
from dreamweb.storage import layout
from dreamweb.storage.ingest import IngestOutcome, ingest_video

logger = logging.getLogger("dreamweb.jobs")


def require_provider(provider: VideoProvider | None) -> VideoProvider:
    """``provider``, or ``NotConfiguredError`` when this server has no provider key."""
    if provider is None:
        raise NotConfiguredError(
            "Video creation is not configured on this server (no provider API key)"
        )
    return provider


def ingest_job(
    records: JobRecords, provider: VideoProvider | None, config: Mapping[str, Any], job_id: str
) -> Job:
    """Copy a provider-finished job's video into the store and mark it completed.

    A failed copy is counted and backed off (``count_ingest_failure``); after
    ``INGEST_MAX_FAILURES`` the job fails, and at once for a video over ``MAX_VIDEO_BYTES``.
    Never raises for a failed copy.
    """
    job = records.get(job_id)
    if job.is_final:
        return job
    store = records.store
    try:
        result = ingest_video(
            store,
            require_provider(provider),
            job_id=job.id,
            provider_job_id=job.provider_job_id or "",
            expires_at=job.expires_at,
            lease_seconds=config["INGEST_LEASE_SECONDS"],
            attempts=config["INGEST_ATTEMPTS"],
            clock=records.clock,
            max_bytes=config.get("MAX_VIDEO_BYTES"),
        )
    except VideoTooLargeError:  # another try would download it all again
        return records.fail(job_id, FailureCode.TOO_LARGE)
    except Exception as error:
        logger.warning("ingest failed", extra={"job_id": job_id, "error": type(error).__name__})
        job = records.update(job_id, lambda j: count_ingest_failure(j, records.clock()))
        if job.ingest_failures >= INGEST_MAX_FAILURES:
            return records.fail(job_id, FailureCode.STORE_FAILED)
        return job
    if result.outcome is IngestOutcome.EXPIRED:
        return records.fail(job_id, FailureCode.EXPIRED)
    if result.outcome is IngestOutcome.IN_PROGRESS:
        return job
    stat = store.stat(layout.video_key(job_id))
    thumbnail = result.thumbnail or store.exists(layout.thumbnail_key(job_id))
    try:
        return records.complete(job_id, size=stat.size, thumbnail=thumbnail)
    except NotFoundError:
        # Deleted while we copied: do not leave its video behind.
        store.delete(layout.video_key(job_id))
        store.delete(layout.thumbnail_key(job_id))
        raise
