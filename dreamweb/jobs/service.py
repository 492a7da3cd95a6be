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

from dreamweb.errors import (
    AuthenticationError,
    InputRejectedError,
    NotFoundError,
    PreconditionFailedError,
    ProviderError,
    ProviderNotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    UpstreamUnavailableError,
)
from dreamweb.jobs.idempotency import IdempotencyKeys
from dreamweb.jobs.ingest import ingest_job, require_provider
from dreamweb.jobs.model import (
    STORING,
    SUBMIT_GRACE_SECONDS,
    FailureCode,
    Job,
    apply_upstream,
    first_answer,
    new_job_id,
)
from dreamweb.jobs.records import JobRecords, RecordCache
from dreamweb.prompts import enhance_prompt
from dreamweb.providers.base import VideoProvider
from dreamweb.storage import layout
from dreamweb.storage.base import Record, VideoStore

logger = logging.getLogger("dreamweb.jobs")

# Errors that prove the provider started nothing: the create can be forgotten entirely.
NOT_STARTED = (InputRejectedError, RateLimitedError, QuotaExhaustedError, AuthenticationError)


def run_inline(key: str, task: Callable[[], object]) -> None:
    """The sweeper's ``spawn``: just run the task now."""
    task()


class JobService:
    """Domain operations on jobs.

    ``spawn(key, task)`` runs ``task`` in the background (a thread pool in the web process,
    inline in the sweeper), at most once at a time per ``key``; ``clock`` is injectable;
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
        callback_url: Callable[[str], str] | None = None,
    ) -> None:
        self.store = store
        self.callback_url = callback_url
        self.provider = provider
        self.config = config
        self.spawn = spawn or run_inline
        self.clock = clock
        self.records = JobRecords(store, clock=clock, cache=cache)

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
    ) -> tuple[Job, bool]:
        """Start a generation; returns ``(job, replayed)``.

        With an ``idempotency_key`` this ``client`` used in the last 24 h for the same request,
        answers as the first request was answered (its job, or its error) instead of starting —
        and paying for — a second generation.
        """
        provider = require_provider(self.provider)
        job = Job(
            id=new_job_id(),
            provider=provider.name,
            prompt=prompt,
            enhanced_prompt=enhance_prompt(prompt, self.config["PROMPT_TEMPLATE"]),
            model=self.config["VIDEO_MODEL"],
            seconds=seconds,
            size=size,
            created_at=self.clock(),
            updated_at=self.clock(),
        )
        claim = None
        if idempotency_key is not None:
            keys = IdempotencyKeys(self.records, idempotency_key, client)
            first, claim = keys.claim(job)
            if first is not None:
                return first, True
        # Record and sweeper marker exist before the paid call: a crash leaves a trace.
        created = self.records.write(job, generation=None)
        self.store.put_record(layout.active_key(job.id), {"id": job.id}, generation=None)
        try:
            upstream = provider.create(
                job.enhanced_prompt,
                job_id=job.id,
                model=job.model,
                seconds=job.seconds,
                size=job.size,
                callback_url=self.callback_url(job.id) if self.callback_url else None,
            )
        except NOT_STARTED:
            self.records.remove(job.id)  # no job was started upstream: nothing to keep
            if claim is not None:
                keys.release(claim)
            raise
        except ProviderError as error:
            # The request may have reached the provider and started a job we cannot see: keep
            # the record (failed, with the reason) and the key, so a retry cannot pay twice.
            self.records.fail(job.id, FailureCode.SUBMIT_UNCONFIRMED)
            if claim is not None:
                keys.settle(claim, error=error)
            raise
        now = self.clock()
        job = self.records.update(job.id, lambda j: first_answer(j, upstream, now), created)
        if claim is not None:
            keys.settle(claim)
        logger.info("job created", extra={"job_id": job.id, "model": job.model})
        return job, False

    # --- refresh ------------------------------------------------------------------------

    def refresh(self, job_id: str, *, force: bool = False) -> Job:
        """The job, advanced from the provider at most once per TTL window across processes.

        Never waits for a download: a job the provider finished is handed to ``spawn`` for
        ingest and reported as ``processing``/``storing`` until its video is stored. ``force``
        (the sweeper, which runs rarely) checks upstream even inside the TTL window.
        """
        record = self.records.read(job_id)
        if record is None:
            raise NotFoundError(f"Job not found: {job_id}")
        job = Job.from_record(record.data)
        if job.is_final:
            return job  # store-first: a finished job never calls the provider again
        if job.stage == STORING:
            if job.ingest_retry_at and self.clock() < job.ingest_retry_at:
                return job  # the last copy-in failed: back off instead of retrying every poll
            return self._ingest_in_background(job_id)
        if job.provider_job_id is None:
            return self._abandon_if_stale(job)
        if not (force or self._due(job)):
            return job
        if self.store.exists(layout.video_key(job.id)):
            # Stored by a process that died before marking the job: finish it, no upstream.
            return self._ingest_in_background(job_id)
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
            return self._ingest_in_background(job_id)
        return job

    def _ingest_in_background(self, job_id: str) -> Job:
        self.spawn(job_id, lambda: self.ingest(job_id))
        return self.get(job_id)  # an inline spawn may have finished it already

    def _abandon_if_stale(self, job: Job) -> Job:
        """A record without a provider id: its creator died mid-submit (or is still in it)."""
        if self.clock() - job.created_at < SUBMIT_GRACE_SECONDS:
            return job
        return self.records.fail(job.id, FailureCode.SUBMIT_FAILED)

    def _due(self, job: Job) -> bool:
        ttl = float(self.config["STATUS_TTL_SECONDS"])
        return job.checked_at is None or self.clock() - job.checked_at >= ttl

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
