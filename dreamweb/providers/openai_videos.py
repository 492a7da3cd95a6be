"""A client for the OpenAI Videos API (``/v1/videos``) and gateways that speak it.

Wire format and retry model: ``/work/shared/reference/videos-api.md``. In short:

* every call carries explicit (connect, read) timeouts and runs through one retry loop that
  mirrors the official SDK (2 retries, ``x-should-retry`` override, ``retry-after-ms`` /
  ``retry-after`` or jittered exponential backoff) bounded by a total deadline;
* ``create`` is never retried once the request may have reached the server (read timeouts,
  dropped connections, 5xx): a duplicate create is a second paid render;
* downloads stream in bounded chunks and a short body always raises ``ContentTruncatedError``;
* the API key lives only in the auth hook that sets the header: it is never logged, never part
  of an error message or a ``repr``.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from dreamweb.errors import (
    AuthenticationError,
    ConfigError,
    ContentTruncatedError,
    InputRejectedError,
    ProviderError,
    ProviderNotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    UpstreamUnavailableError,
)
from dreamweb.providers.base import (
    COMPLETED,
    FAILED,
    PENDING,
    PROCESSING,
    ContentStream,
    ProviderJob,
)

logger = logging.getLogger("dreamweb.provider")

USER_AGENT = f"dreamweb/0.1 python-requests/{requests.__version__}"
CHUNK_SIZE = 256 * 1024  # bytes handed to the caller at a time; far below the 1 MiB bound
ERROR_BODY_LIMIT = 64 * 1024  # an error body is read only this far: it is diagnostics only
MAX_SERVER_WAIT = 60.0  # a retry-after beyond this is not waited for (SDK: 60 s)
BACKOFF_BASE, BACKOFF_CAP = 0.5, 8.0
VARIANTS = frozenset({"video", "thumbnail", "spritesheet"})
STATUS_MAP = {
    "queued": PENDING,
    "in_progress": PROCESSING,
    "completed": COMPLETED,
    "failed": FAILED,
}
RETRYABLE_STATUSES = frozenset({408, 409, 429})
QUOTA_CODES = frozenset({"insufficient_quota"})
QUOTA_PHRASE = "exceeded your current quota"
REDACTED = "[redacted]"

# Everything requests/urllib3/http.client may raise while a streamed body is being read: a
# dropped connection, a short read (urllib3's enforce_content_length), a chunk-framing error
# or a read timeout. All of them mean "the download did not finish".
BODY_READ_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ConnectionError,
    requests.exceptions.ContentDecodingError,
    requests.exceptions.Timeout,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.DecodeError,
    urllib3.exceptions.SSLError,
    http.client.HTTPException,  # includes http.client.IncompleteRead
    OSError,  # ConnectionResetError, socket timeouts and friends
)

TRANSIENT_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class _BearerAuth(AuthBase):
    """Sets ``Authorization: Bearer`` per request; holds the key so nothing else has to.

    Passing it as ``auth=`` (not a session header) also stops requests from replacing it with
    ``~/.netrc`` credentials. On a redirect to another host requests strips the header and does
    not call this hook again, so a signed download URL never sees the key.
    """

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._key}"
        return request

    def scrub(self, text: str) -> str:
        """``text`` with the key replaced, for upstream messages that might echo it."""
        return text.replace(self._key, REDACTED)

    def __repr__(self) -> str:
        return "<BearerAuth [redacted]>"


@dataclass
class _Call:
    """One logical operation: what to send and how it may be retried."""

    op: str
    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: Mapping[str, Any] | None = None
    stream: bool = False
    # A create may run twice only if the first attempt surely never reached the server.
    idempotent: bool = True


@dataclass
class _Outcome:
    """The result of one attempt: a response or the exception that replaced it."""

    response: requests.Response | None = None
    error: BaseException | None = None
    duration_ms: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.response is not None and 200 <= self.response.status_code < 300

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    @property
    def request_id(self) -> str | None:
        return self.response.headers.get("x-request-id") if self.response is not None else None


# --- pure helpers: parsing and retry arithmetic -----------------------------------------------


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, else ``retry-after``.

    ``retry-after`` may be seconds (possibly decimal) or an HTTP date. Returns ``None`` when
    neither header is present or parseable; never negative.
    """
    millis = _finite_float(headers.get("retry-after-ms"))
    if millis is not None and millis >= 0:
        return millis / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _finite_float(value)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def retry_wait(retries_done: int, headers: Mapping[str, str], rand: float | None = None) -> float:
    """How long to sleep before the next attempt (the SDK's rule).

    The server's wish when it is between 0 and 60 s; otherwise exponential backoff
    ``min(0.5 * 2**n, 8)`` with up to 25 % jitter subtracted.
    """
    asked = parse_retry_after(headers)
    if asked is not None and 0 <= asked <= MAX_SERVER_WAIT:
        return asked
    jitter = 1 - 0.25 * (random.random() if rand is None else rand)
    return min(BACKOFF_BASE * 2**retries_done, BACKOFF_CAP) * jitter


