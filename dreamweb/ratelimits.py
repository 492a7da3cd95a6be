"""Rate-limit policy: who a client is, where the counters live, and what happens when they can't.

- **Who.** The client address is what the server saw, or what the trusted proxy hops said
  (``TRUSTED_PROXY_HOPS``, applied by ProxyFix before anything reads ``remote_addr``). IPv4
  clients are counted per address; IPv6 clients per /64, because one subscriber usually gets a
  whole /64 and could otherwise rotate through 2**64 addresses.
- **Where.** ``RATELIMIT_STORAGE_URI`` when set, else ``REDIS_URL`` (Heroku's convention), else
  ``memory://`` — which counts per worker process: the effective limit is the configured one
  times ``WEB_CONCURRENCY`` (times dynos), and production says so once at startup.
- **When Redis is down.** flask-limiter's in-memory fallback: each process keeps counting in its
  own memory (limits still apply, per process) and logs "Rate limit storage unreachable"; it
  probes Redis again with exponential backoff (up to ~30 s) and logs when it is back. Requests
  keep being served; storage errors never become 500s (``RATELIMIT_SWALLOW_ERRORS``).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import current_app, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage

logger = logging.getLogger("dreamweb.ratelimits")

MEMORY = "memory://"
LAZY_MEMORY = "dreamweb-memory://"
IPV6_PREFIX = 64
# A rate-limit check must never hold a request for long: Redis answers in well under a
# millisecond, so a second means it is gone (and the in-memory fallback takes over).
REDIS_TIMEOUT_SECONDS = 1.0


class LazyExpiryMemoryStorage(MemoryStorage):
    """limits' in-memory storage without a new timer thread per counted request.

    ``MemoryStorage`` starts a ``threading.Timer`` whenever the previous one has finished, so
    nearly every request paid for a thread start (measured: ~16 % of a status poll). Counters
    already expire on read (``get``); the timer only frees stale keys, which this does inline
    at most once a second. It overrides the parent's private hook (limits 5.x); the tests in
    tests/test_ratelimits.py fail if a limits release changes that.
    """

    STORAGE_SCHEME = ["dreamweb-memory"]
    SWEEP_SECONDS = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.last_sweep = time.monotonic()

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the parent's timer
        now = time.monotonic()
        if now - self.last_sweep >= self.SWEEP_SECONDS:
            self.last_sweep = now
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


class PollingLimiter(Limiter):
    """flask-limiter with a short path for the endpoints clients poll every few seconds.

    flask-limiter works out on every request which limits apply (route decorators, blueprints,
    exemptions, defaults): a trivial Flask request takes ~40 µs alone, ~90 µs with flask-limiter
    and no limit, ~120 µs with one default limit (``bench/limiter_cost.py``).
    The polled endpoints (``polled_endpoints``) carry the default read limit and nothing else,
    so for them it is hit directly in flask-limiter's own storage under the key its generic
    path uses (prefix, client, endpoint): the same counter either way.

    Everything unusual takes the generic path: a breach (which builds the 429 and the window
    Retry-After reads; a refused poll is counted twice there, harmlessly), limits switched
    off, the storage failing (flask-limiter logs it and falls back to memory) or already
    fallen back (flask-limiter probes for its return). This relies on flask-limiter 4's
    ``_check_request_limit`` hook and attributes; tests/test_ratelimits.py fails if they change.
    """

    polled_endpoints: frozenset[str] = frozenset()

    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        if in_middleware and callable_name is None and self._counted_poll():
            return
        super()._check_request_limit(callable_name, in_middleware)

    def _counted_poll(self) -> bool:
        """Count a poll against the read limit; ``False`` when the generic path must decide."""
        endpoint = request.endpoint
        if (
            endpoint not in self.polled_endpoints
            or not (self.enabled and self.initialized)
            or self._storage_dead
        ):
            return False
        key = self._key_func()
        args = [self._key_prefix, key, endpoint] if self._key_prefix else [key, endpoint]
        try:
            limits = read_limits(current_app.config[READ_LIMIT])
            return bool(key) and all(self.limiter.hit(limit, *args) for limit in limits)
        except Exception:  # the generic path meets it again, logs it and falls back
            return False


# The setting both paths read the read limit from (the generic one through default_limits).
READ_LIMIT = "RATELIMIT_READ"


@functools.lru_cache(maxsize=16)
def read_limits(setting: str) -> tuple[RateLimitItem, ...]:
    """``setting`` parsed, in the order flask-limiter checks limits (shortest window first)."""
    return tuple(sorted(parse_many(setting)))


@functools.lru_cache(maxsize=4096)  # parsing an address is most of a key's cost; polls repeat
def client_key(address: str) -> str:
    """The rate-limit identity of a client address: IPv4 as is, IPv6 as its /64 network."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)


def request_client_key() -> str:
    """The limiter's key function: the current request's client identity."""
    return client_key(request.remote_addr or "")


def storage_uri(settings: Mapping[str, Any]) -> str:
    """Where limit counters live: ``RATELIMIT_STORAGE_URI``, else ``REDIS_URL``, else memory."""
    uri = settings.get("RATELIMIT_STORAGE_URI") or settings.get("REDIS_URL") or MEMORY
    return MEMORY if uri == LAZY_MEMORY else uri


def limiter_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """flask-limiter's configuration keys for these settings."""
    uri = storage_uri(settings)
    if uri == MEMORY:
        uri = LAZY_MEMORY
    options = {}
    if uri.startswith(("redis://", "rediss://", "redis+")):
        options = {
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        }
    return {
        "RATELIMIT_STORAGE_URI": uri,
        "RATELIMIT_STORAGE_OPTIONS": options,
        "RATELIMIT_KEY_PREFIX": "dreamweb",  # a shared Redis may serve other apps too
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
    }


def effective_limit(limit: str, processes: int) -> str:
    """``limit`` multiplied by ``processes``, as each process counts on its own."""
    parts = []
    for item in parse_many(limit):
        per = item.GRANULARITY.name
        span = f"{item.multiples} {per}s" if item.multiples > 1 else per
        parts.append(f"{item.amount * processes}/{span}")
    return ";".join(parts)


def per_process_warning(settings: Mapping[str, Any]) -> str | None:
    """The startup warning when limits are counted per worker in production, else ``None``."""
    workers = settings.get("WEB_CONCURRENCY") or 1
    if (
        settings.get("DREAMWEB_ENV") != "production"
        or not settings.get("RATELIMIT_ENABLED", True)
        or workers <= 1
        or storage_uri(settings) != MEMORY
    ):
        return None
    create = settings["RATELIMIT_CREATE"]
    return (
        f"rate limits are counted per worker (memory:// with WEB_CONCURRENCY={workers}): "
        f"RATELIMIT_CREATE {create} is effectively {effective_limit(create, workers)} per "
        "dyno; set REDIS_URL to share one limit"
    )


def warn_if_per_process(settings: Mapping[str, Any]) -> None:
    """Log ``per_process_warning`` once (the app is built once, in gunicorn's master)."""
    warning = per_process_warning(settings)
    if warning:
        logger.warning(warning)
