"""Veo on Vertex AI: request bodies, operation parsing and what each model renders.

Reference: ``/work/shared/reference/veo-vertex.md``. Field names are camelCase, as the official
``google-genai`` SDK sends them; results are read from ``response.videos[]`` with the deprecated
``generatedSamples[].video`` as a fallback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dreamweb.errors import UpstreamUnavailableError
from dreamweb.providers.base import (
    COMPLETED,
    CONTENT_POLICY,
    FAILED,
    PENDING,
    PROCESSING,
    Capabilities,
    ProviderJob,
)
from dreamweb.providers.sizes import shape_of, sizes_for
from dreamweb.providers.wire import optional_int, optional_str

logger = logging.getLogger("dreamweb.provider")

NAME = "vertex-veo"
DEFAULT_MODEL = "veo-3.1-fast-generate-001"
API_VERSION = "v1"
ASPECT_RATIOS = ("16:9", "9:16")
SECONDS = ("4", "6", "8")


def _veo(model: str, prices: Mapping[str, float], render: float) -> Capabilities:
    """A Veo 3.1 model rendering at the resolutions ``prices`` lists (USD per second)."""
    price_per_second = {
        size: rate
        for resolution, rate in prices.items()
        for size in sizes_for(ASPECT_RATIOS, [resolution])
    }
    return Capabilities(
        provider=NAME,
        model=model,
        seconds=SECONDS,
        sizes=sizes_for(ASPECT_RATIOS, prices),
        default_seconds="8",
        default_size="1280x720",
        audio=True,
        reports_progress=False,
        thumbnails=False,
        typical_render_seconds=render,
        price_per_second=price_per_second,
    )


# USD per second of video (reference §4); 4k only on the full model (the table).
MODELS = {
    "veo-3.1-generate-001": _veo(
        "veo-3.1-generate-001", {"720p": 0.40, "1080p": 0.40, "4k": 0.60}, render=150.0
    ),
    "veo-3.1-fast-generate-001": _veo(
        "veo-3.1-fast-generate-001", {"720p": 0.10, "1080p": 0.12}, render=90.0
    ),
    "veo-3.1-lite-generate-001": _veo(
        "veo-3.1-lite-generate-001", {"720p": 0.05, "1080p": 0.08}, render=60.0
    ),
}
RESOLUTIONS = ("720p", "1080p", "4k")


def model_path(project: str, location: str, model: str) -> str:
    """``projects/{p}/locations/{l}/publishers/google/models/{m}``."""
    return f"projects/{project}/locations/{location}/publishers/google/models/{model}"


def operation_model_path(operation_name: str) -> str:
    """The model resource an operation belongs to (what ``fetchPredictOperation`` is called on).

    ``ValueError`` for anything that is not ``…/models/{m}/operations/{id}``.
    """
    resource, separator, operation_id = operation_name.rpartition("/operations/")
    if not separator or not operation_id or "/models/" not in resource or "?" in operation_name:
        raise ValueError("not a Vertex AI model operation name")
    return resource


def predict_body(
    prompt: str, *, seconds: str, size: str, storage_uri: str | None, generate_audio: bool
) -> dict[str, Any]:
    """The ``:predictLongRunning`` body for one clip of ``seconds`` at ``size`` (``WxH``)."""
    shape = shape_of(size, ASPECT_RATIOS, RESOLUTIONS)
    if shape is None:
        raise ValueError(f"Veo cannot render {size}")
    aspect_ratio, resolution = shape
    parameters: dict[str, Any] = {
        "sampleCount": 1,
        "durationSeconds": int(seconds),
        "aspectRatio": aspect_ratio,
        "resolution": resolution,
        "generateAudio": generate_audio,
    }
    if storage_uri is not None:
        parameters["storageUri"] = storage_uri
    return {"instances": [{"prompt": prompt}], "parameters": parameters}


def submitted(data: Mapping[str, Any], *, model: str, seconds: str, size: str) -> ProviderJob:
    """The job a ``:predictLongRunning`` answer (``{"name": ...}``) started."""
    name = data.get("name")
    if not isinstance(name, str) or "/operations/" not in name:
        raise UpstreamUnavailableError("Vertex AI answered without an operation name")
    return ProviderJob(
        id=name,
        status=PENDING,
        progress=None,
        raw_status="submitted",
        model=model,
        seconds=seconds,
        size=size,
    )


def parse_operation(data: Mapping[str, Any]) -> ProviderJob:
    """Map a ``google.longrunning.Operation`` of a Veo render to a ``ProviderJob``.

    Not ``done`` → processing (Veo reports no progress: ``None``). ``done`` with ``error`` →
    failed with its message. ``done`` with no video and ``raiMediaFilteredCount`` > 0 → failed
    as a content-policy refusal (the reasons are logged, never shown). The first video's
    ``gcsUri`` becomes ``output_uri``; an inline (base64) video is fetched by ``download``.
    """
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise UpstreamUnavailableError("Vertex AI sent an operation without a name")
    common = {"id": name, "progress": None, "created_at": _created_at(data)}
    if data.get("done") is not True:
        return ProviderJob(status=PROCESSING, raw_status="running", **common)
    error = data.get("error")
    if isinstance(error, Mapping):
        message = optional_str(error.get("message")) or "Vertex AI reported an error"
        return ProviderJob(status=FAILED, raw_status="error", error_message=message, **common)
    response = data.get("response") if isinstance(data.get("response"), Mapping) else {}
    videos = videos_of(response)  # type: ignore[arg-type]
    if videos:
        return ProviderJob(
            status=COMPLETED,
            raw_status="done",
            output_uri=optional_str(videos[0].get("gcsUri")),
            **common,
        )
    filtered = optional_int(response.get("raiMediaFilteredCount")) or 0  # type: ignore[union-attr]
    if filtered > 0:
        reasons = response.get("raiMediaFilteredReasons")  # type: ignore[union-attr]
        logger.warning("vertex render filtered", extra={"operation": name, "rai_reasons": reasons})
        return ProviderJob(
            status=FAILED,
            raw_status="filtered",
            error_code=CONTENT_POLICY,
            error_message="Vertex AI's safety filters blocked the video",
            **common,
        )
    return ProviderJob(
        status=FAILED,
        raw_status="empty",
        error_message="Vertex AI finished without a video",
        **common,
    )


def videos_of(response: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """``response.videos[]`` (``gcsUri`` or ``bytesBase64Encoded``), else the deprecated
    ``generatedSamples[].video`` mapped to the same keys."""
    videos = response.get("videos")
    if isinstance(videos, list):
        return [video for video in videos if isinstance(video, Mapping) and _has_media(video)]
    samples = response.get("generatedSamples")
    found: list[Mapping[str, Any]] = []
    for sample in samples if isinstance(samples, list) else []:
        video = sample.get("video") if isinstance(sample, Mapping) else None
        if isinstance(video, Mapping):
            found.append(
                {"gcsUri": video.get("uri"), "bytesBase64Encoded": video.get("encodedVideo")}
            )
    return [video for video in found if _has_media(video)]


def error_status(payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(message, status)`` of a Google error envelope ``{"error": {code, message, status}}``."""
    error = payload.get("error")
    if not isinstance(error, Mapping):
        return None, None
    return optional_str(error.get("message")), optional_str(error.get("status"))


def _has_media(video: Mapping[str, Any]) -> bool:
    return bool(video.get("gcsUri") or video.get("bytesBase64Encoded"))


def _created_at(data: Mapping[str, Any]) -> int | None:
    metadata = data.get("metadata")
    created = metadata.get("createTime") if isinstance(metadata, Mapping) else None
    if not isinstance(created, str):
        return None
    try:
        return int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None
