"""Video providers. ``build_provider`` picks the implementation from configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dreamweb.providers.base import VideoProvider


def build_provider(config: Mapping[str, Any]) -> VideoProvider:
    """The Videos API client configured by ``OPENAI_*`` / ``PROVIDER_*`` settings."""
    from dreamweb.providers.openai_videos import OpenAIVideosClient

    return OpenAIVideosClient.from_config(config)
