"""The simulator's shared core: settings, the job state machine, faults, counters and timers.

Every dialect keeps its jobs here. A job goes ``queued`` (the first 10% of its render time) ->
``in_progress`` (progress 1-99, proportional to elapsed time) -> a terminal status once
``render_seconds`` have passed: ``completed``, or what its planned *outcome* says (``failed``
for a moderated prompt or an outcome fault, ``cancelled``, ``expired``). State advances
lazily, whenever a job is looked at, and on a timer for dialects that push (webhooks).

A job is *settled* exactly once after it reaches a terminal status: the dialect's settle hook
runs then (Vertex writes its MP4 into GCS, OpenRouter sends its webhook), under a per-job lock
so a concurrent poller waits for it rather than seeing a half-done result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from dreamweb.simulator.faults import Fault, build_fault

DEFAULT_TRIGGER_WORD = "nightmare"
# A job sits in "queued" for this share of its render time, then reports "in_progress".
QUEUED_SHARE = 0.1
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "expired"})
# Outcomes whose terminal status is their own name; every other non-"completed" one fails.
_OWN_STATUS_OUTCOMES = frozenset({"completed", "cancelled", "expired"})


class UnknownVideoError(KeyError):
    """The control API was asked about a job id the simulator does not hold."""


@dataclass
class Settings:
    """What ``configure`` (and ``POST /_sim/config``) may change at run time.

    ``gcs_endpoint`` is the GCS emulator Vertex outputs are written to; ``webhook_secret``
    signs OpenRouter webhooks (unsigned when ``None``); ``token_seconds`` is the lifetime of
    issued OAuth2 access tokens; ``inline_limit_bytes`` the largest Vertex output returned
    inline as base64 (larger ones fail with "an output storage uri is required").
    """

    render_seconds: float = 5.0
    video_bytes: int = 0
    expires_seconds: float = 3600.0
    require_key: bool = True
    gcs_endpoint: str | None = None
    webhook_secret: str | None = None
    token_seconds: float = 3600.0
    inline_limit_bytes: int = 4 * 1024 * 1024

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view of every setting."""
        return {item.name: getattr(self, item.name) for item in fields(self)}


_SETTING_KINDS = {item.name: item.type for item in fields(Settings)}


def check_setting(name: str, value: object) -> object:
    """Validate one setting's value; return it normalised. Raises ``ValueError``."""
    kind = _SETTING_KINDS.get(name)
    if kind is None:
        raise ValueError(f"unknown setting: {name}")
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false; got {value!r}")
        return value
    if kind == "str | None":
        if value is not None and not (isinstance(value, str) and value):
            raise ValueError(f"{name} must be a non-empty string or null; got {value!r}")
        if name == "gcs_endpoint" and value is not None:
            if not str(value).startswith(("http://", "https://")):
                raise ValueError(f"gcs_endpoint must be an http(s) URL; got {value!r}")
            return str(value).rstrip("/")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number; got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative; got {value!r}")
    if kind == "int":
        if value != int(value):
            raise ValueError(f"{name} must be a whole number; got {value!r}")
        return int(value)
    return float(value)


@dataclass
class Job:
    """One generation of any dialect. ``params`` and ``result`` belong to the dialect."""

    id: str
    dialect: str
    sequence: int
    model: str
    prompt: str
    started: float
    render_seconds: float
    outcome: str
    params: dict[str, Any] = field(default_factory=dict)
    status: str = "queued"
    progress: int = 0
    completed_at: int | None = None
    expires_at: int | None = None
    deleted: bool = False
    result: dict[str, Any] = field(default_factory=dict)
    settled: bool = False
    settle_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def terminal(self) -> bool:
        """Whether the job reached its final status."""
        return self.status in TERMINAL_STATUSES


