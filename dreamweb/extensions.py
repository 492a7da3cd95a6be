"""Flask extensions, created unbound here and bound to the app with ``init_app``."""

from __future__ import annotations

import time

from flask import Flask, current_app
from flask_cors import CORS
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from dreamweb import ratelimits

# The client address comes from ProxyFix (trusted hops only), so a forged X-Forwarded-For
# from the client cannot dodge the limits; IPv6 clients count per /64 (dreamweb.ratelimits).
# The generous read limit is the default (checked once, in the limiter's before_request);
# routes that create videos replace it with the strict RATELIMIT_CREATE. A route decorator per
# read endpoint would run the limiter's machinery twice per poll.
limiter = ratelimits.PollingLimiter(
    lambda: rate_limit_key(),  # per API token when API_TOKENS is set, else per address
    default_limits=[lambda: current_app.config[ratelimits.READ_LIMIT]],
    retry_after="delta-seconds",
)
# What browsers and clients poll every few seconds: their read limit takes the short path.
limiter.polled_endpoints = frozenset({"api.video_status", "web.dream_status"})
# One budget for starting paid generations, whether through the JSON API or the web form.
create_limit = limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_CREATE"], scope="create-video"
)
# When no breached window is known (should not happen), clients are asked to wait a minute.
UNKNOWN_WINDOW_SECONDS = 60.0
csrf = CSRFProtect()
cors = CORS()


def rate_limit_retry_after() -> float:
    """Seconds until the breached rate-limit window resets (for ``Retry-After``).

    The limiter's own headers are off (they cost a storage round trip per request), so the
    one header a throttled client needs is computed here, for the API and the web alike.
    """
    breached = limiter.current_limit
    return breached.reset_at - time.time() if breached else UNKNOWN_WINDOW_SECONDS


def rate_limit_key() -> str:
    """What limits count by (``dreamweb.api_clients``; imported late: it imports us)."""
    from dreamweb.api_clients import rate_limit_key as key

    return key()


def init_app(app: Flask) -> None:
    """Bind proxy handling, rate limits, CSRF protection and CORS to ``app``."""
    hops = app.config["TRUSTED_PROXY_HOPS"]
    if hops:
        # Client address and scheme only: Heroku-style routers keep the Host header and do
        # not strip a client's own X-Forwarded-Host, so trusting it would let anyone choose
        # the host our absolute URLs (Location, videoUrl) point at.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # tied to the session instead of a clock
    ratelimits.warn_if_per_process(app.config)
    app.config.update(ratelimits.limiter_config(app.config))
    limiter.init_app(app)
    csrf.init_app(app)
    origins = app.config["CORS_ORIGINS"]
    if not origins:
        return  # same origin only: no CORS headers at all, and no per-request CORS work
    cors.init_app(
        app,
        resources={r"/api/*": {"origins": origins}},
        expose_headers=[
            "Location",
            "Retry-After",
            "X-Request-ID",
            "Content-Range",
            "ETag",
            "WWW-Authenticate",
        ],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "X-Request-ID",
            "Range",
            "If-Range",
            "If-None-Match",
            "If-Modified-Since",
        ],
        max_age=600,
    )
