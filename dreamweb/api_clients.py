"""Who is calling the JSON API, and what only the caller who created a job may do.

Flask glue over ``dreamweb.api_tokens``: the request's client (its token hash when
``API_TOKENS`` is set, else its address) for rate limits, the per-client budget and
idempotency keys; and ``DELETE /api/videos/<jobId>`` for the token that created the job.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, g, request
from flask_limiter.util import get_remote_address

from dreamweb.api_tokens import ApiTokens, client_scope
from dreamweb.error_handlers import error_response
from dreamweb.errors import NotFoundError, UnauthorizedError
from dreamweb.ratelimits import request_client_key
from dreamweb.services import services
from dreamweb.validators import validate_job_id

bp = Blueprint("api_owner", __name__, url_prefix="/api")
TOKENS_EXTENSION = "dreamweb.api_tokens"


@dataclass(frozen=True)
class ApiClient:
    """The caller: ``scope`` names it in counters and keys; ``token`` is its token's hash."""

    scope: str
    token: str | None


def api_tokens() -> ApiTokens:
    """The current app's configured tokens."""
    return current_app.extensions[TOKENS_EXTENSION]


def _presented_token() -> str | None:
    """The hash of this request's valid bearer token (looked up once per request)."""
    if "api_token" not in g:
        g.api_token = api_tokens().identify(request.headers.get("Authorization"))
    return g.api_token


def api_client() -> ApiClient:
    """The API caller; ``UnauthorizedError`` when tokens are on and none valid was sent."""
    address = get_remote_address() or ""
    if not api_tokens().enabled:
        return ApiClient(address, None)
    token = _presented_token()
    if token is None:
        raise UnauthorizedError()
    return ApiClient(client_scope(token, address), token)


def rate_limit_key() -> str:
    """What flask-limiter counts by: the API token when one is valid, else the address (an
    IPv6 client's /64, see ``dreamweb.ratelimits``)."""
    address = request_client_key()
    if api_tokens().enabled and request.path.startswith("/api/"):
        token = _presented_token()
        if token is not None:
            return client_scope(token, address)
    return address


@bp.delete("/videos/<path:job_id>")
def delete_video(job_id: str) -> Response:
    """Delete a job the caller's token created: video, thumbnail, record, provider copy."""
    if not api_tokens().enabled:
        # No tokens, no owners: nobody can prove a job is theirs. An empty Allow says the
        # method is switched off by configuration (RFC 9110, 10.2.1).
        response = error_response("Deleting videos needs API tokens (API_TOKENS)", 405)
        response.headers["Allow"] = ""
        return response
    caller = api_client()
    job_id = validate_job_id(job_id)
    jobs = services().jobs
    missing = NotFoundError(f"Job not found: {job_id}")
    if jobs.get(job_id).token_hash != caller.token:
        raise missing  # another client's job does not exist as far as this one knows
    try:
        jobs.delete(job_id)
    except NotFoundError:
        raise missing from None
    return Response(status=204)


def init_app(app: Flask) -> None:
    """Parse the tokens once and register the owner-only API routes."""
    from dreamweb.api import options_as_json
    from dreamweb.extensions import csrf

    app.extensions[TOKENS_EXTENSION] = ApiTokens(app.config.get("API_TOKENS") or ())
    if options_as_json not in bp.after_request_funcs.get(None, []):
        bp.after_request(options_as_json)
    app.register_blueprint(bp)
    csrf.exempt(bp)
