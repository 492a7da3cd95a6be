"""The Videos API provider (``VIDEO_PROVIDER=openai-videos``, the default).

``client`` talks HTTP, ``wire`` parses the Video object and declares what each model renders;
the retry policy is shared with the other providers (``dreamweb.providers.retry``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dreamweb.providers.base import Capabilities
from dreamweb.providers.openai_videos.client import OpenAIVideosClient
from dreamweb.providers.openai_videos.wire import DEFAULT_MODEL, capabilities, parse_video

__all__ = [
    "DEFAULT_MODEL",
    "OpenAIVideosClient",
    "build",
    "capabilities",
    "capabilities_for",
    "parse_video",
]


def build(config: Mapping[str, Any]) -> OpenAIVideosClient:
    """The client configured by ``OPENAI_*`` / ``PROVIDER_*`` settings."""
    return OpenAIVideosClient.from_config(config)


def capabilities_for(config: Mapping[str, Any]) -> Capabilities:
    """What ``VIDEO_MODEL`` renders over the Videos API."""
    return capabilities(config.get("VIDEO_MODEL") or DEFAULT_MODEL)
