"""Video storage: ``open_store`` picks the adapter from ``STORAGE_URL``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from dreamweb.storage.base import VideoStore


def open_store(config: Mapping[str, Any]) -> VideoStore:
    """The ``VideoStore`` for ``config["STORAGE_URL"]`` (``gs://`` or ``file://``)."""
    url = config["STORAGE_URL"]
    if urlsplit(url).scheme == "gs":
        from dreamweb.storage.gcs import GCSVideoStore

        return GCSVideoStore.from_config(config)
    from dreamweb.storage.local import LocalVideoStore

    return LocalVideoStore.from_url(url)
