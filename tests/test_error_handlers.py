"""How errors become answers (``dreamweb.error_handlers``): the one Retry-After writer."""

from __future__ import annotations

from flask import Response

from dreamweb.error_handlers import set_retry_after
from dreamweb.errors import ConflictError, DreamwebError, RateLimitedError


def test_retry_after_is_whole_seconds_rounded_up_and_never_zero():
    assert set_retry_after(Response(), 1.4).headers["Retry-After"] == "2"
    assert set_retry_after(Response(), 2.0).headers["Retry-After"] == "2"
    assert set_retry_after(Response(), 0.01).headers["Retry-After"] == "1"
    assert set_retry_after(Response(), -3).headers["Retry-After"] == "1"
    assert "Retry-After" not in set_retry_after(Response(), None).headers


def test_errors_carry_their_wait_and_a_silent_provider_gets_the_default():
    assert RateLimitedError().retry_after == RateLimitedError.DEFAULT_RETRY_AFTER == 30
    assert RateLimitedError(retry_after=1.5).retry_after == 1.5
    assert ConflictError().retry_after == 2
    assert DreamwebError().retry_after is None
