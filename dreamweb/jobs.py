"""The job record and its lifecycle: create, refresh (with a shared TTL), ingest, sweep, delete.

A job record lives in the store (``jobs/<jobId>.json``) and is only ever changed with
compare-and-set, so web workers and the sweeper can all advance the same job without losing
each other's updates. dreamweb's own job id is what clients see; the provider's id stays inside
the record.

Status model (what clients see):
    pending     the provider has queued it                         stage "queued"
    processing  rendering upstream, or rendered and being stored   stage "rendering" / "storing"
    completed   the video is in dreamweb's store (and only then)
    failed      final, with a human explanation
"""

from __future__ import annotations

import logging
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from dreamweb.errors import (
    AuthenticationError,
    ConflictError,
    DreamwebError,
    InputRejectedError,
    NotConfiguredError,
    NotFoundError,
    PreconditionFailedError,
    ProviderError,
    ProviderNotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    ReplayedError,
    UpstreamUnavailableError,
    ValidationError,
)
from dreamweb.prompts import enhance_prompt
from dreamweb.providers.base import (
    COMPLETED,
    FAILED,
    PENDING,
    PROCESSING,
    ProviderJob,
    VideoProvider,
)
from dreamweb.storage import layout
from dreamweb.storage.base import Record, VideoStore
from dreamweb.storage.debris import remove_debris  # issue 10 hook
from dreamweb.storage.ingest import IngestOutcome, ingest_video

logger = logging.getLogger("dreamweb.jobs")

ID_ALPHABET = string.ascii_letters + string.digits
ID_RANDOM_LENGTH = 24
IDEMPOTENCY_TTL = 24 * 3600
CAS_ATTEMPTS = 8
SUBMIT_GRACE_SECONDS = 120
# Copy-in retries back off 5 s, 10 s, ... 300 s; after 8 failures (~15 min) the job fails.
INGEST_FIRST_BACKOFF, INGEST_MAX_BACKOFF, INGEST_MAX_FAILURES = 5.0, 300.0, 8
# Errors that prove the provider started nothing: the create can be forgotten entirely.
NOT_STARTED = (InputRejectedError, RateLimitedError, QuotaExhaustedError, AuthenticationError)
STAGES = {PENDING: "queued", PROCESSING: "rendering"}
STORING = "storing"

FAILURE_TEXT = {
    "moderation_blocked": "Video generation failed: content policy violation",
    "expired": "Video generation failed: the finished video expired before it could be saved",
    "provider_lost": "Video generation failed: the provider no longer has this video",
    "submit_failed": "Video generation failed: the provider did not accept the request",
    "submit_unconfirmed": (
        "Video generation failed: the provider did not confirm the request"
        " (it may still have started; retrying with the same Idempotency-Key is safe)"
    ),
    "store_failed": "Video generation failed: the finished video could not be saved",
}


def run_inline(key: str, task: Callable[[], object]) -> None:
    """The sweeper's ``spawn``: just run the task now."""
    task()


def new_job_id() -> str:
    """A fresh dreamweb job id: ``video_`` + 24 random letters/digits."""
    return "video_" + "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_RANDOM_LENGTH))


def iso(timestamp: float | None) -> str | None:
    """Unix seconds as ``2025-10-22T21:00:00Z`` (``None`` stays ``None``)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def failure_text(code: str | None, message: str | None = None) -> str:
    """Human text for a failed job, from the provider's error code."""
    if code in FAILURE_TEXT:
        return FAILURE_TEXT[code]
    detail = (message or code or "unknown error").strip()[:200]
    return f"Video generation failed: {detail}"


@dataclass
class Job:
    """One dream's job record, as stored (snake_case) in ``jobs/<id>.json``."""

    id: str
    provider: str
    prompt: str
    enhanced_prompt: str
    model: str
    seconds: str
    size: str
    status: str = PENDING
    created_status: str = PENDING  # what the create answered: replayed verbatim
    stage: str | None = "queued"
    progress: int = 0
    provider_job_id: str | None = None
    error: str | None = None
    error_code: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    completed_at: float | None = None
    checked_at: float | None = None
    expires_at: float | None = None
    video_bytes: int | None = None
    thumbnail: bool = False
    ingest_failures: int = 0
    ingest_retry_at: float | None = None

    @property
    def is_final(self) -> bool:
        """Completed or failed: nothing will change it again."""
        return self.status in (COMPLETED, FAILED)

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Job:
        """Rebuild from stored JSON, ignoring keys a newer version may have added."""
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_record(self) -> dict[str, Any]:
        """The JSON document stored for this job."""
        return asdict(self)


