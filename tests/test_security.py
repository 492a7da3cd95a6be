"""Security headers, the content security policy and the session cookie (``dreamweb.security``)."""

from __future__ import annotations

import pytest

from dreamweb import create_app
from dreamweb.security import content_security_policy


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
