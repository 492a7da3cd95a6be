"""Which callback URLs dreamweb will call, and the addresses it may connect to.

A callback URL is client input that makes the server open a connection: without these checks
it would reach the metadata service, loopback admin ports or the private network (SSRF). Only
globally routable addresses pass, checked when the URL is accepted and again, on the resolved
addresses, right before every attempt (a name may be re-pointed after it was accepted: DNS
rebinding); the sender then connects to an address that passed, never re-resolving.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from dreamweb.errors import ValidationError

RESOLVE_TIMEOUT = 2.0
_resolver = ThreadPoolExecutor(2, thread_name_prefix="dreamweb-dns")


@dataclass(frozen=True)
class CallbackPolicy:
    """What the configuration allows (``WEBHOOK_*`` settings)."""

    https_only: bool
    allowed_hosts: Sequence[str] = ()
    allow_private: bool = False  # tests only: lets callbacks reach loopback receivers


@dataclass(frozen=True)
class Target:
    """A callback URL taken apart, with the addresses that passed the checks."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]


class UnsafeCallbackError(ValidationError):
    """The callback URL is not allowed (400 ``invalid_callback_url``)."""

    code = "invalid_callback_url"


def refuse(reason: str) -> UnsafeCallbackError:
    """The error for a refused callback URL."""
    return UnsafeCallbackError(f"Invalid callbackUrl: {reason}")


def is_public_address(address: str) -> bool:
    """Whether ``address`` is globally routable: not private, loopback, link-local (cloud
    metadata lives there), multicast, reserved, shared (CGNAT) or unspecified. An IPv4-mapped
    IPv6 address is judged as the IPv4 address it carries."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def host_allowed(host: str, allowed_hosts: Sequence[str]) -> bool:
    """``host`` is in the allowlist: an exact name, or under a ``*.example.com`` entry."""
    for entry in allowed_hosts:
        entry = entry.lower()
        if host == entry or (entry.startswith("*.") and host.endswith(entry[1:])):
            return True
    return False


def parse_callback_url(url: str, policy: CallbackPolicy) -> SplitResult:
    """The URL taken apart if its form is acceptable (scheme, host, allowlist), else refused."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise refuse("not a valid URL") from None
    schemes = {"https"} if policy.https_only else {"https", "http"}
    if parts.scheme not in schemes:
        raise refuse("must be an " + " or ".join(sorted(schemes)) + " URL")
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise refuse("must name a host, without user or password")
    if any(char.isspace() or ord(char) < 32 for char in url):
        raise refuse("must not contain spaces or control characters")
    if policy.allowed_hosts and not host_allowed(parts.hostname, policy.allowed_hosts):
        raise refuse("this host is not in the server's WEBHOOK_ALLOWED_HOSTS")
    return parts


def resolve(host: str, port: int) -> tuple[str, ...]:
    """The addresses ``host`` resolves to (an IP literal is its own), within a bounded time;
    empty when it does not resolve."""
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=RESOLVE_TIMEOUT)
    except (OSError, UnicodeError, FutureTimeout):
        return ()
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


def check_callback_url(url: str, policy: CallbackPolicy) -> Target:
    """The callback target if ``url`` may be called now, else ``UnsafeCallbackError``.

    Every address the host resolves to must be public (unless the policy allows private ones):
    one bad address refuses the whole name, since the resolver may hand out any of them. A name
    that does not resolve right now yields a target without addresses: it is accepted when a
    job is created (DNS trouble is often brief) and fails the attempt when sending.
    """
    parts = parse_callback_url(url, policy)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, port)
    if not policy.allow_private and not all(is_public_address(a) for a in addresses):
        raise refuse("its host is not a public internet address")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path, addresses)
