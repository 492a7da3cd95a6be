"""Exactly-once copy of a finished provider video into dreamweb's store.

Several processes may try to ingest the same job at once (web workers answering polls, the
sweeper). A create-only *lease* record decides who downloads; the others return "in progress".
A lease carries an expiry and is renewed while the copy runs, so a process that dies mid-copy
blocks the job only until its lease runs out. The video itself is written create-only and
atomically by the store, so a reader sees either no video or the whole one.
"""

from __future__ import annotations

import enum
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from dreamweb.errors import (
    ContentTruncatedError,
    DreamwebError,
    PreconditionFailedError,
    ProviderNotFoundError,
    StorageError,
    UpstreamUnavailableError,
    VideoTooLargeError,
)
from dreamweb.providers.base import VideoProvider
from dreamweb.storage.base import VideoStore
from dreamweb.storage.layout import lease_key, thumbnail_key, video_key

logger = logging.getLogger("dreamweb.ingest")
Clock = Callable[[], float]
# Faults worth another download: the provider still has the content, the transfer broke.
RETRYABLE = (ContentTruncatedError, UpstreamUnavailableError)


class IngestOutcome(enum.Enum):
    """How an ingest attempt ended."""

    STORED = "stored"  # this call copied the video in
    ALREADY_STORED = "already_stored"  # it was there before (or another process just won)
    IN_PROGRESS = "in_progress"  # another live process holds the lease
    EXPIRED = "expired"  # the provider's copy is gone: the job cannot complete


@dataclass(frozen=True)
class IngestResult:
    """An ``IngestOutcome`` with what was stored (for logs and the job record)."""

    outcome: IngestOutcome
    video_bytes: int | None = None
    thumbnail: bool = False
    duration: float = 0.0


class LeaseLost(StorageError):
    """Another process took the lease over while we were copying (ours had expired)."""


@dataclass
class Lease:
    """A held ingest lease; ``renew`` extends it with compare-and-set."""

    store: VideoStore
    key: str
    owner: str
    generation: str
    seconds: float
    clock: Clock

    def renew(self) -> None:
        """Push the expiry forward; ``LeaseLost`` if someone else now owns it."""
        try:
            record = self.store.put_record(self.key, self._body(), generation=self.generation)
        except PreconditionFailedError:
            raise LeaseLost("ingest lease taken over by another process") from None
        self.generation = record.generation

    def release(self) -> None:
        """Drop the lease if it is still ours: only the version we wrote, never a takeover's."""
        self.store.delete(self.key, generation=self.generation)

    def _body(self) -> dict:
        return {"owner": self.owner, "expires_at": self.clock() + self.seconds}


def acquire_lease(
    store: VideoStore, job_id: str, *, seconds: float, clock: Clock = time.time
) -> Lease | None:
    """Take the job's ingest lease, or ``None`` while another process holds a live one.

    An expired lease is taken over with compare-and-set, so of two processes that both see it
    expired only one wins.
    """
    key = lease_key(job_id)
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    body = {"owner": owner, "expires_at": clock() + seconds}
    try:
        record = store.put_record(key, body, generation=None)
    except PreconditionFailedError:
        current = store.get_record(key)
        if current is None:
            return acquire_lease(store, job_id, seconds=seconds, clock=clock)
        if float(current.data.get("expires_at", 0)) > clock():
            return None
        try:
            record = store.put_record(key, body, generation=current.generation)
        except PreconditionFailedError:
            return None
        logger.warning("took over expired ingest lease", extra={"job_id": job_id})
    return Lease(store, key, owner, record.generation, seconds, clock)


def _renewing(chunks: Iterable[bytes], lease: Lease, every: float) -> Iterator[bytes]:
    """Pass ``chunks`` through, renewing ``lease`` every ``every`` seconds of copying."""
    next_renewal = lease.clock() + every
    for chunk in chunks:
        if lease.clock() >= next_renewal:
            lease.renew()
            next_renewal = lease.clock() + every
        yield chunk


def capped(chunks: Iterable[bytes], max_bytes: int | None) -> Iterator[bytes]:
    """Pass ``chunks`` through; ``VideoTooLargeError`` as soon as more than ``max_bytes`` came.

    The store never makes a failed stream visible, so nothing partial is left behind.
    """
    received = 0
    for chunk in chunks:
        received += len(chunk)
        if max_bytes is not None and received > max_bytes:
            raise VideoTooLargeError()
        yield chunk


