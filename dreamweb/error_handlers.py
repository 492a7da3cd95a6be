"""Turn every error into the answer the client can read: JSON under ``/api``, a page elsewhere.

The JSON shape is always ``{"error": "<human text>"}``. Nothing here ever renders a traceback
or an exception's internals; unexpected errors are logged with their stack and answered with a
generic 500.
"""

from __future__ import annotations

import logging
import math

from flask import Flask, Response, jsonify, render_template, request
from flask_limiter import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from dreamweb.errors import DreamwebError
from dreamweb.extensions import rate_limit_retry_after

logger = logging.getLogger("dreamweb.errors")

FRIENDLY_TITLES = {
    400: "That didn't look right",
    404: "We couldn't find that dream",
    405: "That isn't allowed here",
    413: "That was too much to send",
    429: "Slow down a little",
    503: "The dream machine is busy",
}


def wants_json() -> bool:
    """API paths always get JSON; other paths get JSON only when they ask for it first."""
    if request.blueprint == "api" or request.path.startswith("/api/") or request.path == "/api":
        return True
    accept = request.accept_mimetypes
    return accept.best_match(["text/html", "application/json"]) == "application/json" and (
        accept["application/json"] > accept["text/html"]
    )


def set_retry_after(response: Response, seconds: float | None) -> Response:
    """Write ``Retry-After`` (whole seconds, rounded up, never 0) when a wait is known.

    The one place the header is written, for the API and the web pages alike.
    """
    if seconds is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(seconds)))
    return response


def error_page(message: str, status: int, *, retry_url: str | None = None) -> Response:
    """The friendly HTML error page (with a "try again" link that keeps the dream, if given)."""
    title = FRIENDLY_TITLES.get(status, "Something went wrong")
    body = render_template(
        "error.html", status=status, title=title, message=message, retry_url=retry_url
    )
    return Response(body, status=status, mimetype="text/html")


def error_response(message: str, status: int, *, retry_after: float | None = None) -> Response:
    """An error in the form the client wants, with ``Retry-After`` when one is known."""
    if wants_json():
        response = jsonify(error=message)
        response.status_code = status
    else:
        response = error_page(message, status)
    if not request.path.startswith("/api/"):
        response.vary.add("Accept")  # JSON or HTML was chosen by Accept: caches must know
    return set_retry_after(response, retry_after)


def _http_message(error: HTTPException) -> str:
    if error.code == 413:
        return "Request body too large"
    if error.code == 429:
        return f"Rate limit exceeded: {error.description}"
    if error.code == 404:
        return "Not found"
    if error.code == 405:
        return f"Method {request.method} not allowed"
    return error.description or error.name


def init_app(app: Flask) -> None:
    """Register the handlers on ``app``."""

    @app.errorhandler(DreamwebError)
    def handle_dreamweb_error(error: DreamwebError) -> Response:
        if getattr(error, "detail", None):
            logger.info(
                "upstream said",
                extra={"error": type(error).__name__, "upstream_message": error.detail},
            )
        if error.status >= 500:
            logger.warning(
                "request failed: %s",
                type(error).__name__,
                extra={"error": error.public_message, "path": request.path},
            )
        response = error_response(error.public_message, error.status, retry_after=error.retry_after)
        response.headers.update(getattr(error, "headers", {}))  # e.g. 401's WWW-Authenticate
        return response

    @app.errorhandler(RateLimitExceeded)
    def handle_rate_limited(error: RateLimitExceeded) -> Response:
        return error_response(_http_message(error), 429, retry_after=rate_limit_retry_after())

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        response = error_response(_http_message(error), error.code or 500)
        if error.code == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        logger.exception("unhandled error", extra={"path": request.path})
        return error_response("Internal server error", 500)
