"""Incoming provider webhooks (``/webhooks``): ``POST /webhooks/openrouter``.

On when ``VIDEO_PROVIDER=openrouter`` with ``PUBLIC_URL`` and ``OPENROUTER_WEBHOOK_SECRET``
set: each create then sends ``callback_url`` = ``PUBLIC_URL`` + this route with our job id in
the query (``?job=video_…``). A delivery is answered at once:

* 401 — missing, forged or stale signature (wrong secret included): nothing read, nothing changed;
* 204 — accepted (the job is checked and its video copied in, in the background), or nothing to
  do (a replayed delivery, a finished or deleted job);
* 400 — a signed delivery that is not about the job in its URL, or has no job id;
* 503 + ``Retry-After`` — the create has not yet recorded OpenRouter's id for the job.

Exempt from CSRF (no session, the signature is the authentication) and from the per-address
rate limit (every delivery comes from OpenRouter's few addresses; a flood of forgeries costs one
HMAC each and is refused before any storage access).
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, current_app, jsonify, request

from dreamweb.error_codes import code_for_status
from dreamweb.error_handlers import set_retry_after
from dreamweb.jobs.webhooks import WebhookOutcome, accept_webhook
from dreamweb.providers.openrouter import webhooks_enabled
from dreamweb.providers.openrouter.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    parse_delivery,
    signature_problem,
)
from dreamweb.services import services

logger = logging.getLogger("dreamweb.provider_webhooks")

bp = Blueprint("provider_webhooks", __name__, url_prefix="/webhooks")

NOT_READY_RETRY_SECONDS = 5
ANSWERS = {
    WebhookOutcome.MISMATCH: (400, "The delivery is not about this job"),
    WebhookOutcome.NOT_READY: (503, "The job is still being created; deliver again shortly"),
}


@bp.post("/openrouter")
def openrouter() -> Response:
    """Verify an OpenRouter delivery, then hand the job to the background (see module doc)."""
    config = current_app.config
    if not webhooks_enabled(config):
        return _answer(404, "Not found")
    raw = request.get_data(cache=False)
    secret = config["OPENROUTER_WEBHOOK_SECRET"]
    problem = signature_problem(raw, request.headers.get(SIGNATURE_HEADER), secret, now=time.time())
    if problem is not None:
        logger.warning("openrouter webhook refused", extra={"reason": problem})
        return _answer(401, "Invalid webhook signature")
    try:
        delivery = parse_delivery(raw)
    except ValueError as error:
        logger.warning("openrouter webhook unreadable", extra={"reason": str(error)})
        return _answer(400, "The delivery has no job id")
    job_id = request.args.get("job", "")
    outcome = accept_webhook(
        services().jobs,
        provider="openrouter",
        job_id=job_id,
        provider_job_id=delivery.provider_job_id,
        # A delivery without the header is deduplicated on what it reports.
        delivery_key=request.headers.get(IDEMPOTENCY_HEADER)
        or f"{delivery.provider_job_id}-{delivery.status}",
    )
    log = logger.warning if outcome in ANSWERS else logger.info
    log(
        "openrouter webhook",
        extra={"job_id": job_id, "status": delivery.status, "outcome": outcome.value},
    )
    if outcome in ANSWERS:
        status, message = ANSWERS[outcome]
        retry = NOT_READY_RETRY_SECONDS if outcome is WebhookOutcome.NOT_READY else None
        return set_retry_after(_answer(status, message), retry)
    return Response(status=204)


def _answer(status: int, message: str) -> Response:
    response = jsonify(error=message, code=code_for_status(status))
    response.status_code = status
    return response