def parse_video(data: Mapping[str, Any]) -> ProviderJob:
    """Map a Video object to a ``ProviderJob``, leniently.

    Unknown keys are ignored, missing nullable keys become ``None``, ``progress`` is coerced to
    an int in 0..100 (anything unreadable is 0; a completed job is 100), and an unknown status
    is treated as still running (``processing``) with the original kept in ``raw_status``.
    """
    job_id = data.get("id")
    if not isinstance(job_id, str) or not job_id:
        raise UpstreamUnavailableError("The video provider sent a video without an id")
    raw_status = data.get("status")
    raw_status = raw_status if isinstance(raw_status, str) else ""
    status = STATUS_MAP.get(raw_status.strip().lower(), PROCESSING)
    progress = 100 if status == COMPLETED else _clamped_progress(data.get("progress"))
    code, message = _error_fields(data.get("error"))
    return ProviderJob(
        id=job_id,
        status=status,
        progress=progress,
        raw_status=raw_status,
        model=_optional_str(data.get("model")),
        seconds=_optional_str(data.get("seconds")),
        size=_optional_str(data.get("size")),
        created_at=_optional_int(data.get("created_at")),
        completed_at=_optional_int(data.get("completed_at")),
        expires_at=_optional_int(data.get("expires_at")),
        error_code=code,
        error_message=message,
    )


def _finite_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _clamped_progress(value: Any) -> int:
    number = _finite_float(value)
    return 0 if number is None else int(min(max(number, 0.0), 100.0))


def _optional_int(value: Any) -> int | None:
    number = _finite_float(value)
    return None if number is None else int(number)


