"""Object layout: the one place that says where each thing lives in the store.

    videos/<jobId>.mp4          the finished video, written once, never changed
    thumbnails/<jobId>.webp     its poster image (best effort)
    jobs/<jobId>.json           the job record (compare-and-set)
    leases/<jobId>.json         the ingest lease: who is copying the video in, until when
    idempotency/<hash>.json     Idempotency-Key -> jobId, for 24 h
    active/<jobId>              marker of an unfinished job, so the sweeper lists only those
    budget/<YYYY-MM-DD>.json    the daily video budget's count for one UTC day (no Redis)

Every function validates the job id first, so user input never becomes a key unchecked.
"""

from __future__ import annotations

import hashlib
import re

JOB_ID_PATTERN = re.compile(r"^video_[A-Za-z0-9]{4,44}$")

VIDEOS, THUMBNAILS, JOBS, LEASES, IDEMPOTENCY, ACTIVE = (
    "videos/",
    "thumbnails/",
    "jobs/",
    "leases/",
    "idempotency/",
    "active/",
)


def is_job_id(value: object) -> bool:
    """Whether ``value`` has dreamweb's job id format: ``video_`` + letters/digits, 10–50 chars."""
    return isinstance(value, str) and JOB_ID_PATTERN.fullmatch(value) is not None


def _checked(job_id: str) -> str:
    if not is_job_id(job_id):
        raise ValueError(f"not a job id: {job_id!r}")
    return job_id


def video_key(job_id: str) -> str:
    """Key of a job's stored video."""
    return f"{VIDEOS}{_checked(job_id)}.mp4"


def thumbnail_key(job_id: str) -> str:
    """Key of a job's stored thumbnail."""
    return f"{THUMBNAILS}{_checked(job_id)}.webp"


def job_key(job_id: str) -> str:
    """Key of a job's record."""
    return f"{JOBS}{_checked(job_id)}.json"


def lease_key(job_id: str) -> str:
    """Key of a job's ingest lease."""
    return f"{LEASES}{_checked(job_id)}.json"


def active_key(job_id: str) -> str:
    """Key of a job's "still unfinished" marker."""
    return f"{ACTIVE}{_checked(job_id)}"


def idempotency_record_key(client_key: str, scope: str = "") -> str:
    """Store key of the record for one client's ``Idempotency-Key`` (hashed: the header is
    client text)."""
    digest = hashlib.sha256(f"{scope}\0{client_key}".encode()).hexdigest()
    return f"{IDEMPOTENCY}{digest[:48]}.json"


BUDGET = "budget/"
DAY_PATTERN = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def budget_key(day: str) -> str:
    """Key of the daily budget record of one UTC day (``YYYY-MM-DD``)."""
    if not DAY_PATTERN.fullmatch(day):
        raise ValueError(f"not a day: {day!r}")
    return f"{BUDGET}{day}.json"


def job_id_from_key(key: str) -> str | None:
    """The job id a ``jobs/``, ``videos/`` … key belongs to, if any."""
    name = key.rsplit("/", 1)[-1].split(".", 1)[0]
    return name if is_job_id(name) else None
