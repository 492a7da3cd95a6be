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
from dataclasses import dataclass
from typing import Any

from dreamweb.errors import PreconditionFailedError
from dreamweb.jobs import Job
from dreamweb.storage import layout
from dreamweb.storage.base import VideoStore
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
    """Delivers the callbacks of finished jobs. ``video_url(job_id)`` gives a completed job's
    ``videoUrl`` outside any request (``hooks`` supplies it)."""

    store: VideoStore
    config: Mapping[str, Any]
    clock: Callable[[], float]
    video_url: Callable[[Job], str]

    def register(self, job_id: str, url: str, video_url: str) -> None:
        """Attach a callback to a just-created job: the marker first, then the record."""
        self.store.put_record(layout.callback_key(job_id), {"id": job_id}, generation=None)
        self._change(job_id, lambda data: data.get("callback") or new_callback(url, video_url))

    def deliver(self, job_id: str) -> None:
        """Make one attempt at ``job_id``'s callback if it is due and nobody else is on it."""
        claimed = self._claim(job_id)
        if claimed is None:
            return
        job = claimed
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
        for key in list(self.store.list(layout.CALLBACKS)):
            job_id = layout.job_id_from_key(key)
            record = self.store.get_record(layout.job_key(job_id)) if job_id else None
            callback = (record.data.get("callback") if record else None) or {}
            if callback.get("status", FAILED) != PENDING:
                self.store.delete(key)
                continue
            if job_id and self._due(record.data):
                attempted += 1
                self.deliver(job_id)
        return attempted

    # --- internals ---------------------------------------------------------------------

    def _due(self, data: Mapping[str, Any]) -> bool:
        callback, now = data.get("callback") or {}, self.clock()
        return (
            Job.from_record(data).is_final
            and callback.get("status") == PENDING
            and (callback.get("next_attempt_at") or 0) <= now
            and (callback.get("claimed_until") or 0) <= now
        )

    def _claim(self, job_id: str) -> Job | None:
        """Count the attempt and hold it for the send's duration, or ``None`` if not due."""
        record = self.store.get_record(layout.job_key(job_id))
        if record is None or not self._due(record.data):
            return None
        hold = 2 * float(self.config["WEBHOOK_TIMEOUT_SECONDS"]) + 5
        callback = dict(record.data["callback"])
        callback.update(attempts=callback["attempts"] + 1, claimed_until=self.clock() + hold)
        data = {**record.data, "callback": callback}
        try:
            self.store.put_record(layout.job_key(job_id), data, generation=record.generation)
        except PreconditionFailedError:
            return None  # another process claimed it (or the job changed): its turn
        return Job.from_record(data)

    def _send(self, callback: Mapping[str, Any], body: str) -> Attempt:
        try:
            target = check_callback_url(callback["url"], policy_from(self.config))
        except UnsafeCallbackError as error:
            return Attempt(None, error.public_message)  # e.g. re-pointed to a private address
        secret = self.config["WEBHOOK_SECRET"]
        if not secret:
            return Attempt(None, "WEBHOOK_SECRET is not configured")
        headers = signed_headers(secret, callback["id"], body, self.clock())
        return post(target, body.encode(), headers, float(self.config["WEBHOOK_TIMEOUT_SECONDS"]))

    def _settle(self, job_id: str, attempt: Attempt) -> dict[str, Any]:
        now = self.clock()
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

        callback = self._change(job_id, lambda data: settle(data["callback"]))
        if callback["status"] != PENDING:
            self.store.delete(layout.callback_key(job_id))
        return {k: callback[k] for k in ("status", "attempts")}

    def _change(
        self, job_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """Compare-and-set the record's ``callback`` to ``change(record)``; returns it."""
        for _ in range(8):
            record = self.store.get_record(layout.job_key(job_id))
            if record is None:
                raise PreconditionFailedError(f"job {job_id} is gone")
            callback = change(record.data)
            data = {**record.data, "callback": callback}
            try:
                self.store.put_record(layout.job_key(job_id), data, generation=record.generation)
            except PreconditionFailedError:
                continue
            return callback
        raise PreconditionFailedError(f"job {job_id} kept changing under us")