def _optional_str(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _error_fields(error: Any) -> tuple[str | None, str | None]:
    """``(code, message)`` from an ``error`` value that may be an object, a string or null."""
    if isinstance(error, Mapping):
        return _optional_str(error.get("code")), _optional_str(error.get("message"))
    if isinstance(error, str) and error:
        return None, error
    return None, None


def _transport_retryable(error: BaseException | None, *, idempotent: bool) -> bool:
    """Whether an attempt that raised ``error`` (no response) may be repeated."""
    if _is_connect_failure(error):
        return True  # nothing reached the server: safe even for a create
    if isinstance(error, requests.exceptions.SSLError):
        return False  # a certificate problem does not heal in a second
    # A read timeout or a drop may mean the create was accepted: never create twice.
    return idempotent and isinstance(error, TRANSIENT_ERRORS)


def _is_connect_failure(error: BaseException | None) -> bool:
    """True when the request surely never reached the server (no TCP connection was made).

    requests raises ``ConnectTimeout`` for connect timeouts and wraps refused/unresolvable
    connections as ``ConnectionError(MaxRetryError(reason=NewConnectionError))``. A
    ``ConnectionError`` wrapping a ``ProtocolError`` (reset or closed after sending) may have
    reached the server and is deliberately not a connect failure.
    """
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(error, requests.exceptions.ConnectionError):
        return False
    if isinstance(error, requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return False
    inner = error.args[0] if error.args else None
    return isinstance(inner, urllib3.exceptions.MaxRetryError) and isinstance(
        inner.reason, urllib3.exceptions.ConnectTimeoutError
    )


# --- the client --------------------------------------------------------------------------------


class OpenAIVideosClient:
    """``VideoProvider`` over the Videos API with pooled connections, retries and safe errors."""

    name = "openai-videos"

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
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.max_retries = max(int(max_retries), 0)
        self.retry_deadline = float(retry_deadline)
        self._auth = _BearerAuth(api_key)
        self._session = session or self._build_session(pool_size)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OpenAIVideosClient:
        """Build from dreamweb settings (``OPENAI_*`` and ``PROVIDER_*``)."""
        return cls(
            base_url=str(config.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"),
            api_key=str(config.get("OPENAI_API_KEY") or ""),
            connect_timeout=float(config.get("PROVIDER_CONNECT_TIMEOUT", 5)),
            read_timeout=float(config.get("PROVIDER_READ_TIMEOUT", 30)),
            max_retries=int(config.get("PROVIDER_MAX_RETRIES", 2)),
            retry_deadline=float(config.get("PROVIDER_RETRY_DEADLINE", 60)),
        )

    @staticmethod
    def _build_session(pool_size: int) -> requests.Session:
        session = requests.Session()
        # max_retries=0: urllib3 must not retry on its own; our loop decides (creates!).
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def __repr__(self) -> str:
        return f"<OpenAIVideosClient base_url={self.base_url!r}>"

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    # --- operations ------------------------------------------------------------------------

    def create(self, prompt: str, *, model: str, seconds: str, size: str) -> ProviderJob:
        """Start one generation (``POST /videos``). Never starts two paid jobs for one call."""
        body = {"prompt": prompt, "model": model, "seconds": str(seconds), "size": size}
        call = _Call("create", "POST", "/videos", body=body, idempotent=False)
        return self._job(self._send(call))

    def retrieve(self, provider_job_id: str) -> ProviderJob:
        """The job's current state (``GET /videos/{id}``)."""
        call = _Call("retrieve", "GET", self._video_path(provider_job_id))
        return self._job(self._send(call))

    def delete(self, provider_job_id: str) -> None:
        """Delete the provider's copy (``DELETE /videos/{id}``).

        A retried delete whose first attempt already succeeded answers 404, raised as
        ``ProviderNotFoundError``: callers treat that as "already gone".
        """
        response = self._send(_Call("delete", "DELETE", self._video_path(provider_job_id)))
        response.close()

    def download(self, provider_job_id: str, variant: str = "video") -> ContentStream:
        """Stream a finished job's content (``GET /videos/{id}/content?variant=``).

        Setting up the request is retried; once bytes flow, a short or cut body raises
        ``ContentTruncatedError`` from the iterator and the caller decides whether to start over.
        Redirects are followed; requests drops ``Authorization`` when the host changes.
        """
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}")
        path = self._video_path(provider_job_id) + "/content"
        call = _Call("content", "GET", path, params={"variant": variant}, stream=True)
        response = self._send(call)
        # urllib3 2 enforces Content-Length by default, 1.x did not; insist either way. Our own
        # byte count below is the backstop when a body ends "cleanly" but short.
        if hasattr(response.raw, "enforce_content_length"):
            response.raw.enforce_content_length = True
        expected = self._expected_length(response)
        return ContentStream(
            self._body_chunks(response, expected, call),
            content_length=expected,
            content_type=response.headers.get("content-type", "application/octet-stream"),
            close=response.close,
        )

    # --- the retry loop ----------------------------------------------------------------------

    def _send(self, call: _Call) -> requests.Response:
        """Run ``call`` with retries; return a 2xx response or raise a mapped ``ProviderError``."""
        deadline = time.monotonic() + self.retry_deadline
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(call, attempt, deadline)
            if outcome.succeeded:
                return outcome.response  # type: ignore[return-value]
            failure = self._failure(call, outcome)
            wait = self._next_wait(call, outcome, attempt, failure, deadline)
            self._log_failure(call, outcome, attempt, wait, failure)
            self._release(outcome)
            if wait is None:
                raise failure
            time.sleep(wait)

    def _attempt(self, call: _Call, attempt: int, deadline: float) -> _Outcome:
        """One HTTP exchange with timeouts clamped so it cannot outlive the deadline by much."""
        remaining = max(deadline - time.monotonic(), 0.05)
        timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if call.stream:
            # Compressed transfer would make Content-Length count different bytes than we read.
            headers.update({"Accept": "*/*", "Accept-Encoding": "identity"})
        started = time.perf_counter()
        try:
            response = self._session.request(
                call.method,
                self.base_url + call.path,
                params=call.params,
                json=call.body,
                headers=headers,
                auth=self._auth,
                timeout=timeout,
                stream=call.stream,
                allow_redirects=True,
            )
        except requests.exceptions.RequestException as error:
            return _Outcome(error=error, duration_ms=_elapsed_ms(started))
        outcome = _Outcome(response=response, duration_ms=_elapsed_ms(started))
        if outcome.succeeded:
            self._log(logging.INFO, "provider call", call, outcome, attempt)
        return outcome

    def _next_wait(
        self,
        call: _Call,
        outcome: _Outcome,
        attempt: int,
        failure: ProviderError,
        deadline: float,
    ) -> float | None:
        """Seconds to sleep before retrying, or ``None`` to give up now."""
        if attempt > self.max_retries or not self._retryable(call, outcome, failure):
            return None
        headers = outcome.response.headers if outcome.response is not None else {}
        wait = retry_wait(attempt - 1, headers)
        # Never sleep past the deadline: a retry that cannot start in time is not made.
        if time.monotonic() + wait >= deadline:
            return None
        return wait

    @staticmethod
    def _retryable(call: _Call, outcome: _Outcome, failure: ProviderError) -> bool:
        """The SDK's retry rule, narrowed for creates and for exhausted quota."""
        if isinstance(failure, QuotaExhaustedError):
            return False
        if outcome.response is None:
            return _transport_retryable(outcome.error, idempotent=call.idempotent)
        override = outcome.response.headers.get("x-should-retry", "").strip().lower()
        if override == "false":
            return False
        if not call.idempotent:
            # Only a rate-limit refusal proves a create was not accepted.
            return outcome.status == 429
        if override == "true":
            return True
        return outcome.status in RETRYABLE_STATUSES or (outcome.status or 0) >= 500

    @staticmethod
    def _release(outcome: _Outcome) -> None:
        """Return a failed attempt's connection to the pool (or drop it)."""
        if outcome.response is not None:
            outcome.response.close()

    # --- error mapping -----------------------------------------------------------------------

    def _failure(self, call: _Call, outcome: _Outcome) -> ProviderError:
        """The typed error this attempt would end the call with."""
        if outcome.response is None:
            return self._transport_failure(call, outcome.error)
        return self._status_failure(outcome.response)

    @staticmethod
    def _transport_failure(call: _Call, error: BaseException | None) -> ProviderError:
        if isinstance(error, requests.exceptions.Timeout) and not isinstance(
            error, requests.exceptions.ConnectTimeout
        ):
            detail = "did not answer in time"
            if not call.idempotent:
                detail += " (the video may still have been started)"
            return UpstreamUnavailableError(f"The video provider {detail}")
        return UpstreamUnavailableError("The video provider could not be reached")

    def _status_failure(self, response: requests.Response) -> ProviderError:
        status = response.status_code
        message, code = self._error_envelope(response)
        ids = {"upstream_status": status, "request_id": response.headers.get("x-request-id")}
        if status == 429:
            if code in QUOTA_CODES or QUOTA_PHRASE in (message or "").lower():
                return QuotaExhaustedError(**ids)
            return RateLimitedError(retry_after=parse_retry_after(response.headers), **ids)
        if status in (400, 413, 415, 422):
            return InputRejectedError(message, **ids)
        if status in (401, 403):
            return AuthenticationError(**ids)
        if status in (404, 410):
            return ProviderNotFoundError(**ids)
        if status in (408, 409) or status >= 500:
            return UpstreamUnavailableError(**ids)
        return ProviderError(f"The video provider answered HTTP {status}", **ids)

    def _error_envelope(self, response: requests.Response) -> tuple[str | None, str | None]:
        """``(message, code)`` from ``{"error": {...}}``; ``(None, None)`` for anything else.

        Only the first 64 KiB are read (a streamed error body could be anything), and the key
        is scrubbed in case a gateway echoes it back.
        """
        try:
            raw = next(response.iter_content(ERROR_BODY_LIMIT), b"")
            payload = json.loads(raw.decode("utf-8", "replace")) if raw else None
        except (*BODY_READ_ERRORS, ValueError, requests.exceptions.RequestException):
            return None, None
        if not isinstance(payload, dict):
            return None, None
        code, message = _error_fields(payload.get("error"))
        if message is not None:
            message = self._auth.scrub(message).strip() or None
        return message, code

    # --- responses and bodies ----------------------------------------------------------------

    def _job(self, response: requests.Response) -> ProviderJob:
        """Parse a 2xx Video response."""
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise UpstreamUnavailableError(
                "The video provider sent an unreadable response",
                upstream_status=response.status_code,
                request_id=response.headers.get("x-request-id"),
            )
        return parse_video(data)

    @staticmethod
    def _expected_length(response: requests.Response) -> int | None:
        """The byte count to verify, or ``None`` when the transfer carries no usable length."""
        if response.headers.get("content-encoding", "identity").lower() != "identity":
            return None  # decoded bytes cannot be compared with an encoded length
        length = _finite_float(response.headers.get("content-length"))
        return int(length) if length is not None and length >= 0 else None

    def _body_chunks(
        self, response: requests.Response, expected: int | None, call: _Call
    ) -> Iterator[bytes]:
        """``verified_chunks`` plus logging and always releasing the connection."""
        received = 0
        try:
            for piece in verified_chunks(response, expected):
                received += len(piece)
                yield piece
        except ContentTruncatedError:
            self._log_download(
                logging.WARNING, "provider download truncated", call, response, received, expected
            )
            raise
        finally:
            response.close()
        if expected is None and not _is_chunked(response):
            # Close-delimited body: nothing to check the count against. Accepted, but visible.
            self._log_download(
                logging.WARNING,
                "provider download length unverifiable",
                call,
                response,
                received,
                expected,
            )
        else:
            self._log_download(
                logging.INFO, "provider download complete", call, response, received, expected
            )

    # --- logging -----------------------------------------------------------------------------

    def _fields(self, call: _Call) -> dict[str, Any]:
        return {"op": call.op, "method": call.method, "path": call.path}

    def _log(
        self, level: int, message: str, call: _Call, outcome: _Outcome, attempt: int, **more: Any
    ) -> None:
        """Log one upstream call. Headers and bodies are never logged: they may hold the key."""
        extra = self._fields(call) | {
            "status": outcome.status,
            "duration_ms": outcome.duration_ms,
            "upstream_request_id": outcome.request_id,
            "attempt": attempt,
        }
        if outcome.error is not None:
            extra["error"] = type(outcome.error).__name__
        logger.log(level, message, extra=extra | more)

    def _log_failure(
        self,
        call: _Call,
        outcome: _Outcome,
        attempt: int,
        wait: float | None,
        failure: ProviderError,
    ) -> None:
        if wait is None:
            message, more = "provider call failed", {"failure": type(failure).__name__}
        else:
            message, more = "provider call failed; retrying", {"retry_in_s": round(wait, 3)}
        self._log(logging.WARNING, message, call, outcome, attempt, **more)

    def _log_download(
        self,
        level: int,
        message: str,
        call: _Call,
        response: requests.Response,
        received: int,
        expected: int | None,
    ) -> None:
        extra = self._fields(call) | {
            "status": response.status_code,
            "upstream_request_id": response.headers.get("x-request-id"),
            "received_bytes": received,
            "expected_bytes": expected,
        }
        logger.log(level, message, extra=extra)

    def _video_path(self, provider_job_id: str) -> str:
        if not provider_job_id:
            raise ValueError("provider_job_id must not be empty")
        # Quote everything: an id is data, never extra path segments or a query.
        return "/videos/" + quote(provider_job_id, safe="")


def verified_chunks(response: requests.Response, expected: int | None) -> Iterator[bytes]:
    """Yield a streamed body in chunks of at most ``CHUNK_SIZE`` bytes, verifying its length.

    Any transport error while reading, or a body that ends before (or after) ``expected`` bytes,
    raises ``ContentTruncatedError``: a short read never looks like a finished download, whether
    or not urllib3 enforces ``Content-Length`` itself.
    """
    received = 0
    ids: dict[str, Any] = {
        "upstream_status": response.status_code,
        "request_id": response.headers.get("x-request-id"),
    }
    try:
        for chunk in response.iter_content(CHUNK_SIZE):
            # iter_content honours the size for identity bodies; slicing keeps the bound anyway.
            for start in range(0, len(chunk), CHUNK_SIZE):
                piece = chunk[start : start + CHUNK_SIZE]
                received += len(piece)
                yield piece
    except BODY_READ_ERRORS as error:
        raise ContentTruncatedError(
            f"The video download was cut short after {received} bytes", **ids
        ) from error
    if expected is not None and received != expected:
        raise ContentTruncatedError(
            f"The video download ended after {received} of {expected} bytes", **ids
        )


def _is_chunked(response: requests.Response) -> bool:
    return "chunked" in response.headers.get("transfer-encoding", "").lower()


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
