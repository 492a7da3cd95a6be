"""Video providers: a registry of the backends dreamweb can render with.

``VIDEO_PROVIDER`` picks one: ``openai-videos`` (default; any endpoint that speaks
``/v1/videos``), ``vertex-veo`` (Veo on Vertex AI, output straight into a bucket) or
``openrouter`` (OpenRouter's video API; its public catalog says what each model renders).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from dreamweb.errors import ConfigError
from dreamweb.providers.base import Capabilities, VideoProvider


@dataclass(frozen=True)
class ProviderEntry:
    """One backend: where its code lives and what it needs before it can create videos."""

    name: str
    package: str  # imported on first use: a deployment loads only the provider it runs
    credential_setting: str | None  # the secret it cannot work without (None: ambient creds)

    def module(self) -> Any:
        """The provider's sub-package: ``DEFAULT_MODEL``, ``build(config)``,
        ``capabilities_for(config)`` and optionally ``check_settings(settings)``."""
        return import_module(self.package)


PROVIDERS: dict[str, ProviderEntry] = {
    entry.name: entry
    for entry in (
        ProviderEntry("openai-videos", "dreamweb.providers.openai_videos", "OPENAI_API_KEY"),
        ProviderEntry("vertex-veo", "dreamweb.providers.vertex_veo", None),
        ProviderEntry("openrouter", "dreamweb.providers.openrouter", "OPENROUTER_API_KEY"),
    )
}
DEFAULT_PROVIDER = "openai-videos"


def provider_entry(config: Mapping[str, Any]) -> ProviderEntry:
    """The registry entry ``VIDEO_PROVIDER`` names."""
    name = config.get("VIDEO_PROVIDER") or DEFAULT_PROVIDER
    try:
        return PROVIDERS[name]
    except KeyError:
        raise ConfigError("VIDEO_PROVIDER", "must be one of " + ", ".join(PROVIDERS)) from None


def default_model(config: Mapping[str, Any]) -> str:
    """The model used when ``VIDEO_MODEL`` is unset: each provider names its own."""
    return provider_entry(config).module().DEFAULT_MODEL


def provider_configured(config: Mapping[str, Any]) -> bool:
    """Whether video creation can work at all (its key is set); without it creates answer 503."""
    setting = provider_entry(config).credential_setting
    return setting is None or bool(config.get(setting))


def check_settings(settings: dict[str, Any]) -> None:
    """The provider's own rules across settings, at startup (one-line ``ConfigError``).

    It may fill in what it derives, e.g. ``VERTEX_PROJECT`` from the credentials.
    """
    check = getattr(provider_entry(settings).module(), "check_settings", None)
    if check is not None:
        check(settings)


def build_provider(config: Mapping[str, Any]) -> VideoProvider:
    """The configured provider's client (``ConfigError`` when its settings are unusable)."""
    return provider_entry(config).module().build(config)


def capabilities_for(config: Mapping[str, Any]) -> Capabilities:
    """What the configured provider can render with the configured ``VIDEO_MODEL``.

    ``ConfigError`` (naming ``VIDEO_MODEL`` and the models on offer) for a model it lacks.
    For ``openrouter`` this reads the public catalog (cached; see ``openrouter.catalog``).
    """
    capabilities: Callable[[Mapping[str, Any]], Capabilities] = (
        provider_entry(config).module().capabilities_for
    )
    return capabilities(config)


__all__ = [
    "PROVIDERS",
    "ProviderEntry",
    "build_provider",
    "capabilities_for",
    "check_settings",
    "default_model",
    "provider_configured",
    "provider_entry",
]
