"""The one table of machine-readable error codes: every ``code`` a client can branch on.

An API error answers ``{"error": "<human text>", "code": "<code>"}``; a failed job's status
carries ``errorCode`` beside ``error``. Codes are stable: the English text may change, a code
never does. The OpenAPI enums, the README table and the tests all read these tables.

``ERROR_CODES`` holds the codes of HTTP error answers, each with the status it comes with; every
``dreamweb.errors`` class names one of them. A failed job's ``errorCode`` (in a 200 status answer
and the webhook) is not here: each ``FailureCode`` of ``dreamweb.jobs.model`` (the one table of
failure codes) carries its own, read with ``failure_api_code``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    """One code: the HTTP status it comes with and what it means to a client."""

    status: int
    meaning: str


ERROR_CODES: dict[str, ErrorCode] = {
    # --- the request itself (fix it before retrying) ---
    "invalid_request": ErrorCode(400, "The body is not a JSON object, or the request is malformed"),
    "invalid_prompt": ErrorCode(
        400, "prompt is missing, not a string, or not 10-500 characters once sanitized"
    ),
    "invalid_seconds": ErrorCode(400, "seconds is not one of the allowed durations"),
    "invalid_size": ErrorCode(400, "size is not one of the allowed sizes"),
    "invalid_callback_url": ErrorCode(
        400, "callbackUrl is not an allowed https URL, or its host is not a public address"
    ),
    "invalid_idempotency_key": ErrorCode(400, "Idempotency-Key is not 1-255 visible ASCII"),
    "invalid_job_id": ErrorCode(400, "The job id is not `video_` + 4-44 letters or digits"),
    "provider_rejected": ErrorCode(400, "The video provider refused the request's input"),
    "content_policy": ErrorCode(
        400, "The video provider refused the prompt under its content policy: reword it"
    ),
    "unauthorized": ErrorCode(
        401, "Missing or wrong API token (when the server requires tokens; see WWW-Authenticate)"
    ),
    "not_found": ErrorCode(404, "No such job, video or path"),
    "method_not_allowed": ErrorCode(405, "The path does not answer this method (see Allow)"),
    "idempotency_conflict": ErrorCode(
        409, "A request with this Idempotency-Key is still in progress: retry after Retry-After"
    ),
    "idempotency_key_reused": ErrorCode(
        409, "This Idempotency-Key was already used with a different request body"
    ),
    "conflict": ErrorCode(409, "The job kept changing under this request: retry it"),
    "payload_too_large": ErrorCode(413, "The body is larger than the server accepts"),
    "unsupported_media_type": ErrorCode(415, "The body is not sent as application/json"),
    "rate_limited": ErrorCode(429, "Too many requests from this client: wait Retry-After"),
    # --- the server or its peers (retrying later may help) ---
    "internal_error": ErrorCode(500, "An unexpected server error"),
    "provider_unavailable": ErrorCode(502, "The video provider failed or could not be reached"),
    "provider_auth_failed": ErrorCode(502, "The video provider rejected this server's credentials"),
    "video_too_large": ErrorCode(502, "The provider's video is larger than this server keeps"),
    "provider_rate_limited": ErrorCode(503, "The video provider is busy: wait Retry-After"),
    "provider_busy": ErrorCode(
        503,
        "Too many calls to the video provider are in flight: nothing was started; wait Retry-After",
    ),
    "provider_paused": ErrorCode(
        503,
        "The video provider kept failing, so calls to it are paused: nothing was started; "
        "wait Retry-After",
    ),
    "provider_quota_exhausted": ErrorCode(503, "The provider account has no quota left"),
    "provider_out_of_credits": ErrorCode(
        503, "The provider account is out of credits until the operator adds some"
    ),
    "budget_exhausted": ErrorCode(
        503, "Today's video budget is used up: wait Retry-After (until 00:00 UTC)"
    ),
    "not_configured": ErrorCode(
        503,
        "Video creation (or a feature such as webhooks) is not configured on this server, "
        "or the provider refuses this server's setup",
    ),
    "storage_unavailable": ErrorCode(503, "Video storage is unavailable"),
}

# The code of an HTTP error nothing more specific names (werkzeug's own 404/405/413, ...).
_BY_STATUS = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    502: "provider_unavailable",
    503: "storage_unavailable",
}


def code_for_status(status: int) -> str:
    """The generic code of an HTTP error ``status`` (``internal_error`` for anything else)."""
    return _BY_STATUS.get(status, "invalid_request" if 400 <= status < 500 else "internal_error")


def http_codes() -> list[str]:
    """Codes an HTTP error response can carry (the ``Error.code`` enum)."""
    return list(ERROR_CODES)


def replayed_code(settled: dict[str, object]) -> str:
    """The code of an idempotent request's first (error) answer, as its key record kept it.

    Records settled before codes existed have none: their status's generic code stands in.
    """
    code = settled.get("code")
    status = settled.get("status")
    if isinstance(code, str) and code in ERROR_CODES:
        return code
    return code_for_status(status if isinstance(status, int) else 500)
