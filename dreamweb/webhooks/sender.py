"""One webhook POST to an address that passed the checks, bounded in time.

The connection goes to the checked IP itself (never re-resolving the name, which could now
point elsewhere); the name still travels in ``Host`` and, for https, in SNI and the
certificate check. No redirects are followed (a redirect could point anywhere) and the answer's
body is not read beyond its status.
"""

from __future__ import annotations

from dataclasses import dataclass

import certifi
import urllib3

from dreamweb.webhooks.addresses import Target

USER_AGENT = "dreamweb-webhooks/1"


@dataclass(frozen=True)
class Attempt:
    """How one attempt ended: the receiver's HTTP status, or why there was none."""

    status: int | None
    problem: str | None = None

    @property
    def delivered(self) -> bool:
        """A 2xx answer: the receiver has it."""
        return self.status is not None and 200 <= self.status < 300

    def summary(self) -> str:
        """Short text for the record and the logs (never the receiver's body)."""
        return f"HTTP {self.status}" if self.status is not None else str(self.problem)


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> Attempt:
    """POST ``body`` to ``target`` at the first of its addresses that accepts a connection."""
    if not target.addresses:
        return Attempt(None, "host did not resolve")
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    if ":" in target.host and target.port == default_port:
        host_header = f"[{target.host}]"
    elif ":" in target.host:
        host_header = f"[{target.host}]:{target.port}"
    request_headers = {
        **headers,
        "Host": host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    problem = "no address answered"
    for address in target.addresses:
        pool = _pool(target, address, timeout)
        try:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers=request_headers,
                retries=False,
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
            response.close()  # the status is all we need; never read a receiver's body
            return Attempt(response.status)
        except urllib3.exceptions.TimeoutError:
            return Attempt(None, "timed out")  # it may have the body: do not try another address
        except urllib3.exceptions.HTTPError as error:
            problem = f"connection failed ({type(error).__name__})"
        finally:
            pool.close()
    return Attempt(None, problem)


def _pool(target: Target, address: str, timeout: float) -> urllib3.HTTPConnectionPool:
    limits = urllib3.Timeout(connect=timeout, read=timeout, total=timeout)
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            target.port,
            timeout=limits,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return urllib3.HTTPConnectionPool(address, target.port, timeout=limits, maxsize=1)
