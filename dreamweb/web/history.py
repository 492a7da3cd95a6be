"""The per-browser history ("Your dreams"): the job ids this browser created, newest first,
kept in the signed session cookie (``HISTORY_SIZE``, at most 100 ids: ~2.8 KB).

Only ids in that list are listed or deletable in the UI; a dream page itself stays reachable by
its link so that it can be shared and bookmarked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app, session

from dreamweb.errors import NotFoundError, StorageError
from dreamweb.jobs import Job
from dreamweb.services import services
from dreamweb.storage.layout import is_job_id

logger = logging.getLogger("dreamweb.web")

HISTORY_SESSION_KEY = "dreams"


@dataclass(frozen=True)
class HistoryEntry:
    """One of this browser's dreams; ``job`` is ``None`` when its record cannot be read now."""

    id: str
    job: Job | None


def history_ids() -> list[str]:
    """The job ids this browser created, newest first."""
    ids = session.get(HISTORY_SESSION_KEY)
    if not isinstance(ids, list):
        return []
    return [job_id for job_id in ids if is_job_id(job_id)]


def remember(job_id: str) -> None:
    """Put ``job_id`` first in this browser's history, keeping at most ``HISTORY_SIZE``."""
    ids = [job_id, *(known for known in history_ids() if known != job_id)]
    session[HISTORY_SESSION_KEY] = ids[: current_app.config["HISTORY_SIZE"]]
    session.permanent = True  # the history should outlive a browser restart


def forget(job_id: str) -> None:
    """Drop ``job_id`` from this browser's history."""
    session[HISTORY_SESSION_KEY] = [known for known in history_ids() if known != job_id]


def owns(job_id: str) -> bool:
    """Whether this browser created ``job_id``."""
    return job_id in history_ids()


def history_entries() -> list[HistoryEntry]:
    """This browser's dreams as stored (no provider calls), dropping ones that are gone.

    A storage error on one record must not cost the whole form page: that entry is shown as
    unavailable and stays in the history, to be read again next time.
    """
    jobs = services().jobs
    entries: list[HistoryEntry] = []
    missing: list[str] = []
    for job_id in history_ids():
        try:
            entries.append(HistoryEntry(job_id, jobs.get(job_id)))
        except NotFoundError:
            missing.append(job_id)  # deleted elsewhere or swept: nothing left to show
        except StorageError as error:
            logger.warning(
                "history entry unreadable", extra={"job_id": job_id, "error": type(error).__name__}
            )
            entries.append(HistoryEntry(job_id, None))
    for job_id in missing:
        forget(job_id)
    return entries
