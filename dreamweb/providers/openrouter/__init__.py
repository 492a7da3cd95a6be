"""OpenRouter's video API (``VIDEO_PROVIDER=openrouter``): ``client`` talks HTTP, ``wire``
parses jobs and derives capabilities from catalog objects, ``catalog`` caches the catalog.

Settings: ``OPENROUTER_API_KEY`` (secret), ``OPENROUTER_BASE_URL``, ``VIDEO_MODEL`` (a catalog
id such as ``google/veo-3.1``), ``PUBLIC_URL`` (attribution), ``VIDEO_GENERATE_AUDIO``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dreamweb.errors import ConfigError, UpstreamUnavailableError
from dreamweb.providers.base import Capabilities
from dreamweb.providers.http import timeouts_from_config
from dreamweb.providers.openrouter.catalog import CATALOG, Catalog
from dreamweb.providers.openrouter.client import OpenRouterClient
from dreamweb.providers.openrouter.wire import DEFAULT_MODEL, model_capabilities, parse_generation

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"


def capabilities_for(config: Mapping[str, Any], catalog: Catalog = CATALOG) -> Capabilities:
    """What ``VIDEO_MODEL`` renders, from the catalog (cached; refreshed at most hourly).

    ``ConfigError`` naming ``VIDEO_MODEL`` (with what the catalog offers) for a model it lacks
    or one that takes no text-to-video choices; naming ``OPENROUTER_BASE_URL`` when the catalog
    cannot be read and no copy exists yet.
    """
    base_url = str(config.get("OPENROUTER_BASE_URL") or DEFAULT_BASE_URL)
    model = str(config.get("VIDEO_MODEL") or DEFAULT_MODEL)
    try:
        models = catalog.models(base_url)
    except UpstreamUnavailableError:
        raise ConfigError(
            "OPENROUTER_BASE_URL", "does not serve the video model catalog (GET /videos/models)"
        ) from None
    entry = models.get(model)
    capabilities = None
    if entry is not None:
        capabilities = model_capabilities(
            entry, audio=bool(config.get("VIDEO_GENERATE_AUDIO", True))
        )
    if capabilities is None or not capabilities.seconds or not capabilities.sizes:
        usable = sorted(m for m, e in models.items() if model_capabilities(e).seconds)
        raise ConfigError(
            "VIDEO_MODEL",
            f"is not a text-to-video model on OpenRouter; it offers: {', '.join(usable)}",
        )
    return capabilities


def build(config: Mapping[str, Any], catalog: Catalog = CATALOG) -> OpenRouterClient:
    """The client for these settings; it looks models up in the shared catalog cache."""
    base_url = str(config.get("OPENROUTER_BASE_URL") or DEFAULT_BASE_URL)

    def entry(model: str) -> Mapping[str, Any] | None:
        try:
            return catalog.models(base_url).get(model)
        except UpstreamUnavailableError:
            return None  # then the size travels as WxH, which OpenRouter also accepts

    return OpenRouterClient(
        base_url=base_url,
        api_key=str(config.get("OPENROUTER_API_KEY") or ""),
        catalog_entry=entry,
        public_url=config.get("PUBLIC_URL"),
        generate_audio=bool(config.get("VIDEO_GENERATE_AUDIO", True)),
        **timeouts_from_config(config),
    )


__all__ = [
    "CATALOG",
    "DEFAULT_MODEL",
    "Catalog",
    "OpenRouterClient",
    "build",
    "capabilities_for",
    "parse_generation",
]
