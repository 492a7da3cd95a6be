"""The video provider interface: what dreamweb needs from any text-to-video backend.

Implementations raise the ``ProviderError`` family from ``dreamweb.errors``. Each provider
sub-package (``openai_videos``, ``vertex_veo``, ``openrouter``) implements ``VideoProvider`` and
declares what it can render as ``Capabilities``; ``dreamweb.providers`` is the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

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

# ``ProviderJob.error_code`` values every provider maps its own refusals to, so dreamweb can
# explain them the same way whichever backend rendered. Other codes pass through as sent.
CONTENT_POLICY = "moderation_blocked"  # the Videos API's own code, already known to dreamweb
CANCELLED = "cancelled"  # the provider cancelled the render (nobody here asked it to)
TIMED_OUT = "timed_out"  # the provider gave up on the render (it ran past its time limit)
EXPIRED = "expired"  # the finished output is gone before dreamweb could save it


@dataclass(frozen=True)
class ProviderJob:
    """A provider's view of one generation, already mapped to dreamweb's statuses.

    ``status`` is one of pending/processing/completed/failed; an upstream status dreamweb does
    not know maps to processing (``raw_status`` keeps the original). ``progress`` is 0..100, or
    ``None`` when the provider reports no progress at all (Veo, OpenRouter): callers estimate.
    ``output_uri`` is the ``gs://`` URI of a finished video that already sits in a bucket (a
    server-side copy can store it); ``cost`` is what the provider charged, in USD, when it says.
    ``error_code`` is one of the codes above when the provider's refusal has a dreamweb meaning.
    """

    id: str
    status: str
    progress: int | None
    raw_status: str
    model: str | None = None
    seconds: str | None = None
    size: str | None = None
    created_at: int | None = None
    completed_at: int | None = None
    expires_at: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    output_uri: str | None = None
    cost: float | None = None


@dataclass(frozen=True)
class GcsObject:
    """A ``gs://bucket/name`` URI taken apart."""

    bucket: str
    name: str

    @classmethod
    def parse(cls, uri: str) -> GcsObject:
        """``gs://bucket/path/to/object`` → ``GcsObject``; ``ValueError`` for anything else."""
        parts = urlsplit(uri)
        name = parts.path.lstrip("/")
        if parts.scheme != "gs" or not parts.netloc or not name or parts.query:
            raise ValueError("not a gs://bucket/object URI")
        return cls(parts.netloc, name)

    @property
    def uri(self) -> str:
        """Back to ``gs://bucket/name``."""
        return f"gs://{self.bucket}/{self.name}"


@dataclass(frozen=True)
class Capabilities:
    """What one provider can render with one model: the single table the choices come from.

    ``seconds`` and ``sizes`` are the accepted values, as the API takes them (``"8"``,
    ``"1280x720"``); ``enforced`` is false when dreamweb cannot know them (a Videos-API gateway
    serving a model we have no table for): then the operator's configured lists are trusted.
    ``typical_render_seconds`` is how long a render usually takes (for an estimated progress);
    ``price_per_second`` maps a size to USD per second of video, empty when unknown.
    """

    provider: str
    model: str
    seconds: tuple[str, ...]
    sizes: tuple[str, ...]
    default_seconds: str
    default_size: str
    audio: bool = False
    reports_progress: bool = True
    thumbnails: bool = False
    typical_render_seconds: float = 120.0
    price_per_second: Mapping[str, float] = field(default_factory=dict)
    enforced: bool = True

    def price(self, seconds: str, size: str) -> float | None:
        """The expected charge in USD for one clip, or ``None`` when the price is unknown."""
        rate = self.price_per_second.get(size)
        return None if rate is None else round(rate * int(seconds), 4)


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
        close: Callable[[], None] = lambda: None,
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

    def create(
        self,
        prompt: str,
        *,
        job_id: str,
        model: str,
        seconds: str,
        size: str,
        callback_url: str | None = None,
    ) -> ProviderJob:
        """Start one generation for dreamweb's job ``job_id``. Never starts two paid jobs.

        ``callback_url`` asks the provider to notify that URL when the job ends (providers
        without webhooks ignore it).
        """
        ...

    def retrieve(self, provider_job_id: str) -> ProviderJob:
        """The job's current state."""
        ...

    def download(self, provider_job_id: str, variant: str = "video") -> ContentStream:
        """Stream a finished job's content: ``video`` (every provider), ``thumbnail`` or
        ``spritesheet`` (where ``Capabilities.thumbnails``; others raise ``ProviderNotFoundError``).
        """
        ...

    def delete(self, provider_job_id: str) -> None:
        """Delete the provider's copy of the job (a no-op where the provider keeps none)."""
        ...

    def close(self) -> None:
        """Release pooled connections."""
        ...
