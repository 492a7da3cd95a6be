"""What a dream's status page and polling fragment show: the stored job, its stage in words,
and what to offer once it is final."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, url_for

from dreamweb.delivery import video_url
from dreamweb.errors import NotFoundError, StorageError
from dreamweb.jobs import COMPLETED, FAILED, FailureCode, Job
from dreamweb.services import services

logger = logging.getLogger("dreamweb.web")

STAGE_LABELS = {"queued": "Queued", "rendering": "Rendering", "storing": "Saving your video"}
TROUBLE_NOTICE = "We're having trouble reaching the dream machine right now; still trying…"


def orientation(size: str) -> str:
    """``landscape``, ``portrait`` or ``square`` for a ``WIDTHxHEIGHT`` size."""
    width, height = (int(part) for part in size.split("x", 1))
    if width > height:
        return "landscape"
    return "portrait" if height > width else "square"


def current_job(job_id: str) -> tuple[Job | None, str | None]:
    """The stored job (a check with the provider, when due, runs in the background) and a
    notice while the provider is paused or the store is not answering.

    Neither must end the polling: the last stored state is shown with the notice and the
    fragment keeps its trigger. ``None`` means even the stored state could not be read now.
    """
    jobs = services().jobs
    try:
        job = jobs.status(job_id)
    except NotFoundError:
        raise
    except StorageError as error:
        logger.warning("status read failed", extra={"job_id": job_id, "error": str(error)})
        return None, TROUBLE_NOTICE
    paused = not job.is_final and jobs.provider_paused_for() is not None
    return job, TROUBLE_NOTICE if paused else None


def failure_explanation(job: Job) -> str:
    """Why a failed dream failed, in words a person can act on."""
    known = FailureCode.known(job.error_code)
    if known is not None:
        return known.explanation
    return job.error or "Something went wrong."


def status_context(job_id: str, job: Job | None, notice: str | None) -> dict[str, Any]:
    """Everything ``_status.html`` needs."""
    context: dict[str, Any] = {
        "job_id": job_id,
        "job": job,
        "notice": notice,
        "poll_seconds": current_app.config["POLL_INTERVAL_SECONDS"],
        "running": job is None or not job.is_final,
    }
    if job is None:
        return context
    context["stage_label"] = STAGE_LABELS.get(job.stage or "", "Working on it")
    context["again_url"] = url_for(
        "web.index", prompt=job.prompt, seconds=job.seconds, size=job.size
    )
    context["orientation"] = orientation(job.size)
    if job.status == COMPLETED:
        width, height = job.size.split("x", 1)
        context.update(
            video_src=video_url(job.id, inline=True),
            video_width=width,
            video_height=height,
            poster_src=url_for("web.dream_thumbnail", job_id=job.id) if job.thumbnail else None,
            download_url=url_for("api.get_video", job_id=job.id),
        )
    elif job.status == FAILED:
        context["explanation"] = failure_explanation(job)
    return context