def ingest_video(
    store: VideoStore,
    provider: VideoProvider,
    *,
    job_id: str,
    provider_job_id: str,
    expires_at: float | None = None,
    lease_seconds: float = 300,
    attempts: int = 3,
    clock: Clock = time.time,
    max_bytes: int | None = None,
) -> IngestResult:
    """Copy a finished job's video (and, best effort, its thumbnail) into ``store``.

    Returns the outcome; raises ``StorageError`` or ``ProviderError`` when every attempt failed
    (nothing partial is left visible, and the lease is released so the next try can start),
    and ``VideoTooLargeError`` (never retried) for a video over ``max_bytes``.
    """
    started = clock()
    key = video_key(job_id)
    if store.exists(key):
        return IngestResult(IngestOutcome.ALREADY_STORED)
    if expires_at is not None and clock() >= expires_at:
        return IngestResult(IngestOutcome.EXPIRED)
    lease = acquire_lease(store, job_id, seconds=lease_seconds, clock=clock)
    if lease is None:
        return IngestResult(IngestOutcome.IN_PROGRESS)
    try:
        if store.exists(key):
            return IngestResult(IngestOutcome.ALREADY_STORED)
        logger.info("ingest started", extra={"job_id": job_id})
        try:
            size = _copy_video(store, provider, lease, key, provider_job_id, attempts, max_bytes)
        except ProviderNotFoundError:
            return IngestResult(IngestOutcome.EXPIRED)
        except PreconditionFailedError:
            return IngestResult(IngestOutcome.ALREADY_STORED)
        except VideoTooLargeError:
            logger.warning("ingest refused: video over MAX_VIDEO_BYTES", extra={"job_id": job_id})
            raise
        thumbnail = _copy_thumbnail(store, provider, job_id, provider_job_id)
    finally:
        lease.release()
    duration = clock() - started
    logger.info(
        "ingest finished",
        extra={"job_id": job_id, "bytes": size, "duration_s": round(duration, 3)},
    )
    return IngestResult(IngestOutcome.STORED, size, thumbnail, duration)


def _copy_video(
    store: VideoStore,
    provider: VideoProvider,
    lease: Lease,
    key: str,
    provider_job_id: str,
    attempts: int,
    max_bytes: int | None = None,
) -> int:
    """Stream the video into the store, retrying broken transfers ``attempts`` times.

    A video announced or found to be over ``max_bytes`` stops the copy at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            with provider.download(provider_job_id, "video") as content:
                announced = content.content_length
                if max_bytes is not None and announced is not None and announced > max_bytes:
                    raise VideoTooLargeError()
                stored = store.put_stream(
                    key,
                    capped(_renewing(content, lease, every=lease.seconds / 3), max_bytes),
                    content_type="video/mp4",
                    size=content.content_length,
                    if_absent=True,
                )
            return stored.size
        except RETRYABLE as error:
            if attempt == attempts:
                raise
            logger.warning(
                "ingest transfer failed; retrying",
                extra={"attempt": attempt, "error": type(error).__name__},
            )
            lease.renew()
    raise AssertionError("unreachable")  # pragma: no cover


# Thumbnail types stored as sent. The thumbnail is served inline from the app's own origin, so
# anything else a gateway claims (text/html, image/svg+xml, ...) would be active content there:
# it is stored as the API's documented image/webp instead (a browser then shows it or nothing).
THUMBNAIL_TYPES = frozenset({"image/webp", "image/png", "image/jpeg"})
THUMBNAIL_DEFAULT_TYPE = "image/webp"


def _thumbnail_type(sent: str | None) -> str:
    """The type to store a thumbnail as: ``sent`` (bare, lower-case) if a raster image type
    we allow, else ``image/webp``."""
    essence = (sent or "").split(";", 1)[0].strip().lower()
    return essence if essence in THUMBNAIL_TYPES else THUMBNAIL_DEFAULT_TYPE


def _copy_thumbnail(
    store: VideoStore, provider: VideoProvider, job_id: str, provider_job_id: str
) -> bool:
    """Best effort: a missing poster image never fails the job."""
    try:
        with provider.download(provider_job_id, "thumbnail") as content:
            store.put_stream(
                thumbnail_key(job_id),
                content,
                content_type=_thumbnail_type(content.content_type),
                size=content.content_length,
                if_absent=True,
            )
    except PreconditionFailedError:
        return True
    except DreamwebError as error:
        logger.warning(
            "thumbnail not stored", extra={"job_id": job_id, "error": type(error).__name__}
        )
        return False
    return True
