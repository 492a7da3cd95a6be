"""Veo on Vertex AI (``VIDEO_PROVIDER=vertex-veo``): ``client`` talks HTTP through google-auth,
``wire`` builds requests, parses operations and declares each model's capabilities.

Settings: ``VERTEX_PROJECT`` (default: the credentials' project), ``VERTEX_LOCATION``,
``VERTEX_BASE_URL`` (default the regional endpoint), ``VERTEX_OUTPUT_URI`` (default: the
``gs://`` ``STORAGE_URL``), ``VIDEO_MODEL``, ``VIDEO_GENERATE_AUDIO``; credentials from
``GCS_CREDENTIALS_JSON`` or Application Default Credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dreamweb.errors import ConfigError
from dreamweb.providers.base import Capabilities
from dreamweb.providers.http import timeouts_from_config
from dreamweb.providers.vertex_veo.client import GCS_API, VertexVeoClient
from dreamweb.providers.vertex_veo.credentials import load_credentials
from dreamweb.providers.vertex_veo.wire import DEFAULT_MODEL, MODELS, parse_operation


def output_root(config: Mapping[str, Any]) -> str | None:
    """``gs://bucket[/prefix]`` Veo writes into: ``VERTEX_OUTPUT_URI``, else a gs:// store."""
    explicit = config.get("VERTEX_OUTPUT_URI")
    if explicit:
        return str(explicit).rstrip("/")
    storage = str(config.get("STORAGE_URL") or "")
    return storage.rstrip("/") if storage.startswith("gs://") else None


def check_settings(settings: dict[str, Any]) -> None:
    """Startup rules: an output bucket exists and a project is known (filled in if derived)."""
    if output_root(settings) is None:
        raise ConfigError(
            "VERTEX_OUTPUT_URI",
            "is required with local storage: a gs://bucket[/prefix] Vertex AI can write videos to",
        )
    if not settings.get("VERTEX_PROJECT"):
        _, project = load_credentials(settings)
        if not project:
            raise ConfigError(
                "VERTEX_PROJECT", "is required: the credentials do not name a Google Cloud project"
            )
        settings["VERTEX_PROJECT"] = project


def capabilities_for(config: Mapping[str, Any]) -> Capabilities:
    """What ``VIDEO_MODEL`` renders on Vertex AI (``ConfigError`` for a model we do not know)."""
    model = config.get("VIDEO_MODEL") or DEFAULT_MODEL
    if model not in MODELS:
        raise ConfigError("VIDEO_MODEL", "must be one of " + ", ".join(MODELS) + " for vertex-veo")
    return MODELS[model]


def build(config: Mapping[str, Any]) -> VertexVeoClient:
    """The client for these settings (``check_settings`` has run at startup)."""
    credentials, project = load_credentials(config)
    output = output_root(config)
    if output is None:
        raise ConfigError("VERTEX_OUTPUT_URI", "is required with local storage")
    return VertexVeoClient(
        credentials=credentials,
        project=str(config.get("VERTEX_PROJECT") or project or ""),
        location=str(config.get("VERTEX_LOCATION") or "us-central1"),
        output_uri=output,
        base_url=config.get("VERTEX_BASE_URL"),
        storage_api=str(config.get("STORAGE_EMULATOR_HOST") or GCS_API),
        generate_audio=bool(config.get("VIDEO_GENERATE_AUDIO", True)),
        **timeouts_from_config(config),
    )


__all__ = [
    "DEFAULT_MODEL",
    "VertexVeoClient",
    "build",
    "capabilities_for",
    "check_settings",
    "output_root",
    "parse_operation",
]
