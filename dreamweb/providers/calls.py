"""The vocabulary of one upstream call: what to send (``Call``), what came back (``Outcome``),
and the auth hook that holds a key so nothing else has to (``BearerAuth``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.auth import AuthBase

REDACTED = "[redacted]"


class BearerAuth(AuthBase):
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
class Call:
    """One logical operation: what to send and how it may be retried."""

    op: str
    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: Mapping[str, Any] | None = None
    stream: bool = False
    # A create may run twice only if the first attempt surely never reached the server.
    idempotent: bool = True
    url: str | None = None  # absolute URL instead of base_url + path (e.g. a storage read)


@dataclass
class Outcome:
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
