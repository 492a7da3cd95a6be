"""Vertex (Veo) request validation and Google's error envelope.

Per /work/shared/reference/veo-vertex.md: ``durationSeconds`` 4, 6 or 8 (default 8);
``aspectRatio`` 16:9 (default) or 9:16; ``resolution`` 720p (default), 1080p, and 4k on the
full and fast models (not Lite); ``sampleCount`` 1-4; ``generateAudio`` is required by Veo 3
models; ``storageUri`` a ``gs://`` URI. The exact wording of Google's 400s is copied where
the reference quotes it; the others are marked as the simulator's own.
"""

from __future__ import annotations

from typing import Any

from dreamweb.simulator.http import HttpError

RESOLUTIONS = ("720p", "1080p", "4k")
MODELS: dict[str, tuple[str, ...]] = {
    "veo-3.1-generate-001": RESOLUTIONS,
    "veo-3.1-fast-generate-001": RESOLUTIONS,
    "veo-3.1-lite-generate-001": ("720p", "1080p"),
}
DURATIONS = (4, 6, 8)
ASPECT_RATIOS = ("16:9", "9:16")
MAX_SAMPLES = 4
CANONICAL_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class GoogleError(HttpError):
    """Google's ``{"error": {"code", "message", "status"}}``."""

    def __init__(self, code: int, message: str, *, status: str | None = None) -> None:
        super().__init__(code, message)
        self.canonical = status or CANONICAL_STATUS.get(code, "UNKNOWN")

    def envelope(self) -> dict[str, dict[str, object]]:
        """The JSON body."""
        return {"error": {"code": self.status, "message": self.message, "status": self.canonical}}


def parse_create(model: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Validate a ``predictLongRunning`` body; return the prompt and the job parameters."""
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise GoogleError(400, "instances must hold exactly one instance.")
    prompt = instances[0].get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise GoogleError(400, "A text prompt is required: instances[0].prompt is empty.")
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise GoogleError(400, "parameters must be an object.")
    return prompt, {
        "sample_count": _sample_count(parameters.get("sampleCount", 1)),
        "duration_seconds": _duration(parameters.get("durationSeconds", 8)),
        "aspect_ratio": _choice(parameters, "aspectRatio", ASPECT_RATIOS, "16:9"),
        "resolution": _choice(parameters, "resolution", MODELS[model], "720p"),
        "generate_audio": _generate_audio(model, parameters),
        "storage_uri": _storage_uri(parameters.get("storageUri")),
    }


def _sample_count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SAMPLES:
        raise GoogleError(
            400,
            f"The number value for `sampleCount` is out of bound. Please provide a value "
            f"between 1 and {MAX_SAMPLES}, inclusive.",
        )
    return value


def _duration(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise GoogleError(400, f"Invalid value for `durationSeconds`: {value!r}.")
    if not DURATIONS[0] <= value <= DURATIONS[-1]:
        # Wording quoted by the reference (a live Veo 3.1 answer).
        raise GoogleError(
            400,
            "The number value for `durationSeconds` is out of bound. Please provide a value "
            f"between {DURATIONS[0]} and {DURATIONS[-1]}, inclusive.",
        )
    if value not in DURATIONS:
        # The simulator's own wording: the reference quotes no message for 5 or 7.
        raise GoogleError(
            400, f"Unsupported `durationSeconds`: {int(value)}. Supported values: 4, 6, 8."
        )
    return int(value)


def _choice(parameters: dict[str, Any], name: str, allowed: tuple[str, ...], default: str):
    value = parameters.get(name, default)
    if value not in allowed:
        raise GoogleError(
            400, f"Unsupported `{name}`: {value!r}. Supported values: {', '.join(allowed)}."
        )
    return value


def _generate_audio(model: str, parameters: dict[str, Any]) -> bool:
    value = parameters.get("generateAudio")
    if not isinstance(value, bool):
        raise GoogleError(400, f"`generateAudio` (true or false) is required for {model}.")
    return value


def _storage_uri(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("gs://") or len(value) <= 5:
        raise GoogleError(400, f"Invalid `storageUri`: {value!r}; expected gs://bucket/prefix.")
    return value
