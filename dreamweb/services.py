"""The app's long-lived collaborators (store, provider), built once per process on first use.

Built lazily rather than in the factory so that ``gunicorn --preload`` forks before any
connection pool exists, and so that pages that need neither never pay for them.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app

from dreamweb.providers import build_provider
from dreamweb.providers.base import VideoProvider
from dreamweb.storage import open_store
from dreamweb.storage.base import VideoStore


class Services:
    """Lazily built store and provider for one app in one process."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._store: VideoStore | None = None
        self._provider: VideoProvider | None = None

    @property
    def store(self) -> VideoStore:
        """The configured ``VideoStore``."""
        with self._lock:
            if self._store is None:
                self._store = open_store(self._config)
            return self._store

    @property
    def provider(self) -> VideoProvider | None:
        """The configured provider, or ``None`` when no API key is set."""
        with self._lock:
            if self._provider is None and self._config.get("OPENAI_API_KEY"):
                self._provider = build_provider(self._config)
            return self._provider


def init_app(app: Flask) -> None:
    """Attach a ``Services`` to ``app.extensions``."""
    app.extensions["dreamweb"] = Services(app.config)


def services() -> Services:
    """The current app's ``Services``."""
    return current_app.extensions["dreamweb"]
