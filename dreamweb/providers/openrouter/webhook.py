"""OpenRouter's signed webhooks, as pure functions (no Flask, no I/O).

A delivery is a JSON POST with ``X-OpenRouter-Signature: t=<unix seconds>,v1=<hex>``, where
``v1`` is HMAC-SHA256 (keyed with the workspace's signing secret) of ``"{t},{raw body}"``, and
``X-OpenRouter-Idempotency-Key: <job id>-<status>`` (the same for every retry of one delivery).
The body is ``{"type": "video.generation.<status>", "created_at": ..., "data": {"id": ...}}``.
See ``/work/shared/reference/openrouter-videos.md`` §6.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

SIGNATURE_HEADER = "X-OpenRouter-Signature"
IDEMPOTENCY_HEADER = "X-OpenRouter-Idempotency-Key"
TOLERANCE_SECONDS = 300
EVENT_PREFIX = "video.generation."


@dataclass(frozen=True)
class Delivery:
    """What a verified delivery says: which OpenRouter job, and the state it reached."""

    provider_job_id: str
    status: str


def signature_problem(
    raw_body: bytes,
    header: str | None,
    secret: str,
    *,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> str | None:
    """Why ``header`` does not sign ``raw_body`` with ``secret`` (for the log), or ``None``.

    The MAC is computed over the exact bytes received (never re-serialised JSON) and compared
    in constant time. A timestamp more than ``tolerance`` seconds away from ``now`` either way
    is refused: old ones are replays, future ones cannot come from an honest clock.
    """
    if not header:
        return "missing signature"
    parts = dict(part.strip().split("=", 1) for part in header.split(",") if "=" in part)
    timestamp, given = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or not given:
        return "malformed signature"
    if abs(now - int(timestamp)) > tolerance:
        return "stale timestamp"
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"," + raw_body, hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, given.lower()):
        return "signature mismatch"
    return None


def parse_delivery(raw_body: bytes) -> Delivery:
    """The job id and status a (verified) delivery reports; ``ValueError`` when malformed."""
    try:
        event = json.loads(raw_body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError("body is not JSON") from None
    data = event.get("data") if isinstance(event, dict) else None
    job_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(job_id, str) or not job_id:
        raise ValueError("no data.id")
    event_type = event.get("type")
    status = data.get("status")
    if not isinstance(status, str) and isinstance(event_type, str):
        status = event_type.removeprefix(EVENT_PREFIX)
    return Delivery(job_id, status if isinstance(status, str) else "")
