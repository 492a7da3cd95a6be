"""``VertexVeoClient``: Veo on Vertex AI, the finished MP4 written straight into a bucket.

create → ``:predictLongRunning`` with ``storageUri = <output>/provider-output/<jobId>/``;
retrieve → ``:fetchPredictOperation`` (a GET on a Veo operation answers 400); the operation
name is the provider job id. Tokens come from an ``AuthorizedSession`` (refreshed by
google-auth). The shared retry policy applies: a create is repeated only after a 429 or a
connection that never opened.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import google.auth.exceptions
import requests
from google.auth.credentials import Credentials
from google.auth.transport.requests import AuthorizedSession

from dreamweb.errors import (
    ProviderError,
    ProviderNotConfiguredError,
    ProviderNotFoundError,
    UpstreamUnavailableError,
)
from dreamweb.providers.base import ContentStream, GcsObject, ProviderJob
from dreamweb.providers.calls import Call
from dreamweb.providers.http import HttpClient, pooled_session
from dreamweb.providers.streaming import CHUNK_SIZE
from dreamweb.providers.vertex_veo.wire import (
    API_VERSION,
    DEFAULT_MODEL,
    NAME,
    error_status,
    model_path,
    operation_model_path,
    parse_operation,
    predict_body,
    submitted,
    videos_of,
)

logger = logging.getLogger("dreamweb.provider")
GCS_API = "https://storage.googleapis.com"


class VertexVeoClient(HttpClient):
    """``VideoProvider`` over Vertex AI's Veo models."""

    name = NAME
    transport_errors = (google.auth.exceptions.GoogleAuthError,)

    def __init__(
        self,
        *,
        credentials: Credentials,
        project: str,
        location: str,
        output_uri: str,
        base_url: str | None = None,
        storage_api: str = GCS_API,
        generate_audio: bool = True,
        pool_size: int = 10,
        **transport: Any,
    ) -> None:
        """``output_uri`` is ``gs://bucket[/prefix]``; every job writes below it."""
        session = AuthorizedSession(
            credentials, refresh_timeout=float(transport.get("connect_timeout", 5)) + 10
        )
        super().__init__(
            base_url=(base_url or regional_endpoint(location)).rstrip("/") + "/" + API_VERSION,
            auth=None,
            session=pooled_session(pool_size, session),
            **transport,
        )
        self.project, self.location = project, location
        self.output_uri = output_uri.rstrip("/")
        self.storage_api = storage_api.rstrip("/")
        self.generate_audio = generate_audio

    def storage_uri(self, job_id: str) -> str:
        """Where Veo writes ``job_id``'s output: ``<output>/provider-output/<jobId>/``."""
        if not job_id or "/" in job_id:
            raise ValueError("job_id must be a plain, non-empty id")
        return f"{self.output_uri}/provider-output/{job_id}/"

    def create(
        self,
        prompt: str,
        *,
        job_id: str,
        model: str = DEFAULT_MODEL,
        seconds: str,
        size: str,
        callback_url: str | None = None,
    ) -> ProviderJob:
        """Start one render (``:predictLongRunning``); Vertex has no webhooks (no callback)."""
        body = predict_body(
            prompt,
            seconds=seconds,
            size=size,
            storage_uri=self.storage_uri(job_id),
            generate_audio=self.generate_audio,
        )
        path = "/" + model_path(self.project, self.location, model) + ":predictLongRunning"
        data = self._json(Call("create", "POST", path, body=body, idempotent=False))
        return submitted(data, model=model, seconds=seconds, size=size)

    def retrieve(self, provider_job_id: str) -> ProviderJob:
        """The operation's state (``:fetchPredictOperation``)."""
        return parse_operation(self._operation(provider_job_id))

    def download(self, provider_job_id: str, variant: str = "video") -> ContentStream:
        """The finished video: read from its bucket, or decoded when Vertex sent it inline.

        Veo makes no thumbnail or spritesheet (``ProviderNotFoundError``). For zero-copy,
        ``retrieve(...).output_uri`` names the object so the store can copy it server-side.
        """
        if variant != "video":
            raise ProviderNotFoundError("Veo makes no " + variant)
        response = self._operation(provider_job_id).get("response")
        videos = videos_of(response) if isinstance(response, dict) else []
        if not videos:
            raise ProviderNotFoundError("Vertex AI has no finished video for this operation")
        video = videos[0]
        if video.get("gcsUri"):
            return self.open_output(GcsObject.parse(str(video["gcsUri"])))
        return _inline(video)

    def open_output(self, output: GcsObject) -> ContentStream:
        """Stream an output object through the GCS JSON API, length-checked like any download."""
        return self._stream(
            Call(
                "output",
                "GET",
                "/o",
                url=self._object_url(output, download=True),
                params={"alt": "media"},
                stream=True,
            )
        )

    def delete(self, provider_job_id: str) -> None:
        """Delete the operation's output object(s); Vertex keeps nothing else to delete."""
        response = self._operation(provider_job_id).get("response")
        for video in videos_of(response) if isinstance(response, dict) else []:
            if video.get("gcsUri"):
                self.delete_output(GcsObject.parse(str(video["gcsUri"])))

    def delete_output(self, output: GcsObject) -> None:
        """Delete one output object; one already gone is fine."""
        with contextlib.suppress(ProviderNotFoundError):
            self._send(Call("output-delete", "DELETE", "/o", url=self._object_url(output))).close()

    # --- helpers -----------------------------------------------------------------------------

    def _operation(self, name: str) -> dict[str, Any]:
        try:
            resource = operation_model_path(name)
        except ValueError:
            raise ValueError("provider_job_id must be a Vertex AI operation name") from None
        body = {"operationName": name}
        return self._json(Call("retrieve", "POST", f"/{resource}:fetchPredictOperation", body=body))

    def _object_url(self, output: GcsObject, *, download: bool = False) -> str:
        root = self.storage_api + ("/download" if download else "")
        return (
            f"{root}/storage/v1/b/{quote(output.bucket, safe='')}/o/{quote(output.name, safe='')}"
        )

    @staticmethod
    def _envelope(payload: dict[str, Any]) -> tuple[str | None, str | None]:
        return error_status(payload)

    def _transport_failure(self, call: Call, error: BaseException | None) -> ProviderError:
        if isinstance(error, google.auth.exceptions.RefreshError):
            logger.error(
                "vertex credentials refused: the token endpoint rejected the service account",
                extra={"provider": NAME, "error": type(error).__name__},
            )
            return ProviderNotConfiguredError()
        return super()._transport_failure(call, error)

    def _status_failure(
        self, call: Call, response: requests.Response, message: str | None, code: str | None
    ) -> ProviderError:
        ids = self._ids(response)
        status = response.status_code
        if status == 403 or code == "PERMISSION_DENIED":
            logger.error(
                "vertex permission denied: grant roles/aiplatform.user to this service account "
                f"on project {self.project} (and enable the Vertex AI API); Vertex's service "
                "agent needs object create on the output bucket",
                extra={"provider": NAME, "upstream_message": message},
            )
            return ProviderNotConfiguredError(**ids)
        if status == 404 and call.op == "create":
            logger.error(
                f"vertex model not found in {self.location}: the configured VIDEO_MODEL is "
                "retired or misspelt; use one of the veo-3.1-*-001 models",
                extra={"provider": NAME, "upstream_message": message},
            )
            return ProviderNotConfiguredError(**ids)
        return super()._status_failure(call, response, message, code)


def regional_endpoint(location: str) -> str:
    """Vertex AI's endpoint for ``location`` (``global`` has no regional prefix)."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def _inline(video: dict[str, Any]) -> ContentStream:
    """A base64 video from the operation itself, served as a stream of bounded chunks."""
    try:
        data = base64.b64decode(str(video.get("bytesBase64Encoded")), validate=True)
    except (binascii.Error, ValueError):
        raise UpstreamUnavailableError("Vertex AI sent an unreadable inline video") from None
    mime = str(video.get("mimeType") or "video/mp4")

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), CHUNK_SIZE):
            yield data[start : start + CHUNK_SIZE]

    return ContentStream(chunks(), content_length=len(data), content_type=mime)
