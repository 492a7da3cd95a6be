"""Jobs: one dream's generation, from the create to the stored video.

    model.py        Job, statuses, FailureCode (API text + web explanation), pure transitions
    records.py      record cache, read / write / compare-and-set update of job records
    idempotency.py  Idempotency-Key claim, replay, settle, release, expiry
    service.py      JobService: create, status (never waits), refresh (shared TTL), ingest, delete
    create.py       the create path: circuit check, idempotency claim, budget, paid call, cleanup
    ingest.py       when a finished job's video is copied in, and what the job becomes
    parallel.py     bounded parallelism with a deadline per item
    sweep.py        the sweeper: advance unfinished jobs in parallel, expire old keys
    webhooks.py     a provider's webhook for one of our jobs: match, deduplicate, advance

The model, records and idempotency names are imported here eagerly. The service side imports
providers (which take their statuses from ``dreamweb.jobs.model``), so its names load on first
use: importing ``dreamweb.jobs.model`` from a provider never cycles back into a provider.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dreamweb.jobs.idempotency import IDEMPOTENCY_TTL, IdempotencyKeys
from dreamweb.jobs.model import (
    COMPLETED,
    FAILED,
    INGEST_MAX_FAILURES,
    PENDING,
    PROCESSING,
    STORING,
    SUBMIT_GRACE_SECONDS,
    FailureCode,
    Job,
    failure_text,
    iso,
    new_job_id,
    shown_progress,
)
from dreamweb.jobs.records import JobRecords, RecordCache

if TYPE_CHECKING:
    from dreamweb.jobs.service import JobService
    from dreamweb.jobs.sweep import Sweeper, SweepReport

_LOADED_ON_USE = {
    "JobService": "dreamweb.jobs.service",
    "Sweeper": "dreamweb.jobs.sweep",
    "SweepReport": "dreamweb.jobs.sweep",
}

__all__ = [
    "COMPLETED",
    "FAILED",
    "IDEMPOTENCY_TTL",
    "INGEST_MAX_FAILURES",
    "PENDING",
    "PROCESSING",
    "STORING",
    "SUBMIT_GRACE_SECONDS",
    "FailureCode",
    "IdempotencyKeys",
    "Job",
    "JobRecords",
    "JobService",
    "RecordCache",
    "SweepReport",
    "Sweeper",
    "failure_text",
    "iso",
    "new_job_id",
    "shown_progress",
]


def __getattr__(name: str) -> Any:
    """``JobService``, ``Sweeper`` and ``SweepReport``, imported when first asked for."""
    module = _LOADED_ON_USE.get(name)
    if module is None:
        raise AttributeError(f"module 'dreamweb.jobs' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
