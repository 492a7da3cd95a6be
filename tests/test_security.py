"""Security headers, the content security policy and the session cookie (``dreamweb.security``)."""

from __future__ import annotations

import pytest
from flask import Flask, session

from dreamweb import create_app
from dreamweb.security import SessionCookies, content_security_policy


@pytest.mark.parametrize("path", ["/", "/no/such/page", "/static/css/dreamweb.css"])
def test_security_headers_on_every_response(client, path):
    with client.get(path) as response:
        headers = response.headers
    csp = headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


def test_signed_url_mode_allows_media_from_the_storage_origin():
    policy = content_security_policy({"VIDEO_DELIVERY": "signed-url"})
    assert "media-src 'self' https://storage.googleapis.com" in policy
    emulated = content_security_policy(
        {"VIDEO_DELIVERY": "signed-url", "STORAGE_EMULATOR_HOST": "http://127.0.0.1:4443"}
    )
    assert "media-src 'self' http://127.0.0.1:4443;" in emulated
    assert "media-src 'self';" in content_security_policy({"VIDEO_DELIVERY": "proxy"})


def test_session_cookie_is_httponly_lax_and_secure_in_production(client, app_config):
    cookie = client.get("/").headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "; HttpOnly" in cookie and "; SameSite=Lax" in cookie
    assert "; Secure" not in cookie  # development over plain http
    production = create_app(
        {**app_config, "DREAMWEB_ENV": "production", "SECRET_KEY": "a-production-secret"}
    ).test_client()
    secure = production.get("/", base_url="https://dreamweb.example").headers["Set-Cookie"]
    assert "; Secure" in secure and "; HttpOnly" in secure and "; SameSite=Lax" in secure


def counting_app(secret: str, fallbacks: list[str] | None = None) -> Flask:
    """A bare app with ``SessionCookies`` whose one view counts visits in the session."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret, SECRET_KEY_FALLBACKS=fallbacks or [])
    app.session_interface = SessionCookies()

    @app.get("/")
    def visit() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    return app


def test_the_session_serializer_is_built_once_per_key():
    app = counting_app("first-key")
    client = app.test_client()
    assert [client.get("/").text for _ in range(3)] == ["1", "2", "3"]
    serializer = app.session_interface.get_signing_serializer(app)
    assert app.session_interface.get_signing_serializer(app) is serializer


def test_a_rotated_key_is_seen_at_once_and_its_fallback_still_reads_old_cookies():
    app = counting_app("first-key")
    client = app.test_client()
    assert client.get("/").text == "1"
    app.config["SECRET_KEY_FALLBACKS"] = ["first-key"]
    app.secret_key = "second-key"
    assert client.get("/").text == "2", "the old cookie reads through the fallback"
    app.config["SECRET_KEY_FALLBACKS"] = []
    app.secret_key = "third-key"
    assert client.get("/").text == "1", "the second-key cookie no longer reads"
