"""OpenRouter's video API wire format (``/work/shared/reference/openrouter-videos.md``):
generation objects, create bodies, and capabilities derived from catalog model objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dreamweb.errors import UpstreamUnavailableError
from dreamweb.providers.base import (
    CANCELLED,
    COMPLETED,
    FAILED,
    PENDING,
    PROCESSING,
    TIMED_OUT,
    Capabilities,
    ProviderJob,
)
from dreamweb.providers.sizes import SHORT_SIDE, shape_of, sizes_for
from dreamweb.providers.wire import finite_float, optional_int, optional_str

NAME = "openrouter"
DEFAULT_MODEL = "google/veo-3.1"
STATUS_MAP = {
    "pending": PENDING,
    "in_progress": PROCESSING,
    "completed": COMPLETED,
    "failed": FAILED,
    "cancelled": FAILED,
    "expired": FAILED,
}
# Final states that are failures with a meaning of their own, and what to say when OpenRouter
# says nothing.
FAILURE_CODES = {
    "cancelled": (CANCELLED, "the render was cancelled at OpenRouter"),
    "expired": (TIMED_OUT, "the render ran past OpenRouter's time limit"),
}
PREFERRED_SECONDS, PREFERRED_SIZE = "8", "1280x720"
TYPICAL_RENDER_SECONDS = 120.0  # the guide: "about 30 s to a few minutes"


def parse_generation(data: Mapping[str, Any]) -> ProviderJob:
    """Map a generation object (create's 202 or a poll) to a ``ProviderJob``.

    No progress is reported (``None``); an unknown status counts as still running; ``error`` is
    a string; ``usage.cost`` (USD) becomes ``cost``.
    """
    job_id = data.get("id")
    if not isinstance(job_id, str) or not job_id:
        raise UpstreamUnavailableError("OpenRouter sent a video job without an id")
    raw = data.get("status") if isinstance(data.get("status"), str) else ""
    status = STATUS_MAP.get(raw.strip().lower(), PROCESSING)  # type: ignore[union-attr]
    error = data.get("error")
    message = error if isinstance(error, str) and error else None
    if isinstance(error, Mapping):
        message = optional_str(error.get("message"))
    code, fallback = FAILURE_CODES.get(raw.strip().lower(), (None, None))  # type: ignore[union-attr]
    if status == FAILED:
        message = message or fallback or "OpenRouter reported a failure"
    usage = data.get("usage") if isinstance(data.get("usage"), Mapping) else {}
    return ProviderJob(
        id=job_id,
        status=status,
        progress=None,
        raw_status=raw,  # type: ignore[arg-type]
        expires_at=optional_int(data.get("expires_at")),
        error_code=code,
        error_message=message if status == FAILED else None,
        cost=finite_float(usage.get("cost")),  # type: ignore[union-attr]
    )


def create_body(
    prompt: str,
    *,
    model: str,
    seconds: str,
    size: str,
    entry: Mapping[str, Any] | None,
    generate_audio: bool,
    callback_url: str | None,
) -> dict[str, Any]:
    """The ``POST /videos`` body. ``size`` travels as ``aspect_ratio`` + ``resolution`` when the
    model's catalog entry offers a pair that makes it (what the catalog validates), else as
    ``size``. ``generate_audio`` is sent only to models that have the flag (others answer 400).
    """
    body: dict[str, Any] = {"model": model, "prompt": prompt, "duration": int(seconds)}
    entry = entry or {}
    shape = shape_of(
        size,
        _strings(entry.get("supported_aspect_ratios")),
        _strings(entry.get("supported_resolutions")),
    )
    if shape is not None:
        body["aspect_ratio"], body["resolution"] = shape
    else:
        body["size"] = size
    if entry.get("generate_audio") is True:
        body["generate_audio"] = generate_audio
    if callback_url:
        body["callback_url"] = callback_url
    return body


def model_capabilities(entry: Mapping[str, Any], *, audio: bool = True) -> Capabilities:
    """Capabilities of one catalog model object: durations, sizes (``supported_sizes``, else
    every ratio × resolution), audio and the per-second prices of its ``duration_seconds*`` SKUs.
    """
    seconds = tuple(
        str(int(value))
        for value in entry.get("supported_durations") or ()
        if finite_float(value) is not None and float(value) > 0
    )
    sizes = tuple(_strings(entry.get("supported_sizes"))) or sizes_for(
        _strings(entry.get("supported_aspect_ratios")), _strings(entry.get("supported_resolutions"))
    )
    has_audio = entry.get("generate_audio") is True
    return Capabilities(
        provider=NAME,
        model=str(entry.get("id")),
        seconds=seconds,
        sizes=sizes,
        default_seconds=PREFERRED_SECONDS if PREFERRED_SECONDS in seconds else _first(seconds),
        default_size=PREFERRED_SIZE if PREFERRED_SIZE in sizes else _first(sizes),
        audio=has_audio,
        reports_progress=False,
        thumbnails=False,
        typical_render_seconds=TYPICAL_RENDER_SECONDS,
        price_per_second=_prices(entry.get("pricing_skus"), sizes, audio=audio and has_audio),
    )


def _prices(skus: Any, sizes: Iterable[str], *, audio: bool) -> dict[str, float]:
    """USD per second for each size from SKUs like ``duration_seconds_with_audio[_4k]``.

    SKU names and units vary by model: only ``duration_seconds*`` SKUs are read (USD per
    second); anything else leaves the price unknown rather than guessed.
    """
    if not isinstance(skus, Mapping):
        return {}
    flavour = "_with_audio" if audio else "_without_audio"
    prices: dict[str, float] = {}
    for size in sizes:
        suffix = "_4k" if min(int(side) for side in size.split("x")) >= SHORT_SIDE["4k"] else ""
        for key in (f"duration_seconds{flavour}{suffix}", f"duration_seconds{suffix}"):
            rate = finite_float(skus.get(key))
            if rate is not None:
                prices[size] = rate
                break
    return prices


def _strings(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _first(values: tuple[str, ...]) -> str:
    return values[0] if values else ""