@dataclass
class _State:
    """Everything ``reset`` clears."""

    routes: Iterable[str]
    jobs: dict[str, Job] = field(default_factory=dict)
    next_sequence: int = 0
    faults: list[Fault] = field(default_factory=list)
    counters: dict[str, int] = field(init=False)
    timers: list[threading.Timer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counters = dict.fromkeys(self.routes, 0)


class SimulatorCore:
    """Thread-safe jobs, settings, faults and counters shared by every dialect.

    ``route_faults`` maps each route name to the fault kinds it accepts; ``settlers`` maps a
    dialect name to its settle hook. ``lock`` guards every job field; hooks run outside it.
    """

    def __init__(
        self,
        settings: Settings,
        route_faults: Mapping[str, frozenset[str]],
        *,
        trigger_word: str | None = DEFAULT_TRIGGER_WORD,
    ) -> None:
        self.settings = settings
        self.route_faults = dict(route_faults)
        self.trigger_word = trigger_word.lower() if trigger_word else None
        self.settlers: dict[str, Callable[[Job], None]] = {}
        self.lock = threading.RLock()
        self._state = _State(self.route_faults)
        # Hanging requests wait on this event, so reset() can release them at once.
        self._release_hangs = threading.Event()

    # --- faults, counters, settings -----------------------------------------------------------

    def inject(self, route: str, kind: str, **options: float) -> dict[str, object]:
        """Queue a fault for the next ``count`` calls of ``route``. Raises ``ValueError``."""
        pending = build_fault(route, kind, options, self.route_faults)
        with self.lock:
            self._state.faults.append(pending)
        return pending.describe()

    def pending_faults(self) -> list[dict[str, object]]:
        """The faults still waiting, oldest first."""
        with self.lock:
            return [pending.describe() for pending in self._state.faults]

    def count_call(self, route: str) -> Fault | None:
        """Count a call of ``route`` and consume one use of its oldest pending fault."""
        with self.lock:
            self._state.counters[route] += 1
            for pending in self._state.faults:
                if pending.route == route:
                    pending.remaining -= 1
                    if pending.remaining <= 0:
                        self._state.faults.remove(pending)
                    return pending
        return None

    def hang(self, seconds: float) -> None:
        """Stall the calling request (``reset`` releases it early)."""
        self._release_hangs.wait(seconds)

    def counters(self) -> dict[str, int]:
        """Calls received per route since the last reset, faulted or not."""
        with self.lock:
            return dict(self._state.counters)

    def configure(self, **options: object) -> dict[str, object]:
        """Change settings (all or nothing); return them all. Raises ``ValueError``."""
        checked = {name: check_setting(name, value) for name, value in options.items()}
        with self.lock:
            for name, value in checked.items():
                setattr(self.settings, name, value)
            return self.settings.as_dict()

    def reset(self) -> None:
        """Forget all jobs, faults, counters and timers; release hanging requests."""
        with self.lock:
            for timer in self._state.timers:
                timer.cancel()
            self._state = _State(self.route_faults)
            self._release_hangs.set()
            self._release_hangs = threading.Event()

    # --- jobs ---------------------------------------------------------------------------------

    def blocked(self, prompt: str) -> bool:
        """Whether moderation refuses ``prompt`` (it contains the trigger word)."""
        return bool(self.trigger_word and self.trigger_word in prompt.lower())

    def start(
        self,
        dialect: str,
        job_id: str,
        *,
        model: str,
        prompt: str,
        params: dict[str, Any],
        outcome: str | None = None,
    ) -> Job:
        """Record a new job; ``outcome`` defaults to moderation's verdict on the prompt."""
        if outcome is None:
            outcome = "moderation" if self.blocked(prompt) else "completed"
        with self.lock:
            job = Job(
                id=job_id,
                dialect=dialect,
                sequence=self._state.next_sequence,
                model=model,
                prompt=prompt,
                started=time.time(),
                render_seconds=self.settings.render_seconds,
                outcome=outcome,
                params=params,
            )
            self._state.next_sequence += 1
            self._state.jobs[job.id] = job
            advance_job(job, job.started, expires_seconds=self.settings.expires_seconds)
        self.settle(job)
        return job

    def observe(self, job_id: str, dialect: str | None = None) -> Job | None:
        """The job brought up to date (settled if terminal), or ``None`` if unknown."""
        with self.lock:
            job = self._state.jobs.get(job_id)
            if job is None or (dialect is not None and job.dialect != dialect):
                return None
            advance_job(job, time.time(), expires_seconds=self.settings.expires_seconds)
        self.settle(job)
        return job

    def jobs_of(self, dialect: str) -> list[Job]:
        """Every job of a dialect (deleted ones included), oldest first. Not advanced."""
        with self.lock:
            jobs = [job for job in self._state.jobs.values() if job.dialect == dialect]
        return sorted(jobs, key=lambda job: job.sequence)

    def advance(self, job: Job) -> None:
        """Bring one job up to now and settle it if it just ended."""
        with self.lock:
            advance_job(job, time.time(), expires_seconds=self.settings.expires_seconds)
        self.settle(job)

    def settle(self, job: Job) -> None:
        """Run the dialect's settle hook once, after the job reached its terminal status."""
        if job.settled or not job.terminal:
            return
        with job.settle_lock:
            if job.settled:
                return
            hook = self.settlers.get(job.dialect)
            if hook is not None:
                hook(job)
            job.settled = True

    def when_rendered(self, job: Job, action: Callable[[Job], None]) -> None:
        """Call ``action(job)`` on a timer thread once the job's render time is over."""
        delay = max(0.0, job.started + job.render_seconds - time.time()) + 0.01
        timer = threading.Timer(delay, action, args=(job,))
        timer.daemon = True
        with self.lock:
            self._state.timers.append(timer)
        timer.start()

    def complete(self, job_id: str) -> Job:
        """Finish a job now (its planned outcome decides the status). Raises UnknownVideoError."""
        with self.lock:
            job = self._control_job(job_id)
            now = time.time()
            advance_job(job, now, expires_seconds=self.settings.expires_seconds)
            if not job.terminal:
                finish_job(job, now, expires_seconds=self.settings.expires_seconds)
        self.settle(job)
        return job

    def expire(self, job_id: str) -> Job:
        """Move a job's content expiry into the past (completing it first if needed).

        Raises ``ValueError`` for a job that ended without content.
        """
        with self.lock:
            job = self._control_job(job_id)
            now = time.time()
            advance_job(job, now, expires_seconds=self.settings.expires_seconds)
            if job.terminal and job.status != "completed":
                raise ValueError(f"job {job_id} ended {job.status}; it has no content to expire")
            if not job.terminal:
                finish_job(job, now, expires_seconds=self.settings.expires_seconds)
            job.expires_at = int(now) - 1
        self.settle(job)
        return job

    def _control_job(self, job_id: str) -> Job:
        job = self._state.jobs.get(job_id)
        if job is None:
            raise UnknownVideoError(job_id)
        return job


def advance_job(job: Job, now: float, *, expires_seconds: float) -> None:
    """Bring a job's status and progress up to ``now``. Caller holds the core's lock."""
    if job.terminal:
        return
    elapsed = now - job.started
    if elapsed >= job.render_seconds:
        finish_job(job, job.started + job.render_seconds, expires_seconds=expires_seconds)
    elif elapsed >= job.render_seconds * QUEUED_SHARE:
        job.status = "in_progress"
        job.progress = max(1, min(99, int(100 * elapsed / job.render_seconds)))
    else:
        job.status, job.progress = "queued", 0


def finish_job(job: Job, at: float, *, expires_seconds: float) -> None:
    """End a job at time ``at`` as its outcome says (content then lives ``expires_seconds``).
    Caller holds the core's lock."""
    job.completed_at = int(at)
    if job.outcome in _OWN_STATUS_OUTCOMES:
        job.status = job.outcome
    else:
        job.status = "failed"
    job.progress = 100 if job.status == "completed" else 0
    if job.status == "completed":
        job.expires_at = job.completed_at + round(expires_seconds)
