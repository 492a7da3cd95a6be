"""``HttpClient``: the transport every HTTP provider builds on.

* every call carries explicit (connect, read) timeouts and runs through one retry loop
  (``dreamweb.providers.retry``) bounded by a total deadline;
* a create is never retried once the request may have reached the server;
* downloads stream in bounded chunks and a short body always raises ``ContentTruncatedError``;
* a key lives only in the auth hook that sets the header: it is never logged, never part of an
  error message or a ``repr``, and upstream messages that echo it are scrubbed.

Subclasses say how their API's errors look (``_envelope``) and map statuses (``_status_failure``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from dreamweb.errors import (
    AuthenticationError,
    ContentPolicyError,
    InputRejectedError,
    ProviderError,
    ProviderNotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    UpstreamUnavailableError,
)
from dreamweb.providers.base import CONTENT_POLICY, ContentStream
from dreamweb.providers.call_log import call_fields, log_call, log_failure
from dreamweb.providers.calls import BearerAuth, Call, Outcome, redirect_guard
from dreamweb.providers.retry import next_wait, parse_retry_after
from dreamweb.providers.streaming import BODY_READ_ERRORS, expected_length, logged_chunks
from dreamweb.providers.wire import error_fields

USER_AGENT = f"dreamweb/0.1 python-requests/{requests.__version__}"
ERROR_BODY_LIMIT = 64 * 1024  # an error body is read only this far: it is diagnostics only
# Error codes with which a provider refuses a prompt under its content policy (OpenAI's Videos
# API says ``moderation_blocked``; its image endpoints say ``content_policy_violation``).
CONTENT_POLICY_CODES = frozenset({CONTENT_POLICY, "content_policy_violation"})


def pooled_session(pool_size: int, session: requests.Session | None = None) -> requests.Session:
    """A session whose adapters never retry on their own (our loop decides: creates!)."""
    session = session or requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def timeouts_from_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``PROVIDER_*`` timeout and retry settings, as every HTTP provider takes them."""
    return {
        "connect_timeout": float(config.get("PROVIDER_CONNECT_TIMEOUT", 5)),
        "read_timeout": float(config.get("PROVIDER_READ_TIMEOUT", 30)),
        "max_retries": int(config.get("PROVIDER_MAX_RETRIES", 2)),
        "retry_deadline": float(config.get("PROVIDER_RETRY_DEADLINE", 60)),
    }


