"""Safe logging of upstream provider calls: fields only, never headers or bodies (they may
hold the key)."""

from __future__ import annotations

import logging
from typing import Any

from dreamweb.errors import ProviderError
from dreamweb.providers.calls import Call, Outcome

logger = logging.getLogger("dreamweb.provider")


def call_fields(call: Call) -> dict[str, Any]:
    """The log fields that name ``call`` (operation, method, path; never the query or body)."""
    return {"op": call.op, "method": call.method, "path": call.path}


def log_call(
    provider: str,
    level: int,
    message: str,
    call: Call,
    outcome: Outcome,
    attempt: int,
    **more: Any,
) -> None:
    """Log one upstream call. Headers and bodies are never logged: they may hold the key."""
    extra = call_fields(call) | {
        "provider": provider,
        "status": outcome.status,
        "duration_ms": outcome.duration_ms,
        "upstream_request_id": outcome.request_id,
        "attempt": attempt,
    }
    if outcome.error is not None:
        extra["error"] = type(outcome.error).__name__
    logger.log(level, message, extra=extra | more)


def log_failure(
    provider: str,
    call: Call,
    outcome: Outcome,
    attempt: int,
    wait: float | None,
    failure: ProviderError,
) -> None:
    """Log a failed attempt: retried (with the wait) or final (with the error it ends in)."""
    if wait is None:
        message, more = "provider call failed", {"failure": type(failure).__name__}
    else:
        message, more = "provider call failed; retrying", {"retry_in_s": round(wait, 3)}
    log_call(provider, logging.WARNING, message, call, outcome, attempt, **more)
