"""The status document of a job: what ``GET /api/video-status/<jobId>`` answers and what a
completion webhook carries. Plain code, no Flask: the caller supplies the video's URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dreamweb.jobs.model import COMPLETED, FAILED, Job, failure_api_code, iso


def status_document(job: Job, video_url: Callable[[], str]) -> dict[str, Any]:
    """The document for ``job`` (pending/processing, completed or failed shape).

    ``video_url`` is called only for a completed job. A failed job carries ``errorCode`` beside
    its human ``error``. A running job's ``progress`` is the stored one (the API shows an
    estimate where the provider reports none). The callback's delivery state is not part of it (see
    ``with_callback_state``): a webhook's body must not change from one attempt to the next.
    """
    document: dict[str, Any] = {"jobId": job.id, "status": job.status}
    if job.status == COMPLETED:
        document.update(videoUrl=video_url(), completedAt=iso(job.completed_at))
        if job.cost is not None:
            document["cost"] = job.cost  # USD, as the provider charged it
    elif job.status == FAILED:
        document.update(error=job.error, errorCode=failure_api_code(job.error_code))
    else:
        document.update(progress=job.progress, stage=job.stage)
    return document


def with_callback_state(document: dict[str, Any], job: Job) -> dict[str, Any]:
    """``document`` plus ``callback: {status, attempts}`` when the job has a callbackUrl."""
    if job.callback:
        document["callback"] = {
            "status": job.callback["status"],
            "attempts": job.callback["attempts"],
        }
    return document
