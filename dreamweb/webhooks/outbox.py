"""Webhook delivery state, kept in the job record (``callback``), and the delivery itself.

State of one job's callback (``Job.callback``)::

    {"url": ..., "id": "msg_...", "status": "pending"|"delivered"|"failed", "attempts": n,
     "next_attempt_at": unix|None, "claimed_until": unix|None, "last_result": "HTTP 500"|...}

A marker ``callbacks/<jobId>`` stays in the store until the delivery is settled, so the
sweeper finds pending ones after the job's own ``active/`` marker is gone. Each attempt is
claimed with compare-and-set on the record first, so two processes never send the same attempt
at once; a process that dies mid-attempt leaves a claim that simply expires. Delivery is at
least once: a receiver that got the body but whose answer was lost gets it again, with the same
``webhook-id``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from dreamweb.errors import PreconditionFailedError
from dreamweb.jobs import Job, JobRecords
from dreamweb.storage import layout
from dreamweb.webhooks.addresses import CallbackPolicy, UnsafeCallbackError, check_callback_url
from dreamweb.webhooks.sender import Attempt, post
from dreamweb.webhooks.signing import new_message_id, signed_headers

logger = logging.getLogger("dreamweb.webhooks")

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
MAX_DELAY = 3600.0


def policy_from(config: Mapping[str, Any]) -> CallbackPolicy:
    """The callback URL policy of a configuration."""
    return CallbackPolicy(
        https_only=config["DREAMWEB_ENV"] == "production",
        allowed_hosts=tuple(config["WEBHOOK_ALLOWED_HOSTS"]),
        allow_private=config["WEBHOOK_ALLOW_PRIVATE_HOSTS"],
    )


def retry_delay(attempts: int, first: float) -> float:
    """Seconds before attempt ``attempts + 1``: ``first``, doubling, at most an hour."""
    return min(MAX_DELAY, first * 2 ** (attempts - 1))


def retry_span(max_attempts: int, first: float) -> float:
    """How long after the first attempt the last one happens (the schedule's reach)."""
    return sum(retry_delay(n, first) for n in range(1, max_attempts))


def new_callback(url: str, video_url: str) -> dict[str, Any]:
    """The delivery state of a freshly registered callback."""
    return {
        "url": url,
        "video_url": video_url,
        "id": new_message_id(),
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": None,
        "claimed_until": None,
        "last_result": None,
    }


@dataclass
class Outbox:
    """Delivers the callbacks of finished jobs, changing job records through ``records`` (its
    compare-and-set and cache). ``video_url(job)`` gives a completed job's ``videoUrl`` outside
    any request (``hooks`` supplies it)."""

    records: JobRecords
    config: Mapping[str, Any]
    video_url: Callable[[Job], str]

    def register(self, job_id: str, url: str, video_url: str) -> None:
        """Attach a callback to a just-created job: the marker first, then the record."""
        self.records.store.put_record(layout.callback_key(job_id), {"id": job_id}, generation=None)
        fresh = new_callback(url, video_url)
        self.records.update(
            job_id, lambda job: job if job.callback else replace(job, callback=fresh)
        )

    def deliver(self, job_id: str) -> None:
        """Make one attempt at ``job_id``'s callback if it is due and nobody else is on it."""
        job = self._claim(job_id)
        if job is None:
            return
        callback = job.callback or {}
        body = json.dumps(self.body(job), separators=(",", ":"))
        attempt = self._send(callback, body)
        settled = self._settle(job_id, attempt)
        logger.info(
            "webhook attempt",
            extra={
                "job_id": job_id,
                "attempt": callback["attempts"],
                "result": attempt.summary(),
                "callback": settled,
            },
        )

    def body(self, job: Job) -> dict[str, Any]:
        """What the receiver gets: the job's status document (without the delivery state)."""
        from dreamweb.job_status import status_document

        return status_document(job, lambda: self.video_url(job))

    def sweep(self) -> int:
        """Attempt every due callback; forget markers of settled or vanished ones. Returns how
        many attempts were made."""
        attempted = 0
        store = self.records.store
        for key in list(store.list(layout.CALLBACKS)):
            job_id = layout.job_id_from_key(key)
            record = self.records.read(job_id, fresh=True) if job_id else None
            job = Job.from_record(record.data) if record else None
            if job is None or (job.callback or {}).get("status", FAILED) != PENDING:
                store.delete(key)
                continue
            if self._due(job):
                attempted += 1
                self.deliver(job.id)
        return attempted

    # --- internals ---------------------------------------------------------------------

    def _due(self, job: Job) -> bool:
        callback, now = job.callback or {}, self.records.clock()
        return (
            job.is_final
            and callback.get("status") == PENDING
            and (callback.get("next_attempt_at") or 0) <= now
            and (callback.get("claimed_until") or 0) <= now
        )

    def _claim(self, job_id: str) -> Job | None:
        """Count the attempt and hold it for the send's duration, or ``None`` if not due."""
        record = self.records.read(job_id, fresh=True)
        if record is None:
            return None
        job = Job.from_record(record.data)
        if not self._due(job):
            return None
        hold = 2 * float(self.config["WEBHOOK_TIMEOUT_SECONDS"]) + 5
        callback = dict(job.callback or {})
        callback.update(
            attempts=callback["attempts"] + 1, claimed_until=self.records.clock() + hold
        )
        job = replace(job, callback=callback)
        try:
            self.records.write(job, generation=record.generation)
        except PreconditionFailedError:
            return None  # another process claimed it (or the job changed): its turn
        return job

    def _send(self, callback: Mapping[str, Any], body: str) -> Attempt:
        try:
            target = check_callback_url(callback["url"], policy_from(self.config))
        except UnsafeCallbackError as error:
            return Attempt(None, error.public_message)  # e.g. re-pointed to a private address
        secret = self.config["WEBHOOK_SECRET"]
        if not secret:
            return Attempt(None, "WEBHOOK_SECRET is not configured")
        headers = signed_headers(secret, callback["id"], body, self.records.clock())
        return post(target, body.encode(), headers, float(self.config["WEBHOOK_TIMEOUT_SECONDS"]))

    def _settle(self, job_id: str, attempt: Attempt) -> dict[str, Any]:
        now = self.records.clock()
        max_attempts = int(self.config["WEBHOOK_MAX_ATTEMPTS"])
        first = float(self.config["WEBHOOK_RETRY_FIRST_SECONDS"])

        def settle(callback: dict[str, Any]) -> dict[str, Any]:
            callback = {**callback, "claimed_until": None, "last_result": attempt.summary()}
            if attempt.delivered:
                callback.update(status=DELIVERED, next_attempt_at=None)
            elif callback["attempts"] >= max_attempts:
                callback.update(status=FAILED, next_attempt_at=None)
            else:
                callback["next_attempt_at"] = now + retry_delay(callback["attempts"], first)
            return callback

        job = self.records.update(job_id, lambda j: replace(j, callback=settle(j.callback or {})))
        callback = job.callback or {}
        if callback["status"] != PENDING:
            self.records.store.delete(layout.callback_key(job_id))
        return {k: callback[k] for k in ("status", "attempts")}
