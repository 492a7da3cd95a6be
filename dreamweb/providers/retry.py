"""The retry policy every HTTP provider shares (pure: no I/O).

Modelled on the official OpenAI SDK (``/work/shared/reference/videos-api.md``): 2 retries,
``x-should-retry`` override, ``retry-after-ms`` / ``retry-after`` or jittered exponential
backoff, all inside a total deadline. One rule is ours and holds for every provider: a *create*
is repeated only when the first attempt surely never started a job — a 429 refusal or a
connection that never opened. A read timeout, a dropped connection or a 5xx may hide an accepted
(and billed) job, so a retry there could pay twice.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

import requests
import urllib3.exceptions

from dreamweb.providers.calls import Outcome
from dreamweb.providers.wire import finite_float

# A private generator for jitter, so retries in background threads leave the global
# ``random`` state alone.
_JITTER = random.Random()
os.register_at_fork(after_in_child=_JITTER.seed)  # forked workers must not share a sequence

MAX_SERVER_WAIT = 60.0  # a retry-after beyond this is not waited for (SDK: 60 s)
BACKOFF_BASE, BACKOFF_CAP = 0.5, 8.0
RETRYABLE_STATUSES = frozenset({408, 409, 429})

TRANSIENT_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, else ``retry-after``.

    ``retry-after`` may be seconds (possibly decimal) or an HTTP date. Returns ``None`` when
    neither header is present or parseable; never negative.
    """
    millis = finite_float(headers.get("retry-after-ms"))
    if millis is not None and millis >= 0:
        return millis / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = finite_float(value)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def retry_wait(retries_done: int, headers: Mapping[str, str], rand: float | None = None) -> float:
    """How long to sleep before the next attempt (the SDK's rule).

    The server's wish when it is between 0 and 60 s; otherwise exponential backoff
    ``min(0.5 * 2**n, 8)`` with up to 25 % jitter subtracted.
    """
    asked = parse_retry_after(headers)
    if asked is not None and 0 <= asked <= MAX_SERVER_WAIT:
        return asked
    jitter = 1 - 0.25 * (_JITTER.random() if rand is None else rand)
    return min(BACKOFF_BASE * 2**retries_done, BACKOFF_CAP) * jitter


def status_retryable(status: int, headers: Mapping[str, str], *, idempotent: bool) -> bool:
    """Whether an HTTP answer ``status`` may be repeated.

    ``x-should-retry: false`` always wins; a non-idempotent call (a create) is repeated only
    after a 429, which proves it was refused — even ``x-should-retry: true`` cannot make a 5xx
    on a create safe.
    """
    override = headers.get("x-should-retry", "").strip().lower()
    if override == "false":
        return False
    if not idempotent:
        return status == 429
    if override == "true":
        return True
    return status in RETRYABLE_STATUSES or status >= 500


def transport_retryable(error: BaseException | None, *, idempotent: bool) -> bool:
    """Whether an attempt that raised ``error`` (no response) may be repeated."""
    if is_connect_failure(error):
        return True  # nothing reached the server: safe even for a create
    if isinstance(error, requests.exceptions.SSLError):
        return False  # a certificate problem does not heal in a second
    # A read timeout or a drop may mean the create was accepted: never create twice.
    return idempotent and isinstance(error, TRANSIENT_ERRORS)


def is_connect_failure(error: BaseException | None) -> bool:
    """True when the request surely never reached the server (no TCP connection was made).

    requests raises ``ConnectTimeout`` for connect timeouts and wraps refused/unresolvable
    connections as ``ConnectionError(MaxRetryError(reason=NewConnectionError))``. A
    ``ConnectionError`` wrapping a ``ProtocolError`` (reset or closed after sending) may have
    reached the server and is deliberately not a connect failure.
    """
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(error, requests.exceptions.ConnectionError):
        return False
    if isinstance(error, requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return False
    inner = error.args[0] if error.args else None
    return isinstance(inner, urllib3.exceptions.MaxRetryError) and isinstance(
        inner.reason, urllib3.exceptions.ConnectTimeoutError
    )


def next_wait(
    outcome: Outcome, attempt: int, *, idempotent: bool, max_retries: int, deadline: float
) -> float | None:
    """Seconds to sleep before retrying after ``outcome`` (attempt number ``attempt``, from 1),
    or ``None`` to give up now. ``deadline`` is a ``time.monotonic()`` instant."""
    if attempt > max_retries:
        return None
    if outcome.response is None:
        retryable = transport_retryable(outcome.error, idempotent=idempotent)
    else:
        retryable = status_retryable(
            outcome.response.status_code, outcome.response.headers, idempotent=idempotent
        )
    if not retryable:
        return None
    headers = outcome.response.headers if outcome.response is not None else {}
    wait = retry_wait(attempt - 1, headers)
    # Never sleep past the deadline: a retry that cannot start in time is not made.
    return None if time.monotonic() + wait >= deadline else wait