class HttpClient:
    """Timeouts, the shared retry loop, typed errors, verified streaming and safe logging."""

    name = "http"
    # Exceptions besides requests' own that mean "no answer" (e.g. a failed token refresh).
    transport_errors: tuple[type[Exception], ...] = ()

    def __init__(
        self,
        *,
        base_url: str,
        auth: BearerAuth | None,
        session: requests.Session,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_retries: int = 2,
        retry_deadline: float = 60.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.max_retries = max(int(max_retries), 0)
        self.retry_deadline = float(retry_deadline)
        self._auth = auth
        self._session = session
        self._headers = {"User-Agent": USER_AGENT, **(headers or {})}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} base_url={self.base_url!r}>"

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    # --- the retry loop ----------------------------------------------------------------------

    def _send(self, call: Call) -> requests.Response:
        """Run ``call`` with retries; return a 2xx response or raise a mapped ``ProviderError``."""
        deadline = time.monotonic() + self.retry_deadline
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(call, attempt, deadline)
            if outcome.succeeded:
                return outcome.response  # type: ignore[return-value]
            failure = self._failure(call, outcome)
            wait = None
            if not isinstance(failure, QuotaExhaustedError):  # retrying cannot refill a quota
                wait = next_wait(
                    outcome,
                    attempt,
                    idempotent=call.idempotent,
                    max_retries=self.max_retries,
                    deadline=deadline,
                )
            log_failure(self.name, call, outcome, attempt, wait, failure)
            if outcome.response is not None:
                outcome.response.close()  # back to the pool (or dropped)
            if wait is None:
                raise failure
            time.sleep(wait)

    def _attempt(self, call: Call, attempt: int, deadline: float) -> Outcome:
        """One HTTP exchange with timeouts clamped so it cannot outlive the deadline by much."""
        remaining = max(deadline - time.monotonic(), 0.05)
        timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
        headers = {**self._headers, "Accept": "application/json"}
        if call.stream:
            # Compressed transfer would make Content-Length count different bytes than we read.
            headers.update({"Accept": "*/*", "Accept-Encoding": "identity"})
        url = call.url or self.base_url + call.path
        # Downloads may be redirected to a signed file URL, but only within the provider's domain.
        hooks = {"response": redirect_guard(urlsplit(url).hostname or "")} if call.stream else None
        started = time.perf_counter()
        try:
            response = self._session.request(
                call.method,
                url,
                params=call.params,
                json=call.body,
                headers=headers,
                auth=self._auth,
                timeout=timeout,
                stream=call.stream,
                allow_redirects=True,
                hooks=hooks,
            )
        except (requests.exceptions.RequestException, *self.transport_errors) as error:
            return Outcome(error=error, duration_ms=_elapsed_ms(started))
        outcome = Outcome(response=response, duration_ms=_elapsed_ms(started))
        if outcome.succeeded:
            log_call(self.name, logging.INFO, "provider call", call, outcome, attempt)
        return outcome

    # --- error mapping -----------------------------------------------------------------------

    def _failure(self, call: Call, outcome: Outcome) -> ProviderError:
        """The typed error this attempt would end the call with."""
        if outcome.response is None:
            return self._transport_failure(call, outcome.error)
        message, code = self._error_envelope(outcome.response)
        return self._status_failure(call, outcome.response, message, code)

    def _transport_failure(self, call: Call, error: BaseException | None) -> ProviderError:
        if isinstance(error, requests.exceptions.Timeout) and not isinstance(
            error, requests.exceptions.ConnectTimeout
        ):
            detail = "did not answer in time"
            if not call.idempotent:
                detail += " (the video may still have been started)"
            return UpstreamUnavailableError(f"The video provider {detail}")
        return UpstreamUnavailableError("The video provider could not be reached")

    def _status_failure(
        self, call: Call, response: requests.Response, message: str | None, code: str | None
    ) -> ProviderError:
        """The generic mapping of an HTTP error status; providers refine it first."""
        status = response.status_code
        ids = self._ids(response)
        if status == 429:
            return RateLimitedError(retry_after=parse_retry_after(response.headers), **ids)
        if status in (400, 413, 415, 422):
            if code in CONTENT_POLICY_CODES:
                return ContentPolicyError(message, **ids)
            return InputRejectedError(message, **ids)
        if status in (401, 403):
            return AuthenticationError(**ids)
        if status in (404, 410):
            return ProviderNotFoundError(**ids)
        if status in (408, 409) or status >= 500:
            return UpstreamUnavailableError(**ids)
        return ProviderError(f"The video provider answered HTTP {status}", **ids)

    @staticmethod
    def _ids(response: requests.Response) -> dict[str, Any]:
        return {
            "upstream_status": response.status_code,
            "request_id": response.headers.get("x-request-id"),
        }

    def _error_envelope(self, response: requests.Response) -> tuple[str | None, str | None]:
        """``(message, code)`` from the error body; ``(None, None)`` when there is none.

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
        message, code = self._envelope(payload)
        if message is not None:
            message = self._scrub(message).strip() or None
        return message, code

    @staticmethod
    def _envelope(payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """``(message, code)`` of ``{"error": {"message", "code"}}`` (or a string ``error``)."""
        code, message = error_fields(payload.get("error"))
        return message, code

    def _scrub(self, text: str) -> str:
        return self._auth.scrub(text) if self._auth is not None else text

    # --- responses and bodies ----------------------------------------------------------------

    def _json(self, call: Call) -> dict[str, Any]:
        """Send ``call`` and parse its 2xx JSON object answer."""
        response = self._send(call)
        try:
            data = response.json()
        except ValueError:
            data = None
        finally:
            response.close()
        if not isinstance(data, dict):
            raise UpstreamUnavailableError(
                "The video provider sent an unreadable response", **self._ids(response)
            )
        return data

    def _stream(self, call: Call) -> ContentStream:
        """Send ``call`` (a streamed GET) and hand its body over as a verified ``ContentStream``.

        Setting up the request is retried; once bytes flow, a short or cut body raises
        ``ContentTruncatedError`` from the iterator and the caller decides whether to start over.
        Redirects are followed; requests drops ``Authorization`` when the host changes.
        """
        response = self._send(call)
        # urllib3 2 enforces Content-Length by default, 1.x did not; insist either way. Our own
        # byte count is the backstop when a body ends "cleanly" but short.
        if hasattr(response.raw, "enforce_content_length"):
            response.raw.enforce_content_length = True
        expected = expected_length(response)
        return ContentStream(
            logged_chunks(response, expected, call_fields(call) | {"provider": self.name}),
            content_length=expected,
            content_type=response.headers.get("content-type", "application/octet-stream"),
            close=response.close,
        )


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
