"""The circuit breaker and the bulkhead (pure: time is an input, no peer involved)."""

from __future__ import annotations

import threading

import pytest

from dreamweb.errors import (
    CircuitOpenError,
    InputRejectedError,
    ProviderBusyError,
    UpstreamUnavailableError,
)
from dreamweb.providers.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from dreamweb.providers.guard import Bulkhead, ProviderGuard


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(_: object = None) -> None:
    raise UpstreamUnavailableError()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock) -> CircuitBreaker:
    return CircuitBreaker(3, 30, clock=clock)


def test_opens_after_n_consecutive_failures_only(breaker):
    for _ in range(2):
        breaker.record_failure()
    breaker.record_success()  # an answer in between starts the count again
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == CLOSED and breaker.retry_after() is None
    breaker.record_failure()
    assert breaker.state == OPEN and breaker.retry_after() == 30


def test_open_refuses_with_the_time_left(breaker, clock):
    for _ in range(3):
        breaker.record_failure()
    clock.now += 12
    with pytest.raises(CircuitOpenError) as refused:
        breaker.before_call()
    assert refused.value.retry_after == pytest.approx(18)
    assert refused.value.status == 503


def test_half_open_lets_exactly_one_trial_through(breaker, clock):
    for _ in range(3):
        breaker.record_failure()
    clock.now += 30
    assert breaker.state == HALF_OPEN and breaker.retry_after() is None
    breaker.before_call()
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    breaker.record_success()
    assert breaker.state == CLOSED
    breaker.before_call()


def test_a_failed_trial_opens_for_another_reset_period(breaker, clock):
    for _ in range(3):
        breaker.record_failure()
    clock.now += 31
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == OPEN and breaker.retry_after() == 30


def test_guard_counts_only_provider_outages(clock):
    guard = ProviderGuard(CircuitBreaker(2, 10, clock=clock), Bulkhead(4))
    for _ in range(5):
        with pytest.raises(InputRejectedError):
            guard.call(lambda: (_ for _ in ()).throw(InputRejectedError()))
    assert guard.paused_for() is None, "a refusal is an answer: the provider is up"
    for _ in range(2):
        with pytest.raises(UpstreamUnavailableError):
            guard.call(fail)
    calls: list[int] = []
    with pytest.raises(CircuitOpenError):
        guard.call(lambda: calls.append(1))
    assert calls == [] and guard.paused_for() == 10 and not guard.ready()


def test_bulkhead_refuses_past_its_limit_and_frees_on_leave():
    bulkhead = Bulkhead(2)
    assert bulkhead.try_enter() and bulkhead.try_enter()
    assert not bulkhead.has_room() and not bulkhead.try_enter(wait=0.05)
    bulkhead.leave()
    assert bulkhead.has_room() and bulkhead.try_enter()


def test_guard_refuses_a_call_when_full_and_gives_back_the_half_open_trial(clock):
    breaker = CircuitBreaker(1, 5, clock=clock)
    guard = ProviderGuard(breaker, Bulkhead(1))
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        guard.call(lambda: (inside.set(), leave.wait(5)))

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait(5)
    breaker.record_failure()  # opens (limit 1)
    clock.now += 5  # half-open: the next call is the trial...
    with pytest.raises(ProviderBusyError):
        guard.call(lambda: None)  # ...but the bulkhead is full
    assert breaker.retry_after() is None, "the trial was given back"
    leave.set()
    holder.join(5)
    assert guard.call(lambda: 42) == 42 and breaker.state == CLOSED
