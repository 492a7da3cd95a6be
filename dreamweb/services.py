"""The app's long-lived collaborators, built once per process on first use.

Built lazily rather than in the factory so that ``gunicorn --preload`` forks before any
connection pool or thread exists, and so that pages that need none never pay for them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask, current_app

from dreamweb.budget import DailyBudget, build_budget
from dreamweb.jobs import JobService, RecordCache
from dreamweb.providers import build_provider, provider_configured
from dreamweb.providers.base import VideoProvider
from dreamweb.providers.guard import GuardedProvider, ProviderGuard
from dreamweb.providers.openrouter import webhooks_enabled
from dreamweb.storage import open_store
from dreamweb.storage.base import VideoStore
from dreamweb.urls import external_url

logger = logging.getLogger("dreamweb.background")


class BackgroundTasks:
    """A small thread pool that runs at most one task per key at a time in this process.

    Twenty pollers of one finished job must not queue twenty downloads; across processes the
    ingest lease does the same job.
    """

    def __init__(self, workers: int = 2) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="dreamweb-bg")
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def spawn(self, key: str, task: Callable[[], object]) -> None:
        """Run ``task`` in the background unless a task for ``key`` is already running."""
        with self._lock:
            if key in self._running:
                return
            self._running.add(key)
        self._executor.submit(self._run, key, task)

    def _run(self, key: str, task: Callable[[], object]) -> None:
        try:
            task()
        except Exception:
            logger.exception("background task failed", extra={"key": key})
        finally:
            with self._lock:
                self._running.discard(key)


class Services:
    """Lazily built store, provider, background pool and job service for one app."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._lock = threading.RLock()
        self._store: VideoStore | None = None
        self._provider: VideoProvider | None = None
        self._background: BackgroundTasks | None = None
        self._guard: ProviderGuard | None = None
        self._budget: DailyBudget | None = None
        self._jobs: JobService | None = None
        # Half the upstream TTL, at most a second: polls share reads, and a change another
        # process made shows up here at most that much later.
        self.record_cache = RecordCache(max_age=min(1.0, config["STATUS_TTL_SECONDS"] / 2))

    @property
    def store(self) -> VideoStore:
        """The configured ``VideoStore``."""
        with self._lock:
            if self._store is None:
                self._store = open_store(self._config)
            return self._store

    @property
    def guard(self) -> ProviderGuard:
        """This process's bulkhead and circuit breaker around provider calls."""
        with self._lock:
            if self._guard is None:
                self._guard = ProviderGuard.from_config(self._config)
            return self._guard

    @property
    def provider(self) -> VideoProvider | None:
        """The configured provider behind this process's guard, or ``None`` when its API key
        is not set."""
        with self._lock:
            if self._provider is None and provider_configured(self._config):
                self._provider = GuardedProvider(
                    build_provider(self._config),
                    self.guard,
                    create_wait=self._config["PROVIDER_CONNECT_TIMEOUT"],
                )
            return self._provider

    @property
    def background(self) -> BackgroundTasks:
        """This process's background pool: status checks and copy-ins. As many threads as
        provider calls may be in flight, so the bulkhead, not the pool, is what limits them."""
        with self._lock:
            if self._background is None:
                self._background = BackgroundTasks(self._config["PROVIDER_MAX_CONCURRENCY"])
            return self._background

    @property
    def budget(self) -> DailyBudget:
        """The daily video budget (Redis, the store, or unlimited when none is set)."""
        with self._lock:
            if self._budget is None:
                self._budget = build_budget(self._config, lambda: self.store)
            return self._budget

    @property
    def jobs(self) -> JobService:
        """A ``JobService`` whose status checks and copy-ins run in the background pool (one
        per process: it holds no per-request state, and every status poll asks for it)."""
        with self._lock:
            if self._jobs is None:
                self._jobs = self._job_service(spawn=self.background.spawn)
            return self._jobs

    def inline_jobs(self) -> JobService:
        """A ``JobService`` for the sweeper, which advances jobs in its own threads."""
        return self._job_service(spawn=None)

    def _job_service(
        self, *, spawn: Callable[[str, Callable[[], object]], None] | None
    ) -> JobService:
        """This process's job service: one store, provider guard, budget and record cache."""
        return JobService(
            self.store,
            self.provider,
            self._config,
            spawn=spawn,
            cache=self.record_cache,
            guard=self.guard,
            budget=self.budget,
            callback_url=self._callback_url if webhooks_enabled(self._config) else None,
        )

    def _callback_url(self, job_id: str) -> str:
        """Where the provider posts its webhook for ``job_id`` (in an app context)."""
        return external_url("provider_webhooks.openrouter", job=job_id)


def init_app(app: Flask) -> None:
    """Attach a ``Services`` to ``app.extensions``."""
    app.extensions["dreamweb"] = Services(app.config)


def services() -> Services:
    """The current app's ``Services``."""
    return current_app.extensions["dreamweb"]
