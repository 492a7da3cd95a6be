"""The entry points the job lifecycle, the sweeper and the API call (kept few and small, so
``jobs`` only needs a line for each)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from dreamweb.errors import NotConfiguredError
from dreamweb.storage import layout

if TYPE_CHECKING:  # jobs imports this module: the types only, no import cycle at run time
    from collections.abc import Mapping

    from dreamweb.jobs import Job, JobService
    from dreamweb.webhooks.outbox import Outbox

logger = logging.getLogger("dreamweb.webhooks")


def outbox(jobs: JobService) -> Outbox:
    """The webhook outbox over ``jobs``' store, configuration and clock."""
    from dreamweb.webhooks.outbox import Outbox

    def video_url(job: Job) -> str:
        if jobs.config["VIDEO_DELIVERY"] == "signed-url":
            from dreamweb.delivery import video_download_name

            return jobs.store.signed_url(
                layout.video_key(job.id),
                seconds=jobs.config["SIGNED_URL_SECONDS"],
                download_name=video_download_name(job.id),
                inline=False,
            )
        return (job.callback or {})["video_url"]

    return Outbox(jobs.records, jobs.config, video_url)


def check_callback_request(url: str, config: Mapping[str, Any]) -> None:
    """Refuse a create's ``callbackUrl`` before any paid work: 400 ``invalid_callback_url`` for
    a URL that may not be called, 503 ``not_configured`` when webhooks are off."""
    from dreamweb.webhooks.outbox import check_callback_url, policy_from

    if not config["WEBHOOK_SECRET"]:
        raise NotConfiguredError(
            "Webhooks are not configured on this server (no WEBHOOK_SECRET)", code="not_configured"
        )
    check_callback_url(url, policy_from(config))


def register_callback(jobs: JobService, job_id: str, url: str, video_url: str) -> None:
    """Attach ``url`` to a created job; ``video_url`` is its absolute download URL (what
    ``videoUrl`` is in proxy delivery mode). A job that already ended is delivered now."""
    box = outbox(jobs)
    box.register(job_id, url, video_url)
    jobs.spawn(f"callback:{job_id}", lambda: box.deliver(job_id))


def deliver_callback(jobs: JobService, job_id: str) -> None:
    """The job-finish hook: attempt the job's callback now if it has one (in the background
    pool in a web process, inline in the sweeper)."""
    outbox(jobs).deliver(job_id)


def sweep_callbacks(jobs: JobService) -> None:
    """The sweeper hook: retry every due callback. A failure here never stops the sweep."""
    try:
        outbox(jobs).sweep()
    except Exception as error:
        logger.warning("callback sweep failed", extra={"error": type(error).__name__})
