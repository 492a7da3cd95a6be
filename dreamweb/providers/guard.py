"""Calls to the video provider under a bulkhead and a circuit breaker, per process.

``Bulkhead`` caps how many provider calls this process has in flight: a slow provider can
then hold at most that many threads, and a call that finds no room is refused
(``ProviderBusyError``) instead of queueing behind the others. ``CircuitBreaker``
(``dreamweb.providers.breaker``) stops calling a provider that keeps failing. ``ProviderGuard``
puts the two around one call; ``GuardedProvider`` wraps a ``VideoProvider`` so every call it
makes — create, status check, download, delete — goes through the guard.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from dreamweb.errors import ProviderBusyError, ProviderError, UpstreamUnavailableError
from dreamweb.providers.base import ContentStream, ProviderJob, VideoProvider
from dreamweb.providers.breaker import CircuitBreaker

T = TypeVar("T")


class Bulkhead:
    """At most ``limit`` holders at a time; entering never waits longer than asked."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight = 0
        self._changed = threading.Condition()

    def has_room(self) -> bool:
        """Whether a call could enter right now."""
        with self._changed:
            return self._in_flight < self.limit

    def try_enter(self, wait: float = 0.0) -> bool:
        """Take a place, waiting at most ``wait`` seconds for one; ``False`` when none came."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._in_flight < self.limit, timeout=wait):
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        """Give the place back."""
        with self._changed:
            self._in_flight -= 1
            self._changed.notify()


class ProviderGuard:
    """The bulkhead and the circuit breaker one process puts around its provider calls."""

    def __init__(self, breaker: CircuitBreaker, bulkhead: Bulkhead) -> None:
        self.breaker = breaker
        self.bulkhead = bulkhead

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ProviderGuard:
        """``PROVIDER_MAX_CONCURRENCY``, ``BREAKER_FAILURES`` and ``BREAKER_RESET_SECONDS``."""
        breaker = CircuitBreaker(config["BREAKER_FAILURES"], config["BREAKER_RESET_SECONDS"])
        return cls(breaker, Bulkhead(config["PROVIDER_MAX_CONCURRENCY"]))

    def paused_for(self) -> float | None:
        """Seconds until the breaker lets calls through again, or ``None`` when it does now."""
        return self.breaker.retry_after()

    def ready(self) -> bool:
        """Whether a call made now would go through (breaker closed, bulkhead not full)."""
        return self.paused_for() is None and self.bulkhead.has_room()

    def call(self, call: Callable[[], T], *, wait: float = 0.0) -> T:
        """Run ``call`` (one provider request) inside the guard.

        Raises ``CircuitOpenError`` while the breaker is open and ``ProviderBusyError`` when
        no place freed up within ``wait`` seconds; neither reaches the provider. Only failures
        that say the provider is down (5xx, timeouts, connections) count towards opening:
        any answer, even a refusal, shows it is up.
        """
        self.breaker.before_call()
        if not self.bulkhead.try_enter(wait):
            self.breaker.release_trial()
            raise ProviderBusyError()
        try:
            result = call()
        except UpstreamUnavailableError:
            self.breaker.record_failure()
            raise
        except ProviderError:
            self.breaker.record_success()
            raise
        except BaseException:
            self.breaker.release_trial()
            raise
        finally:
            self.bulkhead.leave()
        self.breaker.record_success()
        return result


class GuardedProvider:
    """A ``VideoProvider`` whose every call goes through ``guard``.

    A create waits up to ``create_wait`` seconds for a place in the bulkhead (a person is
    waiting for it, and it is worth a short queue); status checks, downloads and deletes never
    wait: they are retried by the next poll or sweep anyway.
    """

    def __init__(self, provider: VideoProvider, guard: ProviderGuard, *, create_wait: float):
        self.provider = provider
        self.guard = guard
        self.create_wait = create_wait
        self.name = provider.name

    def create(self, prompt: str, **options: Any) -> ProviderJob:
        """``VideoProvider.create`` under the guard."""
        return self.guard.call(
            lambda: self.provider.create(prompt, **options), wait=self.create_wait
        )

    def retrieve(self, provider_job_id: str) -> ProviderJob:
        """``VideoProvider.retrieve`` under the guard."""
        return self.guard.call(lambda: self.provider.retrieve(provider_job_id))

    def download(self, provider_job_id: str, variant: str = "video") -> ContentStream:
        """``VideoProvider.download`` under the guard (until the response starts)."""
        return self.guard.call(lambda: self.provider.download(provider_job_id, variant))

    def delete(self, provider_job_id: str) -> None:
        """``VideoProvider.delete`` under the guard."""
        self.guard.call(lambda: self.provider.delete(provider_job_id))

    def close(self) -> None:
        """Release the wrapped provider's connections."""
        self.provider.close()

    def __getattr__(self, name: str) -> Any:
        # Anything else a provider offers (capabilities, catalog refresh) is not a guarded call.
        return getattr(self.provider, name)
