"""The job: its record, statuses, failure codes and the pure transitions between states.

A leaf module: it imports nothing from the rest of ``dreamweb.jobs`` nor from providers, so
providers can take the statuses from here without an import cycle.

Status model (what clients see):
    pending     the provider has queued it                         stage "queued"
    processing  rendering upstream, or rendered and being stored   stage "rendering" / "storing"
    completed   the video is in dreamweb's store (and only then)
    failed      final, with a human explanation
"""

from __future__ import annotations

import enum
import logging
import secrets
import string
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dreamweb.providers.base import ProviderJob

logger = logging.getLogger("dreamweb.jobs")

PENDING, PROCESSING, COMPLETED, FAILED = "pending", "processing", "completed", "failed"
STAGES = {PENDING: "queued", PROCESSING: "rendering"}
STORING = "storing"

ID_ALPHABET = string.ascii_letters + string.digits
ID_RANDOM_LENGTH = 24
# A record without a provider id older than this: its creator died mid-submit.
SUBMIT_GRACE_SECONDS = 120
# Copy-in retries back off 5 s, 10 s, ... 300 s; after 8 failures (~15 min) the job fails.
INGEST_FIRST_BACKOFF, INGEST_MAX_BACKOFF, INGEST_MAX_FAILURES = 5.0, 300.0, 8


class FailureCode(enum.StrEnum):
    """Why a job failed: the code kept in its record, with the API's ``error`` text and the
    explanation the web page gives a person (one table, so the two never drift apart)."""

    text: str
    explanation: str

    def __new__(cls, code: str, text: str, explanation: str) -> FailureCode:
        member = str.__new__(cls, code)
        member._value_ = code
        member.text = text
        member.explanation = explanation
        return member

    MODERATION_BLOCKED = (
        "moderation_blocked",
        "Video generation failed: content policy violation",
        "The video model declined this dream because it may break its content rules. "
        "Try describing it differently.",
    )
    EXPIRED = (
        "expired",
        "Video generation failed: the finished video expired before it could be saved",
        "The finished video expired at the provider before we could save it. "
        "Nothing is wrong with your dream: please try again.",
    )
    PROVIDER_LOST = (
        "provider_lost",
        "Video generation failed: the provider no longer has this video",
        "The dream machine lost track of this video. Please try again.",
    )
    SUBMIT_FAILED = (
        "submit_failed",
        "Video generation failed: the provider did not accept the request",
        "The dream machine did not accept the request in time. It may be busy: "
        "please try again in a moment.",
    )
    SUBMIT_UNCONFIRMED = (
        "submit_unconfirmed",
        "Video generation failed: the provider did not confirm the request"
        " (it may still have started; retrying with the same Idempotency-Key is safe)",
        "The dream machine did not confirm that it started this dream. "
        "Please try again in a moment.",
    )
    STORE_FAILED = (
        "store_failed",
        "Video generation failed: the finished video could not be saved",
        "Your video was made, but we could not save it. Please try again in a moment.",
    )
    TOO_LARGE = (
        "too_large",
        "Video generation failed: the finished video is too large to keep",
        "Your video was made, but it is larger than this site keeps. "
        "Try a shorter or smaller dream.",
    )

    @classmethod
    def known(cls, code: str | None) -> FailureCode | None:
        """The member for ``code``, or ``None`` for a code only the provider knows."""
        try:
            return cls(code)
        except ValueError:
            return None


def failure_text(code: str | None, message: str | None = None) -> str:
    """The API's text for a failed job, from its failure code.

    A code only the provider knows gets one fixed text: the provider's own message is logged,
    never shown (it may carry internals, or whatever a gateway put there).
    """
    known = FailureCode.known(code)
    if known is not None:
        return known.text
    logger.info("provider failure", extra={"code": code, "upstream_message": message})
    return "Video generation failed at the provider"


def new_job_id() -> str:
    """A fresh dreamweb job id: ``video_`` + 24 random letters/digits."""
    return "video_" + "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_RANDOM_LENGTH))


def iso(timestamp: float | None) -> str | None:
    """Unix seconds as ``2025-10-22T21:00:00Z`` (``None`` stays ``None``)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Job:
    """One dream's job record, as stored (snake_case) in ``jobs/<id>.json``."""

    id: str
    provider: str
    prompt: str
    enhanced_prompt: str
    model: str
    seconds: str
    size: str
    status: str = PENDING
    created_status: str = PENDING  # what the create answered: replayed verbatim
    stage: str | None = "queued"
    progress: int = 0
    provider_job_id: str | None = None
    error: str | None = None
    error_code: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    completed_at: float | None = None
    checked_at: float | None = None
    expires_at: float | None = None
    video_bytes: int | None = None
    cost: float | None = None  # what the provider charged, USD, when it says (OpenRouter)
    thumbnail: bool = False
    ingest_failures: int = 0
    ingest_retry_at: float | None = None
    token_hash: str | None = None  # which API token created it (a hash, never the token)

    @property
    def is_final(self) -> bool:
        """Completed or failed: nothing will change it again."""
        return self.status in (COMPLETED, FAILED)

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Job:
        """Rebuild from stored JSON, ignoring keys a newer version may have added."""
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_record(self) -> dict[str, Any]:
        """The JSON document stored for this job."""
        return asdict(self)


# --- transitions: pure functions from one state of a job to the next --------------------------


def apply_upstream(job: Job, upstream: ProviderJob, now: float) -> Job:
    """Fold a provider's view of the job into our record."""
    if job.is_final:
        return job
    changes: dict[str, Any] = {"provider_job_id": upstream.id, "checked_at": now}
    if upstream.status == FAILED:
        changes.update(
            status=FAILED,
            stage=None,
            error=failure_text(upstream.error_code, upstream.error_message),
            error_code=upstream.error_code,
        )
    elif upstream.status == COMPLETED:
        # Completed upstream is not completed here until the video is in our store.
        changes.update(
            status=PROCESSING, stage=STORING, progress=100, expires_at=upstream.expires_at
        )
        if upstream.cost is not None:
            changes["cost"] = upstream.cost
    else:
        changes.update(
            status=upstream.status,
            stage=STAGES.get(upstream.status, "rendering"),
            progress=max(job.progress, min(upstream.progress or 0, 99)),
        )
    return replace(job, **changes)


def first_answer(job: Job, upstream: ProviderJob, now: float) -> Job:
    """The job as the provider first accepted it; its status is what the create answered."""
    job = apply_upstream(job, upstream, now)
    return replace(job, created_status=job.status)


def count_ingest_failure(job: Job, now: float) -> Job:
    """One more failed copy-in; the next try waits 5 s, 10 s, 20 s ... at most 5 minutes."""
    failures = job.ingest_failures + 1
    delay = min(INGEST_MAX_BACKOFF, INGEST_FIRST_BACKOFF * 2 ** (failures - 1))
    return replace(job, ingest_failures=failures, ingest_retry_at=now + delay)


def completed(job: Job, *, size: int, thumbnail: bool, now: float) -> Job:
    """The job once its video (``size`` bytes) is in our store."""
    return replace(
        job,
        status=COMPLETED,
        stage=None,
        progress=100,
        completed_at=job.completed_at or now,
        video_bytes=size,
        thumbnail=thumbnail,
    )


def failed(job: Job, code: str, message: str | None = None) -> Job:
    """The job ended for ``code`` (a ``FailureCode`` or a provider's own code)."""
    return replace(
        job, status=FAILED, stage=None, error=failure_text(code, message), error_code=str(code)
    )
