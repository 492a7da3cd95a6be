"""``OpenRouterClient``: OpenRouter's asynchronous video API (submit → poll → download).

create → ``POST /videos`` (202); retrieve → ``GET /videos/{id}``; download →
``GET /videos/{id}/content?index=0`` with the key. OpenRouter's own SDK retries a 5xx on
submit; dreamweb never does (the shared rule: only a 429 or a connection that never opened).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import requests

from dreamweb.errors import (
    ConfigError,
    InputRejectedError,
    OutOfCreditsError,
    ProviderError,
    ProviderNotFoundError,
)
from dreamweb.providers.base import ContentStream, ProviderJob
from dreamweb.providers.calls import BearerAuth, Call
from dreamweb.providers.http import HttpClient, pooled_session
from dreamweb.providers.openrouter.wire import DEFAULT_MODEL, NAME, create_body, parse_generation

logger = logging.getLogger("dreamweb.provider")
TITLE = "dreamweb"
REFUSAL_WORDS = ("moderation", "guardrail", "flagged")


class OpenRouterClient(HttpClient):
    """``VideoProvider`` over OpenRouter's ``/videos`` endpoints."""

    name = NAME

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        catalog_entry: Callable[[str], Mapping[str, Any] | None] = lambda model: None,
        public_url: str | None = None,
        generate_audio: bool = True,
        session: requests.Session | None = None,
        pool_size: int = 10,
        **transport: Any,
    ) -> None:
        """``catalog_entry(model)`` gives the model's catalog object (how to send a size)."""
        if not api_key:
            raise ConfigError("OPENROUTER_API_KEY", "is required to call OpenRouter")
        headers = {"X-OpenRouter-Title": TITLE}
        if public_url:
            headers["HTTP-Referer"] = public_url
        super().__init__(
            base_url=base_url,
            auth=BearerAuth(api_key),
            session=session or pooled_session(pool_size),
            headers=headers,
            **transport,
        )
        self._catalog_entry = catalog_entry
        self.generate_audio = generate_audio

    def create(
        self,
        prompt: str,
        *,
        job_id: str | None = None,
        model: str = DEFAULT_MODEL,
        seconds: str,
        size: str,
        callback_url: str | None = None,
    ) -> ProviderJob:
        """Submit one render (``POST /videos``); ``callback_url`` gets OpenRouter's webhook."""
        body = create_body(
            prompt,
            model=model,
            seconds=seconds,
            size=size,
            entry=self._catalog_entry(model),
            generate_audio=self.generate_audio,
            callback_url=callback_url,
        )
        return parse_generation(
            self._json(Call("create", "POST", "/videos", body=body, idempotent=False))
        )

    def retrieve(self, provider_job_id: str) -> ProviderJob:
        """The job's state (``GET /videos/{id}``)."""
        return parse_generation(self._json(Call("retrieve", "GET", _job_path(provider_job_id))))

    def download(self, provider_job_id: str, variant: str = "video") -> ContentStream:
        """Stream the first output (``GET /videos/{id}/content?index=0``); no thumbnails."""
        if variant != "video":
            raise ProviderNotFoundError("OpenRouter makes no " + variant)
        path = _job_path(provider_job_id) + "/content"
        return self._stream(Call("content", "GET", path, params={"index": "0"}, stream=True))

    def delete(self, provider_job_id: str) -> None:
        """OpenRouter has no delete endpoint: its copy expires by itself."""
        _job_path(provider_job_id)

    def _status_failure(
        self, call: Call, response: requests.Response, message: str | None, code: str | None
    ) -> ProviderError:
        ids = self._ids(response)
        if response.status_code == 402:
            logger.error(
                "openrouter: out of credits; add credits at https://openrouter.ai/credits",
                extra={"provider": NAME, "op": call.op},
            )
            return OutOfCreditsError(**ids)
        lowered = (message or "").lower()
        if response.status_code == 403 and any(word in lowered for word in REFUSAL_WORDS):
            return InputRejectedError(message, **ids)
        return super()._status_failure(call, response, message, code)


def _job_path(provider_job_id: str) -> str:
    if not provider_job_id:
        raise ValueError("provider_job_id must not be empty")
    return "/videos/" + quote(provider_job_id, safe="")  # an id is data, never path segments
