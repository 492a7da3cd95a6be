"""OpenRouter's video wire details: the catalog, create validation, prices, error envelope.

The catalog (``openrouter_models.json``) holds real model objects from a September 2026
snapshot of ``GET /api/v1/videos/models`` (descriptions shortened). Values outside a model's
``supported_*`` sets are 400s; the wording is the simulator's own (OpenRouter documents none).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from dreamweb.simulator.http import HttpError

CATALOG_PATH = Path(__file__).resolve().parent / "openrouter_models.json"


class OpenRouterError(HttpError):
    """OpenRouter's ``{"error": {"code": <int>, "message": <str>}}``."""

    def envelope(self) -> dict[str, dict[str, object]]:
        """The JSON body."""
        return {"error": {"code": self.status, "message": self.message}}


def load_catalog(path: Path = CATALOG_PATH) -> dict[str, dict[str, Any]]:
    """Model id -> model object, in catalog order."""
    return {model["id"]: model for model in json.loads(path.read_text())["data"]}


def parse_create(catalog: dict[str, dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """Validate a create body against the model's capabilities; return the job parameters."""
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        raise OpenRouterError(400, "model is required")
    model = catalog.get(model_id)
    if model is None:
        raise OpenRouterError(400, f"{model_id} is not a valid model ID")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise OpenRouterError(400, "prompt is required")
    durations = model["supported_durations"] or [8]
    duration = body.get("duration", durations[-1])
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise OpenRouterError(
            400, f"duration must be an integer number of seconds; got {duration!r}"
        )
    _check_member(model, "duration", duration, model["supported_durations"])
    resolution = body.get("resolution", (model["supported_resolutions"] or ["720p"])[0])
    _check_member(model, "resolution", resolution, model["supported_resolutions"])
    _check_member(model, "aspect_ratio", body.get("aspect_ratio"), model["supported_aspect_ratios"])
    _check_member(model, "size", body.get("size"), model["supported_sizes"])
    for flag in ("generate_audio", "seed"):
        if body.get(flag) is not None and model[flag] is False:
            raise OpenRouterError(400, f"{flag} is not supported by {model_id}")
    audio = body.get("generate_audio", bool(model["generate_audio"]))
    if not isinstance(audio, bool):
        raise OpenRouterError(400, f"generate_audio must be a boolean; got {audio!r}")
    callback = body.get("callback_url")
    if callback is not None and not (
        isinstance(callback, str) and callback.startswith(("http://", "https://"))
    ):
        raise OpenRouterError(400, f"callback_url must be an http(s) URL; got {callback!r}")
    return {
        "prompt": prompt,
        "model": model_id,
        "duration": duration,
        "resolution": resolution,
        "generate_audio": audio,
        "callback_url": callback,
        "cost": price(model, duration, str(resolution), audio),
    }


def _check_member(model: dict[str, Any], name: str, value: object, allowed: list | None) -> None:
    if value is None or allowed is None:
        return
    if value not in allowed:
        listed = ", ".join(str(item) for item in allowed)
        raise OpenRouterError(
            400, f"{name} {value} is not supported for {model['id']}; supported: {listed}"
        )


def price(model: dict[str, Any], duration: int, resolution: str, audio: bool) -> float | None:
    """The USD cost of a clip from the model's per-second SKUs, or ``None`` if not per-second."""
    skus = model.get("pricing_skus") or {}
    audio_part = "with_audio" if audio else "without_audio"
    tier = resolution.lower()
    for name in (
        f"duration_seconds_{audio_part}_{tier}",
        f"duration_seconds_{audio_part}",
        f"duration_seconds_{tier}",
        "duration_seconds",
    ):
        if name in skus:
            return float(Decimal(skus[name]) * duration)
    if "cents_per_second_output" in skus:
        return float(Decimal(skus["cents_per_second_output"]) * duration / 100)
    return None
