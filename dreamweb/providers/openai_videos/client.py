"""``OpenAIVideosClient``: the Videos API (``/v1/videos``) and the gateways that speak it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests

from dreamweb.errors import ConfigError, ProviderError, QuotaExhaustedError
from dreamweb.providers.base import ContentStream, ProviderJob
from dreamweb.providers.calls import BearerAuth, Call
from dreamweb.providers.http import (
    HttpClient,
    pooled_session,
    timeouts_from_config,
)
from dreamweb.providers.openai_videos.wire import (
    DEFAULT_MODEL,
    NAME,
    VARIANTS,
    is_quota_refusal,
    parse_video,
)


class OpenAIVideosClient(HttpClient):
    """``VideoProvider`` over the Videos API with pooled connections, retries and safe errors."""

    name = NAME

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_retries: int = 2,
        retry_deadline: float = 60.0,
        session: requests.Session | None = None,
        pool_size: int = 10,
    ) -> None:
        """Configure the client; ``session`` replaces the pooled session built here."""
        if not api_key:
            raise ConfigError("OPENAI_API_KEY", "is required to call the video provider")
        super().__init__(
            base_url=base_url,
            auth=BearerAuth(api_key),
            session=session or pooled_session(pool_size),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_retries=max_retries,
            retry_deadline=retry_deadline,
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OpenAIVideosClient:
        """Build from dreamweb settings (``OPENAI_*`` and ``PROVIDER_*``)."""
        return cls(
            base_url=str(config.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"),
            api_key=str(config.get("OPENAI_API_KEY") or ""),
            **timeouts_from_config(config),
        )

    def create(
        self,
        prompt: str,
        *,
        model: str = DEFAULT_MODEL,
        seconds: str,
        size: str,
        job_id: str | None = None,
        callback_url: str | None = None,
    ) -> ProviderJob:
        """Start one generation (``POST /videos``). Never starts two paid jobs for one call.

        The Videos API has no per-request webhook (``callback_url`` is ignored) and chooses
        where it keeps the output (``job_id`` is not sent).
        """
        body = {"prompt": prompt, "model": model, "seconds": str(seconds), "size": size}
        return parse_video(
            self._json(Call("create", "POST", "/videos", body=body, idempotent=False))
        )

    def retrieve(self, provider_job_id: str) -> ProviderJob:
        """The job's current state (``GET /videos/{id}``)."""
        return parse_video(self._json(Call("retrieve", "GET", self._video_path(provider_job_id))))

    def delete(self, provider_job_id: str) -> None:
        """Delete the provider's copy (``DELETE /videos/{id}``).

        A retried delete whose first attempt already succeeded answers 404, raised as
        ``ProviderNotFoundError``: callers treat that as "already gone".
        """
        response = self._send(Call("delete", "DELETE", self._video_path(provider_job_id)))
        response.close()

    def download(self, provider_job_id: str, variant: str = "video") -> ContentStream:
        """Stream a finished job's content (``GET /videos/{id}/content?variant=``)."""
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}")
        path = self._video_path(provider_job_id) + "/content"
        return self._stream(Call("content", "GET", path, params={"variant": variant}, stream=True))

    def _status_failure(
        self, call: Call, response: requests.Response, message: str | None, code: str | None
    ) -> ProviderError:
        if response.status_code == 429 and is_quota_refusal(code, message):
            return QuotaExhaustedError(**self._ids(response))
        return super()._status_failure(call, response, message, code)

    @staticmethod
    def _video_path(provider_job_id: str) -> str:
        if not provider_job_id:
            raise ValueError("provider_job_id must not be empty")
        # Quote everything: an id is data, never extra path segments or a query.
        return "/videos/" + quote(provider_job_id, safe="")
