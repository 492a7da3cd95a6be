"""The Videos API wire format (``/work/shared/reference/videos-api.md``): parsing and the
capability table of the models dreamweb knows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from dreamweb.errors import UpstreamUnavailableError
from dreamweb.providers.base import (
    COMPLETED,
    FAILED,
    PENDING,
    PROCESSING,
    Capabilities,
    ProviderJob,
)
from dreamweb.providers.wire import clamped_progress, error_fields, optional_int, optional_str

NAME = "openai-videos"
DEFAULT_MODEL = "sora-2"
VARIANTS = frozenset({"video", "thumbnail", "spritesheet"})
STATUS_MAP = {
    "queued": PENDING,
    "in_progress": PROCESSING,
    "completed": COMPLETED,
    "failed": FAILED,
}
QUOTA_CODES = frozenset({"insufficient_quota"})
QUOTA_PHRASE = "exceeded your current quota"
SNAPSHOT_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # sora-2-2025-10-06 is a sora-2

SORA_SIZES = ("1280x720", "720x1280")
SORA_PRO_SIZES = (*SORA_SIZES, "1792x1024", "1024x1792", "1920x1080", "1080x1920")
SECONDS = ("4", "8", "12")
# The seed's "10 seconds" is not accepted by Sora 2; 8 is the cheaper neighbour.
DEFAULT_SECONDS, DEFAULT_SIZE = "8", "1280x720"


def _sora(model: str, sizes: tuple[str, ...], rate_720p: float) -> Capabilities:
    return Capabilities(
        provider=NAME,
        model=model,
        seconds=SECONDS,
        sizes=sizes,
        default_seconds=DEFAULT_SECONDS,
        default_size=DEFAULT_SIZE,
        audio=True,
        reports_progress=True,
        thumbnails=True,
        typical_render_seconds=120.0,
        # Only the 720p prices were published (USD per second of video).
        price_per_second={size: rate_720p for size in SORA_SIZES},
    )


KNOWN_MODELS = {
    "sora-2": _sora("sora-2", SORA_SIZES, 0.10),
    "sora-2-pro": _sora("sora-2-pro", SORA_PRO_SIZES, 0.30),
}


def capabilities(model: str) -> Capabilities:
    """What ``model`` renders. Gateways serve models dreamweb has no table for: then nothing is
    enforced and the operator's ``VIDEO_ALLOWED_*`` lists are trusted (today's defaults apply).
    """
    known = KNOWN_MODELS.get(SNAPSHOT_SUFFIX.sub("", model))
    if known is not None:
        return replace(known, model=model)
    return replace(
        KNOWN_MODELS["sora-2"], model=model, price_per_second={}, audio=False, enforced=False
    )


def is_quota_refusal(code: str | None, message: str | None) -> bool:
    """A 429 that means "no quota left" (retrying does not help), not "slow down"."""
    return code in QUOTA_CODES or QUOTA_PHRASE in (message or "").lower()


def parse_video(data: Mapping[str, Any]) -> ProviderJob:
    """Map a Video object to a ``ProviderJob``, leniently.

    Unknown keys are ignored, missing nullable keys become ``None``, ``progress`` is coerced to
    an int in 0..100 (anything unreadable is 0; a completed job is 100), and an unknown status
    is treated as still running (``processing``) with the original kept in ``raw_status``.
    """
    job_id = data.get("id")
    if not isinstance(job_id, str) or not job_id:
        raise UpstreamUnavailableError("The video provider sent a video without an id")
    raw_status = data.get("status")
    raw_status = raw_status if isinstance(raw_status, str) else ""
    status = STATUS_MAP.get(raw_status.strip().lower(), PROCESSING)
    progress = 100 if status == COMPLETED else clamped_progress(data.get("progress"))
    code, message = error_fields(data.get("error"))
    return ProviderJob(
        id=job_id,
        status=status,
        progress=progress,
        raw_status=raw_status,
        model=optional_str(data.get("model")),
        seconds=optional_str(data.get("seconds")),
        size=optional_str(data.get("size")),
        created_at=optional_int(data.get("created_at")),
        completed_at=optional_int(data.get("completed_at")),
        expires_at=optional_int(data.get("expires_at")),
        error_code=code,
        error_message=message,
    )
