"""OpenRouter's public video model catalog (``GET /videos/models``, no key needed).

Read at most once an hour per base URL and shared by the whole process; when a refresh fails
the last good copy stays in use (and the failure is logged), so a catalog outage never stops a
running deployment. With no copy at all the caller gets ``UpstreamUnavailableError``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from dreamweb.errors import UpstreamUnavailableError
from dreamweb.providers.http import USER_AGENT

logger = logging.getLogger("dreamweb.provider")

MAX_AGE_SECONDS = 3600.0
TIMEOUT = (5.0, 10.0)

Models = dict[str, Mapping[str, Any]]


@dataclass
class _Copy:
    models: Models
    fetched_at: float


def fetch_models(base_url: str) -> Models:
    """The catalog as ``{model id: model object}``; ``UpstreamUnavailableError`` on any failure."""
    try:
        response = requests.get(
            base_url.rstrip("/") + "/videos/models",
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=TIMEOUT,
        )
        with response:
            response.raise_for_status()
            data = response.json().get("data")
    except (requests.exceptions.RequestException, ValueError, AttributeError) as error:
        raise UpstreamUnavailableError("OpenRouter's model catalog could not be read") from error
    if not isinstance(data, list):
        raise UpstreamUnavailableError("OpenRouter's model catalog is not a list of models")
    return {
        str(model["id"]): model
        for model in data
        if isinstance(model, Mapping) and isinstance(model.get("id"), str)
    }


class Catalog:
    """A per-base-URL cache of the catalog, refreshed at most every ``max_age`` seconds."""

    def __init__(
        self,
        *,
        max_age: float = MAX_AGE_SECONDS,
        fetch: Callable[[str], Models] = fetch_models,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age = max_age
        self._fetch = fetch
        self._clock = clock
        self._copies: dict[str, _Copy] = {}
        self._lock = threading.Lock()

    def models(self, base_url: str) -> Models:
        """The catalog for ``base_url``: cached, refreshed when older than ``max_age``."""
        with self._lock:  # one refresh at a time; others wait for its result
            copy = self._copies.get(base_url)
            if copy is not None and self._clock() - copy.fetched_at < self.max_age:
                return copy.models
            try:
                models = self._fetch(base_url)
            except UpstreamUnavailableError as error:
                if copy is None:
                    raise
                logger.warning(
                    "openrouter catalog unavailable; using the last copy",
                    extra={"age_s": round(self._clock() - copy.fetched_at), "error": str(error)},
                )
                # Try again in a minute, not on every call.
                copy.fetched_at = self._clock() - self.max_age + 60
                return copy.models
            self._copies[base_url] = _Copy(models, self._clock())
            return models

    def forget(self) -> None:
        """Drop every cached copy (tests)."""
        with self._lock:
            self._copies.clear()


CATALOG = Catalog()
