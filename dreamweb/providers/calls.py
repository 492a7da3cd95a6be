"""The vocabulary of one upstream call: what to send (``Call``), what came back (``Outcome``),
and the auth hook that holds a key so nothing else has to (``BearerAuth``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.auth import AuthBase

from dreamweb.errors import UpstreamUnavailableError

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


def host_family(host: str) -> str:
    """The domain a provider's hosts share: ``api.openai.com`` → ``openai.com``.

    A two-label host is its own family (``openrouter.ai``) and an IP address only matches
    itself. Without a public-suffix list this errs strict: ``api.example.co.uk`` → ``example.co.uk``
    works, but a two-label host under a public suffix (``example.co.uk``) covers only itself.
    """
    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        labels = host.split(".")
        return host if len(labels) <= 2 else ".".join(labels[1:])
    return host


def in_host_family(origin_host: str, target_host: str) -> bool:
    """Whether ``target_host`` belongs to ``origin_host``'s family (see ``host_family``)."""
    family = host_family(origin_host)
    target = target_host.lower().rstrip(".")
    return target == family or target.endswith("." + family) or target == origin_host.lower()


def redirect_guard(origin_host: str) -> Callable[..., None]:
    """A requests response hook refusing redirects out of ``origin_host``'s family.

    Content downloads follow a provider's redirects (gateways hand out signed file URLs), but
    only within the provider's own domain: a redirect elsewhere (another site, a metadata
    address, our own network) is refused before anything is sent to it.
    """

    def check(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if not response.is_redirect:
            return
        target = urlsplit(urljoin(response.url, response.headers["Location"])).hostname or ""
        if not in_host_family(origin_host, target):
            response.close()
            family = host_family(origin_host)
            raise UpstreamUnavailableError(
                f"the provider redirected a download to {target}, outside {family}"
            )

    return check
