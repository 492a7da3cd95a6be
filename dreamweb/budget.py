"""The daily video budget: generated seconds per UTC day, reserved before each paid call.

``DAILY_VIDEO_SECONDS_BUDGET`` caps the seconds all clients together may generate per UTC day;
``DAILY_VIDEO_SECONDS_PER_CLIENT`` caps one client (an API token, else an address). Seconds are
reserved atomically *before* the provider is asked, so concurrent creates in any number of
workers and dynos can never overspend, and given back when the provider refuses the create.

Two counters implement the same ``DailyBudget`` interface: Redis (``REDIS_URL``; one Lua script
checks and increments both counts atomically) and the video store (one record per UTC day,
changed with compare-and-set like the job records). No Flask here.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from dreamweb.errors import BudgetExhaustedError, PreconditionFailedError, StorageError
from dreamweb.storage import layout
from dreamweb.storage.base import VideoStore

# A private generator for the CAS backoff (the global ``random`` state is left alone).
_BACKOFF = random.Random()
os.register_at_fork(after_in_child=_BACKOFF.seed)  # forked workers must not share a sequence

Clock = Callable[[], float]
DAY_SECONDS = 24 * 3600
# Many creates at once all compare-and-set one record: retry with a little jitter.
STORE_CAS_ATTEMPTS = 40
# Counts are kept a little past their day, so `usage` can still report yesterday.
KEEP_DAYS = 3


def utc_day(now: float) -> str:
    """The UTC calendar day of ``now`` as ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def seconds_to_midnight(now: float) -> int:
    """Whole seconds from ``now`` until the next 00:00 UTC (at least 1)."""
    moment = datetime.fromtimestamp(now, UTC)
    midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - moment).total_seconds() + 0.999))


def budget_spent_text(retry_after: float) -> str:
    """What a person is told when today's budget is spent (the web form's page)."""
    hours, minutes = divmod(max(1, round(retry_after / 60)), 60)
    wait = f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
    return (
        "Today's dreams are all used up: this site makes only so many videos a day. "
        f"It starts again at 00:00 UTC, in about {wait}."
    )


