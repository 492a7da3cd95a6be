"""``Idempotency-Key`` bookkeeping: one client's key answers as its first request was answered.

Records live under ``idempotency/`` (``dreamweb.storage.layout.idempotency_record_key``). A key
is claimed create-only before the paid call (state ``in_flight``), then settled with the outcome
(``done`` with the job, or ``failed`` with the error the client was given), or released when the
provider surely started nothing. Every later change — settle, release, expiry — applies only to
the version its owner wrote: a key another request has taken over since is theirs.
"""

from __future__ import annotations

import logging
from typing import Any

from dreamweb.errors import (
    ConflictError,
    DreamwebError,
    PreconditionFailedError,
    ReplayedError,
    ValidationError,
)
from dreamweb.jobs.model import SUBMIT_GRACE_SECONDS, Job
from dreamweb.jobs.records import JobRecords
from dreamweb.storage import layout
from dreamweb.storage.base import Record

logger = logging.getLogger("dreamweb.jobs")

IDEMPOTENCY_TTL = 24 * 3600


class IdempotencyKeys:
    """The record of one client's ``Idempotency-Key``. Keys are scoped per client, so one
    client's key never answers with another client's job."""

    def __init__(self, records: JobRecords, client_key: str, client: str) -> None:
        self.records = records
        self.store = records.store
        self.key = layout.idempotency_record_key(client_key, scope=client)

    def claim(self, job: Job) -> tuple[Job | None, Record | None]:
        """``(first_job, None)`` to replay, or ``(None, claim)`` when ``job`` may proceed.

        Raises ``ReplayedError`` (the first answer was an error), ``ConflictError`` (the first
        request is still in flight) or ``ValidationError`` (the key was used for another body).
        """
        now = self.records.clock()
        body = {
            "job_id": job.id,
            "fingerprint": f"{job.prompt}\0{job.seconds}\0{job.size}",
            "created_at": now,
            "state": "in_flight",
        }
        try:
            return None, self.store.put_record(self.key, body, generation=None)
        except PreconditionFailedError:
            existing = self.store.get_record(self.key)
        if existing is None or self._reclaimable(existing.data, now):
            generation = existing.generation if existing else None
            return None, self.store.put_record(self.key, body, generation=generation)
        if existing.data["fingerprint"] != body["fingerprint"]:
            raise ValidationError("Idempotency-Key was already used with a different request")
        return self._replay(existing.data), None

    def _reclaimable(self, data: dict[str, Any], now: float) -> bool:
        """Expired, abandoned by a creator that died, or pointing at a deleted job."""
        age = now - data["created_at"]
        if age > IDEMPOTENCY_TTL:
            return True
        if data["state"] == "in_flight" and age > SUBMIT_GRACE_SECONDS:
            # Its job record exists, so the paid call may have been made: look the job up
            # (replayed) instead of paying again. Only a creator that died before writing the
            # record leaves the key free.
            return self.records.read(data["job_id"]) is None
        return data["state"] == "done" and self.records.read(data["job_id"]) is None

    def _replay(self, data: dict[str, Any]) -> Job:
        if data["state"] == "failed":
            raise ReplayedError(data["error"], data["status"])
        age = self.records.clock() - data["created_at"]
        if data["state"] == "in_flight" and age <= SUBMIT_GRACE_SECONDS:
            raise ConflictError()  # its creator is most likely still submitting
        return self.records.get(data["job_id"])

    def settle(self, claim: Record, *, error: DreamwebError | None = None) -> None:
        """Record the outcome the client was given."""
        data = dict(claim.data, state="done" if error is None else "failed")
        if error is not None:
            data.update(error=error.public_message, status=error.status)
        try:
            self.store.put_record(self.key, data, generation=claim.generation)
        except PreconditionFailedError:
            # Taken over after our claim looked abandoned: the new owner's record stays.
            logger.warning("idempotency key taken over before settling", extra={"key": self.key})

    def release(self, claim: Record) -> None:
        """Free the key: nothing was started, so a retry may really try again.

        Only the version this request wrote: deleting a key another request has taken over
        since would let a third request start a second paid generation.
        """
        self.store.delete(self.key, generation=claim.generation)


def expire_idempotency_keys(records: JobRecords) -> int:
    """Delete keys not written for 24 h; the number of errors met (each logged, none raised).

    The age comes from the listing (the object's last write: the claim, or its settling a
    moment later), so expiring reads no record. Each delete names the generation listed:
    a key taken over since belongs to a live request and stays.
    """
    store = records.store
    cutoff = records.clock() - IDEMPOTENCY_TTL
    errors = 0
    try:
        for listed in store.list_objects(layout.IDEMPOTENCY):
            if listed.updated >= cutoff:
                continue
            try:
                store.delete(listed.key, generation=listed.generation)
            except DreamwebError as error:
                errors += 1
                logger.warning("sweep could not expire key", extra={"error": type(error).__name__})
    except DreamwebError as error:
        logger.warning("sweep could not list keys", extra={"error": type(error).__name__})
        errors += 1
    return errors
