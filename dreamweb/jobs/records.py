"""Job records in the store: a per-process cache, reads, writes and compare-and-set updates.

A job record lives in the store (``jobs/<jobId>.json``) and is only ever changed with
compare-and-set, so web workers and the sweeper can all advance the same job without losing
each other's updates.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from dreamweb.errors import NotFoundError, PreconditionFailedError
from dreamweb.jobs.model import Job, completed, failed
from dreamweb.storage import layout
from dreamweb.storage.base import Record, VideoStore

logger = logging.getLogger("dreamweb.jobs")

CAS_ATTEMPTS = 8


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


class JobRecords:
    """Reads and compare-and-set writes of job records, through the cache."""

    def __init__(
        self,
        store: VideoStore,
        *,
        clock: Callable[[], float] = time.time,
        cache: RecordCache | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.cache = cache or RecordCache(max_age=0)

    def read(self, job_id: str, *, fresh: bool = False) -> Record | None:
        """The stored record (``fresh``: never from the cache), or ``None``."""
        record = None if fresh else self.cache.get(job_id, self.clock())
        if record is None:
            record = self.store.get_record(layout.job_key(job_id))
            if record is not None:
                self.cache.put(job_id, record, self.clock())
        return record

    def get(self, job_id: str, *, fresh: bool = False) -> Job:
        """The stored job, or ``NotFoundError``."""
        record = self.read(job_id, fresh=fresh)
        if record is None:
            raise NotFoundError(f"Job not found: {job_id}")
        return Job.from_record(record.data)

    def write(self, job: Job, generation: str | None) -> Record:
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

    def update(
        self, job_id: str, change: Callable[[Job], Job], record: Record | None = None
    ) -> Job:
        """Apply ``change`` to the stored job with compare-and-set, re-reading on conflict."""
        for _ in range(CAS_ATTEMPTS):
            record = record or self.read(job_id, fresh=True)
            if record is None:
                raise NotFoundError(f"Job not found: {job_id}")
            before = Job.from_record(record.data)
            after = change(before)
            if after == before:
                return before
            after = replace(after, updated_at=self.clock())
            try:
                self.write(after, generation=record.generation)
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

    def complete(self, job_id: str, *, size: int, thumbnail: bool) -> Job:
        """Mark the job completed: its ``size``-byte video is stored."""
        now = self.clock()
        job = self.update(job_id, lambda j: completed(j, size=size, thumbnail=thumbnail, now=now))
        logger.info("job completed", extra={"job_id": job_id, "bytes": size})
        return job

    def fail(self, job_id: str, code: str, message: str | None = None) -> Job:
        """Mark the job failed for ``code``."""
        job = self.update(job_id, lambda j: failed(j, code, message))
        logger.info("job failed", extra={"job_id": job_id, "cause": str(code)})
        return job

    def remove(self, job_id: str) -> None:
        """Drop the record and its sweeper marker (the job never started, or is deleted)."""
        self.store.delete(layout.active_key(job_id))
        self.store.delete(layout.job_key(job_id))
        self.cache.forget(job_id)