def client_bucket(client: str) -> str:
    """A short stable name for a client scope (an address or a token hash) in counters."""
    return hashlib.sha256(client.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Reservation:
    """Seconds taken from the budget of ``day`` for ``client``; hand it to ``give_back``."""

    day: str
    seconds: int
    client: str


@dataclass(frozen=True)
class Usage:
    """What one UTC day has used so far (``budget`` ``None``: unlimited)."""

    day: str
    used: int
    budget: int | None
    clients: dict[str, int] = field(default_factory=dict)


class DailyBudget(Protocol):
    """Reserve generated seconds against today's limits, and give them back."""

    def reserve(self, seconds: int, client: str) -> Reservation | None:
        """Take ``seconds`` for ``client`` or raise ``BudgetExhaustedError`` (nothing taken)."""
        ...

    def give_back(self, reservation: Reservation | None) -> None:
        """Return a reservation whose paid call never started (``None``: nothing to do)."""
        ...

    def usage(self, day: str | None = None) -> Usage:
        """Seconds used on ``day`` (default today)."""
        ...


@dataclass(frozen=True)
class Limits:
    """The configured caps; ``None`` means no cap."""

    total: int | None
    per_client: int | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Limits:
        """``DAILY_VIDEO_SECONDS_BUDGET`` and ``DAILY_VIDEO_SECONDS_PER_CLIENT``."""
        return cls(
            config.get("DAILY_VIDEO_SECONDS_BUDGET"), config.get("DAILY_VIDEO_SECONDS_PER_CLIENT")
        )

    @property
    def active(self) -> bool:
        """Whether anything is capped (else nothing needs counting)."""
        return self.total is not None or self.per_client is not None

    def allows(self, used: int, client_used: int, seconds: int) -> bool:
        """Whether ``seconds`` more fit under both caps."""
        return (self.total is None or used + seconds <= self.total) and (
            self.per_client is None or client_used + seconds <= self.per_client
        )


class Unlimited:
    """No budget configured: nothing is counted, everything is allowed."""

    def reserve(self, seconds: int, client: str) -> Reservation | None:
        """Always allowed; nothing to give back later."""
        return None

    def give_back(self, reservation: Reservation | None) -> None:
        """Nothing was taken."""

    def usage(self, day: str | None = None) -> Usage:
        """Nothing counted: zero used, no budget."""
        return Usage(day or utc_day(time.time()), 0, None)


class StoreBudget:
    """Counts in the video store: ``budget/<day>.json``, changed only with compare-and-set."""

    def __init__(self, store: VideoStore, limits: Limits, clock: Clock = time.time) -> None:
        self.store = store
        self.limits = limits
        self.clock = clock

    def reserve(self, seconds: int, client: str) -> Reservation | None:
        """Take ``seconds`` from today's record, or ``BudgetExhaustedError``."""
        now = self.clock()
        day, bucket = utc_day(now), client_bucket(client)

        def take(data: dict[str, Any]) -> dict[str, Any]:
            clients = data["clients"]
            if not self.limits.allows(data["used"], clients.get(bucket, 0), seconds):
                raise BudgetExhaustedError(retry_after=seconds_to_midnight(now))
            clients[bucket] = clients.get(bucket, 0) + seconds
            return dict(data, used=data["used"] + seconds)

        self._change(day, take)
        return Reservation(day, seconds, bucket)

    def give_back(self, reservation: Reservation | None) -> None:
        """Return the seconds to the day they were taken from (never below zero)."""
        if reservation is None:
            return

        def give(data: dict[str, Any]) -> dict[str, Any]:
            clients = data["clients"]
            left = max(0, clients.get(reservation.client, 0) - reservation.seconds)
            if left:
                clients[reservation.client] = left
            else:
                clients.pop(reservation.client, None)
            return dict(data, used=max(0, data["used"] - reservation.seconds))

        self._change(reservation.day, give)

    def usage(self, day: str | None = None) -> Usage:
        """The day's record as a ``Usage`` (zero when nothing was reserved yet)."""
        day = day or utc_day(self.clock())
        record = self.store.get_record(layout.budget_key(day))
        data = record.data if record else _empty_day(day)
        return Usage(day, data["used"], self.limits.total, data["clients"])

    def _change(self, day: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        key = layout.budget_key(day)
        for _ in range(STORE_CAS_ATTEMPTS):
            record = self.store.get_record(key)
            data = change(_copy(record.data) if record else _empty_day(day))
            try:
                self.store.put_record(key, data, generation=record.generation if record else None)
                return
            except PreconditionFailedError:
                time.sleep(_BACKOFF.uniform(0.005, 0.05))  # another create won this round
        raise StorageError("the daily budget record kept changing; try again")


def _empty_day(day: str) -> dict[str, Any]:
    return {"day": day, "used": 0, "clients": {}}


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    return dict(data, clients=dict(data.get("clients", {})))


# KEYS: total, client. ARGV: seconds, total cap (-1: none), client cap (-1: none), ttl.
# Answers 1 when reserved, 0 when either cap would be passed (then nothing changed).
RESERVE_SCRIPT = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local mine = tonumber(redis.call('GET', KEYS[2]) or '0')
local seconds, total, per_client = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if (total >= 0 and used + seconds > total) or (per_client >= 0 and mine + seconds > per_client) then
  return 0
end
redis.call('INCRBY', KEYS[1], seconds)
redis.call('INCRBY', KEYS[2], seconds)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""
# KEYS: total, client. ARGV: seconds. Never below zero.
GIVE_BACK_SCRIPT = """
for _, key in ipairs(KEYS) do
  local left = tonumber(redis.call('GET', key) or '0') - tonumber(ARGV[1])
  if left > 0 then redis.call('SET', key, left, 'KEEPTTL') else redis.call('DEL', key) end
end
return 1
"""


class RedisBudget:
    """Counts in Redis (``REDIS_URL``): one atomic script per reservation."""

    def __init__(
        self, client: Any, limits: Limits, clock: Clock = time.time, prefix: str = "dreamweb"
    ) -> None:
        self.redis = client
        self.limits = limits
        self.clock = clock
        self.prefix = prefix
        self._reserve = client.register_script(RESERVE_SCRIPT)
        self._give_back = client.register_script(GIVE_BACK_SCRIPT)

    @classmethod
    def from_url(cls, url: str, limits: Limits, clock: Clock = time.time) -> RedisBudget:
        """A budget on the Redis server at ``url`` (``redis://`` or ``rediss://``)."""
        import redis  # only deployments with REDIS_URL need the client loaded

        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        return cls(client, limits, clock)

    def _keys(self, day: str, bucket: str) -> list[str]:
        return [f"{self.prefix}:budget:{day}", f"{self.prefix}:budget:{day}:client:{bucket}"]

    def reserve(self, seconds: int, client: str) -> Reservation | None:
        """Check and take ``seconds`` in one script, or ``BudgetExhaustedError``."""
        now = self.clock()
        day, bucket = utc_day(now), client_bucket(client)
        caps = [-1 if cap is None else cap for cap in (self.limits.total, self.limits.per_client)]
        taken = self._run(
            self._reserve, self._keys(day, bucket), [seconds, *caps, KEEP_DAYS * DAY_SECONDS]
        )
        if not taken:
            raise BudgetExhaustedError(retry_after=seconds_to_midnight(now))
        return Reservation(day, seconds, bucket)

    def give_back(self, reservation: Reservation | None) -> None:
        """Return the seconds to the day and client they were taken from."""
        if reservation is not None:
            keys = self._keys(reservation.day, reservation.client)
            self._run(self._give_back, keys, [reservation.seconds])

    def usage(self, day: str | None = None) -> Usage:
        """Seconds used on ``day``."""
        day = day or utc_day(self.clock())
        used = self._call(lambda: self.redis.get(f"{self.prefix}:budget:{day}"))
        return Usage(day, int(used or 0), self.limits.total)

    def _run(self, script: Any, keys: list[str], args: list[int]) -> Any:
        return self._call(lambda: script(keys=keys, args=args))

    @staticmethod
    def _call(operation: Callable[[], Any]) -> Any:
        import redis

        try:
            return operation()
        except redis.RedisError as error:
            # Fail closed: without the counter nobody can tell whether the money is spent.
            raise StorageError("the daily budget counter (Redis) is unavailable") from error


def build_budget(
    config: Mapping[str, Any], store: Callable[[], VideoStore], clock: Clock = time.time
) -> DailyBudget:
    """The configured budget: Redis when ``REDIS_URL`` is set, else the store; or ``Unlimited``."""
    limits = Limits.from_config(config)
    if not limits.active:
        return Unlimited()
    if config.get("REDIS_URL"):
        return RedisBudget.from_url(config["REDIS_URL"], limits, clock)
    return StoreBudget(store(), limits, clock)
