"""``JobService``: the domain operations on jobs — create, refresh (with a shared TTL), ingest,
delete. Knows nothing of Flask.

dreamweb's own job id is what clients see; the provider's id stays inside the record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from dreamweb.budget import DailyBudget, Unlimited
from dreamweb.errors import (
    CircuitOpenError,
    DreamwebError,
    InputRejectedError,
    NotFoundError,
    PreconditionFailedError,
    ProviderError,
    ProviderNotFoundError,
    UpstreamUnavailableError,
)
from dreamweb.jobs.create import create_job
from dreamweb.jobs.ingest import ingest_job, require_provider
from dreamweb.jobs.model import (
    STORING,
    SUBMIT_GRACE_SECONDS,
    FailureCode,
    Job,
    apply_upstream,
)
from dreamweb.jobs.records import JobRecords, RecordCache
from dreamweb.providers.base import VideoProvider
from dreamweb.providers.guard import ProviderGuard
from dreamweb.storage import layout
from dreamweb.storage.base import Record, VideoStore
from dreamweb.webhooks.hooks import deliver_callback

logger = logging.getLogger("dreamweb.jobs")


def run_inline(key: str, task: Callable[[], object]) -> None:
    """A ``spawn`` that just runs the task now (tests, tools)."""
    task()


class JobService:
    """Domain operations on jobs.

    ``spawn(key, task)`` runs ``task`` in the background (the web process's thread pool),
    at most once at a time per ``key``; ``guard`` is the process's bulkhead and circuit
    breaker around ``provider`` (which must call through it); ``clock`` is injectable;
    ``budget`` is the daily video budget each create reserves its seconds from;
    ``callback_url(job_id)``, when given, is where the provider should post its webhook.
    """

    def __init__(
        self,
        store: VideoStore,
        provider: VideoProvider | None,
        config: Mapping[str, Any],
        *,
        spawn: Callable[[str, Callable[[], object]], None] | None = None,
        clock: Callable[[], float] = time.time,
        cache: RecordCache | None = None,
        guard: ProviderGuard | None = None,
        budget: DailyBudget | None = None,
        callback_url: Callable[[str], str] | None = None,
    ) -> None:
        self.budget = budget or Unlimited()
        self.store = store
        self.callback_url = callback_url
        self.provider = provider
        self.config = config
        self.spawn = spawn or run_inline
        self.clock = clock
        self.guard = guard
        self.records = JobRecords(store, clock=clock, cache=cache, on_final=self._job_ended)

    def _job_ended(self, job: Job) -> None:
        """A job just became final: send its completion webhook, if it has one, in the
        background (the sweeper retries it if this attempt fails or the process dies)."""
        if job.callback:
            self.spawn(f"callback:{job.id}", lambda: deliver_callback(self, job.id))

    def get(self, job_id: str, *, fresh: bool = False) -> Job:
        """The stored job, or ``NotFoundError``. Never calls the provider."""
        return self.records.get(job_id, fresh=fresh)

    # --- create -------------------------------------------------------------------------

    def create(
        self,
        prompt: str,
        *,
        seconds: str,
        size: str,
        idempotency_key: str | None = None,
        client: str = "",
        token_hash: str | None = None,
    ) -> tuple[Job, bool]:
        """Start a generation; returns ``(job, replayed)``.

        With an ``idempotency_key`` this ``client`` used in the last 24 h for the same request,
        answers as the first request was answered (its job, or its error) instead of starting —
        and paying for — a second generation. A new generation first reserves its seconds from
        today's budget (``BudgetExhaustedError``, no provider call, when they are spent);
        ``token_hash`` names the API token that created it.
        """
        return create_job(
            self,
            prompt,
            seconds=seconds,
            size=size,
            idempotency_key=idempotency_key,
            client=client,
            token_hash=token_hash,
        )

    # --- status and refresh ---------------------------------------------------------------

    def status(self, job_id: str) -> Job:
        """The stored job, at once: a status poll never waits on the provider.

        When the job is due a step (a status check once per TTL window, a copy-in, giving up
        on a dead submit), that step is handed to ``spawn`` — unless the provider is paused
        (breaker open) or this process already has all the provider calls it allows in flight:
        then the next poll tries again.
        """
        job = self.get(job_id)
        if not self._due(job):
            return job
        if job.provider_job_id is not None and not self.provider_ready():
            return job
        self.spawn(job_id, lambda: self._refresh_logged(job_id))
        return self.get(job_id)  # an inline spawn may have advanced it already

    def provider_paused_for(self) -> float | None:
        """Seconds the provider's circuit stays open, or ``None`` when calls may go."""
        return None if self.guard is None else self.guard.paused_for()

    def provider_ready(self) -> bool:
        """Whether a provider call made now would go through (breaker and bulkhead)."""
        return self.guard is None or self.guard.ready()

    def refresh(self, job_id: str, *, force: bool = False) -> Job:
        """Advance the job now, waiting for the provider and any copy-in (the background
        pool's task, and the sweeper's): upstream at most once per TTL window across
        processes. ``force`` (the sweeper, which runs rarely) checks even inside the window.
        """
        record = self.records.read(job_id)
        if record is None:
            raise NotFoundError(f"Job not found: {job_id}")
        job = Job.from_record(record.data)
        if not self._due(job, force=force):
            return job
        paused = self.provider_paused_for()
        if paused is not None and job.provider_job_id is not None:
            # Refused before anything is stamped: no TTL window or copy-in attempt is spent.
            raise CircuitOpenError(retry_after=paused)
        if job.stage == STORING:
            return self.ingest(job_id)
        if job.provider_job_id is None:
            # Its creator died mid-submit (``_due`` waited out the grace period).
            return self.records.fail(job.id, FailureCode.SUBMIT_FAILED)
        if self.store.exists(layout.video_key(job.id)):
            # Stored by a process that died before marking the job: finish it, no upstream.
            return self.ingest(job_id)
        try:
            job, record = self._claim_check(job, record)
        except PreconditionFailedError:
            # Another process is checking right now (or our cached copy was stale).
            return self.get(job_id, fresh=True)
        try:
            upstream = require_provider(self.provider).retrieve(job.provider_job_id or "")
        except ProviderNotFoundError:
            return self.records.fail(job.id, FailureCode.PROVIDER_LOST)
        except InputRejectedError as error:
            # Our own request was refused: the client asking for the status did nothing wrong.
            raise UpstreamUnavailableError(upstream_status=error.upstream_status) from error
        now = self.clock()
        job = self.records.update(job.id, lambda j: apply_upstream(j, upstream, now), record)
        if job.stage == STORING:
            return self.ingest(job_id)
        return job

    def _refresh_logged(self, job_id: str) -> None:
        """``refresh`` as a background task: trouble is one log line, the poll goes on."""
        try:
            self.refresh(job_id)
        except DreamwebError as error:
            logger.warning(
                "status check failed", extra={"job_id": job_id, "error": type(error).__name__}
            )

    def _due(self, job: Job, *, force: bool = False) -> bool:
        """Whether ``job`` has a step to take now (``force``: a status check even inside the
        TTL window; a copy-in still waits out its backoff)."""
        now = self.clock()
        if job.is_final:
            return False  # store-first: a finished job never calls the provider again
        if job.stage == STORING:
            return not (job.ingest_retry_at and now < job.ingest_retry_at)
        if job.provider_job_id is None:
            return now - job.created_at >= SUBMIT_GRACE_SECONDS
        ttl = float(self.config["STATUS_TTL_SECONDS"])
        return force or job.checked_at is None or now - job.checked_at >= ttl

    def _claim_check(self, job: Job, record: Record) -> tuple[Job, Record]:
        """Stamp ``checked_at`` with compare-and-set: of N concurrent pollers, one wins."""
        job = replace(job, checked_at=self.clock())
        return job, self.records.write(job, generation=record.generation)

    # --- ingest and delete --------------------------------------------------------------

    def ingest(self, job_id: str) -> Job:
        """Copy a provider-finished job's video into the store and mark it completed."""
        return ingest_job(self.records, self.provider, self.config, job_id)

    def delete(self, job_id: str) -> None:
        """Remove the stored video, thumbnail and record; best effort upstream too."""
        job = self.get(job_id)
        for key in (
            layout.video_key(job_id),
            layout.thumbnail_key(job_id),
            layout.lease_key(job_id),
        ):
            self.store.delete(key)
        self.records.remove(job_id)
        if self.provider is not None and job.provider_job_id:
            try:
                self.provider.delete(job.provider_job_id)
            except ProviderError as error:
                logger.info(
                    "provider copy not deleted",
                    extra={"job_id": job_id, "error": type(error).__name__},
                )
        logger.info("job deleted", extra={"job_id": job_id})
