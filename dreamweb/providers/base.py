"""The video provider interface: what dreamweb needs from any text-to-video backend.

Implementations raise the ``ProviderError`` family from ``dreamweb.errors``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

# The statuses belong to the job (``dreamweb.jobs.model``); providers map to them, and their
# modules import them from here.
from dreamweb.jobs.model import COMPLETED, FAILED, PENDING, PROCESSING

__all__ = [
    "COMPLETED",
    "FAILED",
    "PENDING",
    "PROCESSING",
    "ContentStream",
    "ProviderJob",
    "VideoProvider",
]


@dataclass(frozen=True)
class ProviderJob:
    """A provider's view of one generation, already mapped to dreamweb's statuses.

    ``status`` is one of pending/processing/completed/failed; an upstream status dreamweb does
    not know maps to processing (``raw_status`` keeps the original).
    """

    id: str
    status: str
    progress: int
    raw_status: str
    model: str | None = None
    seconds: str | None = None
    size: str | None = None
    created_at: int | None = None
    completed_at: int | None = None
    expires_at: int | None = None
    error_code: str | None = None
    error_message: str | None = None


class ContentStream:
    """A streamed download: iterate for chunks, always ``close()`` (or use ``with``).

    Iteration raises ``ContentTruncatedError`` when fewer bytes arrive than ``content_length``
    announced or the connection drops; it never ends early silently.
    """

    def __init__(
        self,
        chunks: Iterator[bytes],
        *,
        content_length: int | None,
        content_type: str,
        close: callable = lambda: None,  # type: ignore[valid-type]
    ) -> None:
        self._chunks = chunks
        self.content_length = content_length
        self.content_type = content_type
        self._close = close

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        """Release the connection."""
        self._close()

    def __enter__(self) -> ContentStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoProvider(Protocol):
    """What dreamweb asks of a video backend."""

    name: str

    def create(self, prompt: str, *, model: str, seconds: str, size: str) -> ProviderJob:
        """Start one generation. Must never start two paid jobs for one call."""
        ...

    def retrieve(self, provider_job_id: str) -> ProviderJob:
        """The job's current state."""
        ...

    def download(self, provider_job_id: str, variant: str = "video") -> ContentStream:
        """Stream a finished job's content: ``video``, ``thumbnail`` or ``spritesheet``."""
        ...

    def delete(self, provider_job_id: str) -> None:
        """Delete the provider's copy of the job."""
        ...
