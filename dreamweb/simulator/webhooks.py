"""Signed OpenRouter webhook deliveries, as the reference's verifier expects them.

``X-OpenRouter-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "{t},{raw body}")>``
(only when a secret is configured), ``X-OpenRouter-Idempotency-Key: <job id>-<status>``,
``Content-Type: application/json``. One delivery per terminal job, from a background thread
(so a receiver that calls the simulator back never deadlocks); every attempt is recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from typing import Any

import requests

DELIVERY_TIMEOUT = (2.0, 10.0)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1`` value: hex HMAC-SHA256 of ``"{t},{raw body}"`` keyed with the secret."""
    return hmac.new(secret.encode(), f"{timestamp},".encode() + body, hashlib.sha256).hexdigest()


def delivery_headers(job_id: str, status: str, body: bytes, secret: str | None) -> dict[str, str]:
    """The headers of one delivery."""
    headers = {
        "Content-Type": "application/json",
        "X-OpenRouter-Idempotency-Key": f"{job_id}-{status}",
    }
    if secret:
        timestamp = int(time.time())
        headers["X-OpenRouter-Signature"] = f"t={timestamp},v1={signature(secret, timestamp, body)}"
    return headers


class WebhookSender:
    """Posts deliveries on background threads and keeps a record of each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []

    def send(self, url: str, event: dict[str, Any], key: tuple[str, str], secret: str | None):
        """Deliver ``event`` to ``url``; ``key`` is (job id, status) for the idempotency key."""
        body = json.dumps(event).encode()
        record: dict[str, Any] = {
            "url": url,
            "headers": delivery_headers(*key, body, secret),
            "body": body.decode(),
            "status": None,
            "error": None,
        }
        with self._lock:
            self._records.append(record)
        thread = threading.Thread(target=self._post, args=(record, body), daemon=True)
        thread.start()

    def _post(self, record: dict[str, Any], body: bytes) -> None:
        try:
            answer = requests.post(
                record["url"], data=body, headers=record["headers"], timeout=DELIVERY_TIMEOUT
            )
            outcome = {"status": answer.status_code}
        except requests.RequestException as error:
            outcome = {"error": f"{type(error).__name__}: {error}"}
        with self._lock:
            record.update(outcome)

    def records(self) -> list[dict[str, Any]]:
        """Copies of every delivery so far (``status`` stays ``None`` until answered)."""
        with self._lock:
            return [dict(record) for record in self._records]

    def clear(self) -> None:
        """Forget the records (in-flight deliveries still complete)."""
        with self._lock:
            self._records = []