class RecordCache:
    """A per-process memory of recently read or written job records, for ``max_age`` seconds.

    Status polls of one job arrive many times a second from many clients; without this each
    would read the record from the store (a round trip to GCS). A cached record may be up to
    ``max_age`` old, which is harmless: every write is compare-and-set against the store, so a
    stale copy can only lose a race, never overwrite a newer record.
    """

    def __init__(self, max_age: float, size: int = 1024) -> None:
        self.max_age = max_age
        self.size = size
        self._entries: dict[str, tuple[float, Record]] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str, now: float) -> Record | None:
        """The cached record if it is fresh enough."""
        entry = self._entries.get(job_id)
        return entry[1] if entry and now - entry[0] < self.max_age else None

    def put(self, job_id: str, record: Record, now: float) -> None:
        """Remember ``record`` as of ``now`` (oldest entries go first when full)."""
        if self.max_age <= 0:
            return
        with self._lock:
            self._entries.pop(job_id, None)
            self._entries[job_id] = (now, record)
            while len(self._entries) > self.size:
                self._entries.pop(next(iter(self._entries)))

    def forget(self, job_id: str) -> None:
        """Drop ``job_id`` (deleted, or known to have changed)."""
        with self._lock:
            self._entries.pop(job_id, None)


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did."""

    examined: int = 0
    stored: int = 0
    failed: int = 0
    errors: int = 0


class IdempotencyKeys:
    """``Idempotency-Key`` bookkeeping for one client's key (records under ``idempotency/``).

    A key is claimed create-only before the paid call (state ``in_flight``), then settled with
    the outcome (``done`` with the job, or ``failed`` with the error the client was given), or
    released when the provider surely started nothing. Keys are scoped per client, so one
    client's key never answers with another client's job.
    """

    def __init__(self, jobs: JobService, client_key: str, client: str) -> None:
        self.jobs = jobs
        self.key = layout.idempotency_key(client_key, scope=client)

    def claim(self, job: Job) -> tuple[Job | None, Record | None]:
        """``(first_job, None)`` to replay, or ``(None, claim)`` when ``job`` may proceed.

        Raises ``ReplayedError`` (the first answer was an error), ``ConflictError`` (the first
        request is still in flight) or ``ValidationError`` (the key was used for another body).
        """
        store, now = self.jobs.store, self.jobs.clock()
        body = {
            "job_id": job.id,
            "fingerprint": f"{job.prompt}\0{job.seconds}\0{job.size}",
            "created_at": now,
            "state": "in_flight",
        }
        try:
            return None, store.put_record(self.key, body, generation=None)
        except PreconditionFailedError:
            existing = store.get_record(self.key)
        if existing is None or self._reclaimable(existing.data, now):
            generation = existing.generation if existing else None
            return None, store.put_record(self.key, body, generation=generation)
        if existing.data["fingerprint"] != body["fingerprint"]:
            raise ValidationError("Idempotency-Key was already used with a different request")
        return self._replay(existing.data), None

    def _reclaimable(self, data: dict[str, Any], now: float) -> bool:
        """Expired, abandoned by a creator that died, or pointing at a deleted job."""
        age = now - data["created_at"]
        if age > IDEMPOTENCY_TTL or (data["state"] == "in_flight" and age > SUBMIT_GRACE_SECONDS):
            return True
        return data["state"] == "done" and self.jobs._read(data["job_id"]) is None

    def _replay(self, data: dict[str, Any]) -> Job:
        if data["state"] == "failed":
            raise ReplayedError(data["error"], data["status"])
        if data["state"] == "in_flight":
            raise ConflictError()
        return self.jobs.get(data["job_id"])

    def settle(self, claim: Record, *, error: DreamwebError | None = None) -> None:
        """Record the outcome the client was given."""
        data = dict(claim.data, state="done" if error is None else "failed")
        if error is not None:
            data.update(error=error.public_message, status=error.status)
        self.jobs.store.put_record(self.key, data, generation=claim.generation)

    def release(self, claim: Record) -> None:
        """Free the key: nothing was started, so a retry may really try again."""
        self.jobs.store.delete(self.key)


class JobService:
    """Domain operations on jobs; knows nothing of Flask.

    ``spawn(key, task)`` runs ``task`` in the background (a thread pool in the web process,
    inline in the sweeper), at most once at a time per ``key``; ``clock`` is injectable.
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
    ) -> None:
        self.store = store
        self.provider = provider
        self.config = config
        self.spawn = spawn or run_inline
        self.clock = clock
        self.cache = cache or RecordCache(max_age=0)

    # --- reading ------------------------------------------------------------------------

    def get(self, job_id: str, *, fresh: bool = False) -> Job:
        """The stored job, or ``NotFoundError``. Never calls the provider."""
        record = self._read(job_id, fresh=fresh)
        if record is None:
            raise NotFoundError(f"Job not found: {job_id}")
        return Job.from_record(record.data)

    def _read(self, job_id: str, *, fresh: bool = False) -> Record | None:
        record = None if fresh else self.cache.get(job_id, self.clock())
        if record is None:
            record = self.store.get_record(layout.job_key(job_id))
            if record is not None:
                self.cache.put(job_id, record, self.clock())
        return record

    def _write(self, job: Job, generation: str | None) -> Record:
        """Compare-and-set the job's record, keeping the cache in step."""
        try:
            record = self.store.put_record(
                layout.job_key(job.id), job.to_record(), generation=generation
            )
        except PreconditionFailedError:
            self.cache.forget(job.id)
            raise
        self.cache.put(job.id, record, self.clock())
        return record

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
        provider = self._require_provider()
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
            keys = IdempotencyKeys(self, idempotency_key, client)
            first, claim = keys.claim(job)
            if first is not None:
                return first, True
        # Record and sweeper marker exist before the paid call: a crash leaves a trace.
        created = self._write(job, generation=None)
        self.store.put_record(layout.active_key(job.id), {"id": job.id}, generation=None)
        try:
            upstream = provider.create(
                job.enhanced_prompt, model=job.model, seconds=job.seconds, size=job.size
            )
        except NOT_STARTED:
            self._forget(job.id)
            if claim is not None:
                keys.release(claim)
            raise
        except ProviderError as error:
            # The request may have reached the provider and started a job we cannot see: keep
            # the record (failed, with the reason) and the key, so a retry cannot pay twice.
            self._fail(job.id, "submit_unconfirmed")
            if claim is not None:
                keys.settle(claim, error=error)
            raise
        job = self._update(job.id, lambda j: _first_answer(j, upstream, self.clock()), created)
        if claim is not None:
            keys.settle(claim)
        logger.info("job created", extra={"job_id": job.id, "model": job.model})
        return job, False

    def _require_provider(self) -> VideoProvider:
        if self.provider is None:
            raise NotConfiguredError(
                "Video creation is not configured on this server (no provider API key)"
            )
        return self.provider

    def _forget(self, job_id: str) -> None:
        """Undo a create the provider refused: no job was started, nothing to keep."""
        self.store.delete(layout.active_key(job_id))
        self.store.delete(layout.job_key(job_id))
        self.cache.forget(job_id)

    # --- refresh ------------------------------------------------------------------------

    def refresh(self, job_id: str, *, force: bool = False) -> Job:
        """The job, advanced from the provider at most once per TTL window across processes.

        Never waits for a download: a job the provider finished is handed to ``spawn`` for
        ingest and reported as ``processing``/``storing`` until its video is stored. ``force``
        (the sweeper, which runs rarely) checks upstream even inside the TTL window.
        """
        record = self._read(job_id)
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
            upstream = self._require_provider().retrieve(job.provider_job_id or "")
        except ProviderNotFoundError:
            return self._fail(job.id, "provider_lost")
        except InputRejectedError as error:
            # Our own request was refused: the client asking for the status did nothing wrong.
            raise UpstreamUnavailableError(upstream_status=error.upstream_status) from error
        job = self._update(job.id, lambda j: _apply_upstream(j, upstream, self.clock()), record)
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
        return self._fail(job.id, "submit_failed")

    def _due(self, job: Job) -> bool:
        ttl = float(self.config["STATUS_TTL_SECONDS"])
        return job.checked_at is None or self.clock() - job.checked_at >= ttl

    def _claim_check(self, job: Job, record: Record) -> tuple[Job, Record]:
        """Stamp ``checked_at`` with compare-and-set: of N concurrent pollers, one wins."""
        job = replace(job, checked_at=self.clock())
        return job, self._write(job, generation=record.generation)

    # --- ingest -------------------------------------------------------------------------

    def ingest(self, job_id: str) -> Job:
        """Copy a provider-finished job's video into the store and mark it completed."""
        job = self.get(job_id)
        if job.is_final:
            return job
        try:
            result = ingest_video(
                self.store,
                self._require_provider(),
                job_id=job.id,
                provider_job_id=job.provider_job_id or "",
                expires_at=job.expires_at,
                lease_seconds=self.config["INGEST_LEASE_SECONDS"],
                attempts=self.config["INGEST_ATTEMPTS"],
                clock=self.clock,
            )
        except Exception as error:
            logger.warning("ingest failed", extra={"job_id": job_id, "error": type(error).__name__})
            job = self._update(job_id, lambda j: _count_ingest_failure(j, self.clock()))
            if job.ingest_failures >= INGEST_MAX_FAILURES:
                return self._fail(job_id, "store_failed")
            return job
        if result.outcome is IngestOutcome.EXPIRED:
            return self._fail(job_id, "expired")
        if result.outcome is IngestOutcome.IN_PROGRESS:
            return job
        stat = self.store.stat(layout.video_key(job_id))
        thumbnail = result.thumbnail or self.store.exists(layout.thumbnail_key(job_id))
        try:
            return self._finish(job_id, stat.size, thumbnail)
        except NotFoundError:
            # Deleted while we copied: do not leave its video behind.
            self.store.delete(layout.video_key(job_id))
            self.store.delete(layout.thumbnail_key(job_id))
            raise

    def _finish(self, job_id: str, size: int, thumbnail: bool) -> Job:
        now = self.clock()

        def complete(job: Job) -> Job:
            return replace(
                job,
                status=COMPLETED,
                stage=None,
                progress=100,
                completed_at=job.completed_at or now,
                video_bytes=size,
                thumbnail=thumbnail,
            )

        job = self._update(job_id, complete)
        logger.info("job completed", extra={"job_id": job_id, "bytes": size})
        return job

    def _fail(self, job_id: str, code: str, message: str | None = None) -> Job:
        def fail(job: Job) -> Job:
            return replace(
                job,
                status=FAILED,
                stage=None,
                error=failure_text(code, message),
                error_code=code,
            )

        job = self._update(job_id, fail)
        logger.info("job failed", extra={"job_id": job_id, "cause": code})
        return job

    # --- sweep and delete ---------------------------------------------------------------

    def active_job_ids(self) -> Iterator[str]:
        """Ids of jobs not yet completed or failed."""
        for key in self.store.list(layout.ACTIVE):
            job_id = layout.job_id_from_key(key)
            if job_id is not None:
                yield job_id

    def sweep(self) -> SweepReport:
        """Advance every unfinished job and copy in finished videos (inline, not spawned)."""
        examined = stored = failed = errors = 0
        try:
            active = list(self.active_job_ids())
        except DreamwebError as error:
            logger.warning("sweep could not list jobs", extra={"error": type(error).__name__})
            return SweepReport(errors=1)
        for job_id in active:
            examined += 1
            try:
                job = self._sweep_one(job_id)
            except Exception as error:
                errors += 1
                logger.warning(
                    "sweep could not advance job",
                    extra={"job_id": job_id, "error": type(error).__name__},
                )
                continue
            stored += job.status == COMPLETED
            failed += job.status == FAILED
        self._sweep_idempotency_keys()
        remove_debris(self.store, self.config["INGEST_LEASE_SECONDS"])  # issue 10 hook: debris
        return SweepReport(examined, stored, failed, errors)

    def _sweep_one(self, job_id: str) -> Job:
        record = self._read(job_id)
        if record is None:
            self.store.delete(layout.active_key(job_id))
            raise NotFoundError(f"active marker without a job: {job_id}")
        job = Job.from_record(record.data)
        if job.is_final:
            self.store.delete(layout.active_key(job_id))
            return job
        self.refresh(job_id, force=True)  # the sweeper's spawn ingests inline
        return self.get(job_id)

    def _sweep_idempotency_keys(self) -> None:
        for key in list(self.store.list(layout.IDEMPOTENCY)):
            record = self.store.get_record(key)
            if record and self.clock() - record.data.get("created_at", 0) > IDEMPOTENCY_TTL:
                self.store.delete(key)

    def delete(self, job_id: str) -> None:
        """Remove the stored video, thumbnail and record; best effort upstream too."""
        job = self.get(job_id)
        for key in (
            layout.video_key(job_id),
            layout.thumbnail_key(job_id),
            layout.lease_key(job_id),
            layout.active_key(job_id),
            layout.job_key(job_id),
        ):
            self.store.delete(key)
        self.cache.forget(job_id)
        if self.provider is not None and job.provider_job_id:
            try:
                self.provider.delete(job.provider_job_id)
            except ProviderError as error:
                logger.info(
                    "provider copy not deleted",
                    extra={"job_id": job_id, "error": type(error).__name__},
                )
        logger.info("job deleted", extra={"job_id": job_id})

    # --- compare-and-set ----------------------------------------------------------------

    def _update(
        self, job_id: str, change: Callable[[Job], Job], record: Record | None = None
    ) -> Job:
        """Apply ``change`` to the stored job with compare-and-set, re-reading on conflict."""
        for _ in range(CAS_ATTEMPTS):
            record = record or self._read(job_id, fresh=True)
            if record is None:
                raise NotFoundError(f"Job not found: {job_id}")
            before = Job.from_record(record.data)
            after = change(before)
            if after == before:
                return before
            after = replace(after, updated_at=self.clock())
            try:
                self._write(after, generation=record.generation)
            except PreconditionFailedError:
                record = None
                continue
            if after.status != before.status:
                logger.info(
                    "job status changed",
                    extra={"job_id": job_id, "from": before.status, "to": after.status},
                )
                if after.is_final:
                    self.store.delete(layout.active_key(job_id))
            return after
        raise PreconditionFailedError(f"job {job_id} kept changing under us")


