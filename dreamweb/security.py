"""Security headers on every response, and the session cookie's flags.

The Content-Security-Policy allows only the app's own scripts and styles: the templates have no
inline ``<script>``, ``style=`` or event-handler attributes, and htmx is configured (``<meta
name="htmx-config">``) not to inject its indicator ``<style>`` nor to evaluate code. Media may
also come from the storage origin when videos are delivered as signed URLs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

GCS_ORIGIN = "https://storage.googleapis.com"
HSTS = "max-age=31536000; includeSubDomains"


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per key set.

    Flask opens the session on every request and builds a new serializer each time, status
    polls included (the API never uses a session): that was ~30 µs of a ~240 µs poll.
    """

    def __init__(self) -> None:
        self._cached: tuple[object, URLSafeTimedSerializer | None] = (None, None)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """The serializer for the app's current secret key and fallbacks (cached)."""
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached_keys, serializer = self._cached  # one tuple: safe to read while replaced
        if cached_keys != keys:
            serializer = super().get_signing_serializer(app)
            self._cached = (keys, serializer)
        return serializer


def storage_media_origin(config: Mapping[str, Any]) -> str | None:
    """The origin signed video URLs point at, or ``None`` when videos are served by the app."""
    if config.get("VIDEO_DELIVERY") != "signed-url":
        return None
    emulator = config.get("STORAGE_EMULATOR_HOST")
    if emulator:
        parts = urlsplit(emulator)
        return f"{parts.scheme}://{parts.netloc}"
    return GCS_ORIGIN


def content_security_policy(config: Mapping[str, Any]) -> str:
    """The CSP header value for this deployment."""
    media = " ".join(filter(None, ["'self'", storage_media_origin(config)]))
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        f"media-src {media}",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
    return "; ".join(directives)


def security_headers(config: Mapping[str, Any]) -> dict[str, str]:
    """Headers every response carries."""
    return {
        "Content-Security-Policy": content_security_policy(config),
        "X-Content-Type-Options": "nosniff",
        # The dream text travels in "dream again" links: it must not leak to other sites.
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }


def init_app(app: Flask) -> None:
    """Set the session cookie flags and add the security headers to every response."""
    # Flask's defaults already hold these keys (SameSite as ``None``), so ``setdefault`` would
    # never apply: set them unless a deployment chose a value itself.
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # ``SESSION_COOKIE_SECURE`` comes from config: on in production, off for local http.
    app.session_interface = SessionCookies()
    headers = list(security_headers(app.config).items())
    names = {name.lower() for name, _ in headers}
    production = app.config.get("DREAMWEB_ENV") == "production"

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        # One pass over the response's headers instead of one per name: this runs on every
        # status poll, and werkzeug's Headers is a list.
        present = {name.lower() for name, _ in response.headers} & names
        response.headers.extend(
            headers if not present else [(k, v) for k, v in headers if k.lower() not in present]
        )
        if production and request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
