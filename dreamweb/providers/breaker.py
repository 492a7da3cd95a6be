"""A circuit breaker for the video provider: stop calling a provider that keeps failing.

After ``failures`` consecutive failed calls the circuit *opens*: for ``reset_seconds`` every call
is refused at once (``CircuitOpenError`` with the remaining time as ``retry_after``) instead of
holding a thread for a timeout. Then it *half-opens*: one trial call goes through; its success
closes the circuit, its failure opens it for another ``reset_seconds``.

Per process, like the provider's connection pool: each worker learns on its own, after at
most ``failures`` calls. Knows nothing of Flask.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from dreamweb.errors import CircuitOpenError

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
# While the half-open trial call is out, others are told to come back this soon.
TRIAL_RETRY_AFTER = 1.0


class CircuitBreaker:
    """Counts consecutive failures and refuses calls while the circuit is open."""

    def __init__(
        self,
        failures: int,
        reset_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.reset_seconds = reset_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_out = False

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open`` right now."""
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        return OPEN if self.clock() - self._opened_at < self.reset_seconds else HALF_OPEN

    def retry_after(self) -> float | None:
        """Seconds until a call may go through, or ``None`` when one may go now."""
        with self._lock:
            return self._wait()

    def _wait(self) -> float | None:
        state = self._state()
        if state == CLOSED or (state == HALF_OPEN and not self._trial_out):
            return None
        if state == HALF_OPEN:
            return TRIAL_RETRY_AFTER
        assert self._opened_at is not None
        return self.reset_seconds - (self.clock() - self._opened_at)

    def before_call(self) -> None:
        """Let a call through or raise ``CircuitOpenError``; half-open lets exactly one through."""
        with self._lock:
            wait = self._wait()
            if wait is not None:
                raise CircuitOpenError(retry_after=wait)
            if self._state() == HALF_OPEN:
                self._trial_out = True

    def record_success(self) -> None:
        """The provider answered: close the circuit and forget earlier failures."""
        with self._lock:
            self._consecutive = 0
            self._opened_at = None
            self._trial_out = False

    def record_failure(self) -> None:
        """The provider failed (5xx, timeout, connection): open after ``failures`` in a row."""
        with self._lock:
            self._consecutive += 1
            if self._trial_out or self._consecutive >= self.failures:
                self._opened_at = self.clock()
            self._trial_out = False

    def release_trial(self) -> None:
        """A call that never reached the provider (refused by the bulkhead) gives back the
        half-open trial it may have taken."""
        with self._lock:
            self._trial_out = False