def _apply_upstream(job: Job, upstream: ProviderJob, now: float) -> Job:
    """Fold a provider's view of the job into our record."""
    if job.is_final:
        return job
    changes: dict[str, Any] = {"provider_job_id": upstream.id, "checked_at": now}
    if upstream.status == FAILED:
        changes.update(
            status=FAILED,
            stage=None,
            error=failure_text(upstream.error_code, upstream.error_message),
            error_code=upstream.error_code,
        )
    elif upstream.status == COMPLETED:
        # Completed upstream is not completed here until the video is in our store.
        changes.update(
            status=PROCESSING, stage=STORING, progress=100, expires_at=upstream.expires_at
        )
    else:
        changes.update(
            status=upstream.status,
            stage=STAGES.get(upstream.status, "rendering"),
            progress=max(job.progress, min(upstream.progress, 99)),
        )
    return replace(job, **changes)


def _first_answer(job: Job, upstream: ProviderJob, now: float) -> Job:
    """The job as the provider first accepted it; its status is what the create answered."""
    job = _apply_upstream(job, upstream, now)
    return replace(job, created_status=job.status)


def _count_ingest_failure(job: Job, now: float) -> Job:
    """One more failed copy-in; the next try waits 5 s, 10 s, 20 s ... at most 5 minutes."""
    failures = job.ingest_failures + 1
    delay = min(INGEST_MAX_BACKOFF, INGEST_FIRST_BACKOFF * 2 ** (failures - 1))
    return replace(job, ingest_failures=failures, ingest_retry_at=now + delay)
