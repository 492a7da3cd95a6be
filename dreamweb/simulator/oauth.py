"""Google's OAuth2 token endpoint, as google-auth's service-account credentials call it.

``POST /token`` takes ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and an
``assertion``: an RS256 JWT signed with a service account's private key, whose ``iss`` is the
account's ``client_email``. The simulator verifies the signature against keys it was told to
trust (``trust``: a service-account JSON, or ``client_email`` + ``public_key_pem``), then
answers ``{"access_token", "expires_in", "token_type": "Bearer"}``. Access tokens are
stateless (an HMAC over subject and expiry with a per-process secret), so they survive
``reset`` and are only valid for this simulator; ``valid`` checks one. Errors use Google's
OAuth2 shape ``{"error": "invalid_grant", "error_description": ...}`` with status 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from dreamweb.simulator.dialect import Dialect
from dreamweb.simulator.faults import COMMON_FAULTS, Fault
from dreamweb.simulator.http import HttpError, json_response

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PREFIX = "ya29.sim."
# google-auth signs assertions valid for an hour; allow some clock skew either way.
CLOCK_SKEW_SECONDS = 300


class OAuthError(HttpError):
    """An OAuth2 error answer (RFC 6749 section 5.2 shape, as Google sends it)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(status, description)
        self.error = error

    def envelope(self) -> dict[str, str]:
        """``{"error", "error_description"}``."""
        return {"error": self.error, "error_description": self.message}


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenEndpoint(Dialect):
    """``POST /token``: service-account JWTs in, access tokens out (route ``token``)."""

    name = "oauth"
    prefixes = ("/token",)
    route_faults = {"token": COMMON_FAULTS}

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self._trusted: dict[str, rsa.RSAPublicKey] = {}
        self._trusted_lock = threading.Lock()

    def bind(self, core: Any, media: Any) -> None:
        """Attach the shared core (the token lifetime and faults live there)."""
        super().__init__(core, media)

    def rules(self) -> list[Rule]:
        """The one token route."""
        return [Rule("/token", methods=["POST"], endpoint="token")]

    def trust(self, info: Mapping[str, object]) -> str:
        """Trust a key: a service-account JSON (its private key's public half) or
        ``client_email`` + ``public_key_pem``. Returns the email. Raises ``ValueError``."""
        email = info.get("client_email")
        if not isinstance(email, str) or not email:
            raise ValueError("client_email is required")
        pem = info.get("public_key_pem") or info.get("private_key")
        if not isinstance(pem, str):
            raise ValueError("public_key_pem (or a service account's private_key) is required")
        try:
            if "PRIVATE KEY" in pem:
                key: Any = serialization.load_pem_private_key(pem.encode(), None).public_key()
            else:
                key = serialization.load_pem_public_key(pem.encode())
        except ValueError as error:
            raise ValueError(f"unreadable key: {error}") from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("only RSA keys are supported")
        with self._trusted_lock:
            self._trusted[email] = key
        return email

    def issue(self, subject: str, lifetime: float) -> str:
        """A fresh access token for ``subject``, valid ``lifetime`` seconds."""
        claims = _b64url(json.dumps({"sub": subject, "exp": time.time() + lifetime}).encode())
        return TOKEN_PREFIX + claims + "." + self._mac(claims)

    def valid(self, token: str) -> bool:
        """Whether ``token`` was issued here and has not expired."""
        if not token.startswith(TOKEN_PREFIX):
            return False
        claims, _, mac = token.removeprefix(TOKEN_PREFIX).partition(".")
        if not hmac.compare_digest(mac, self._mac(claims)):
            return False
        try:
            return json.loads(_b64url_decode(claims))["exp"] > time.time()
        except (ValueError, KeyError):
            return False

    def _mac(self, claims: str) -> str:
        return _b64url(hmac.new(self._secret, claims.encode(), hashlib.sha256).digest())

    def fault_error(self, fault: Fault) -> HttpError:
        """429 / 5xx from the token server."""
        status = int(fault.kind)
        return OAuthError(status, "temporarily_unavailable", "The token server is unavailable.")

    def not_found(self, method: str, path: str) -> HttpError:
        """Anything but ``POST /token``."""
        return OAuthError(404, "invalid_request", f"No such endpoint: {method} {path}")

    def describe(self, job: Any) -> dict[str, Any]:
        """The token endpoint has no jobs."""
        return {}

    def handle(
        self, route: str, request: Request, args: dict[str, Any], fault: Fault | None
    ) -> Response:
        """Exchange a signed service-account assertion for an access token."""
        grant_type = request.form.get("grant_type", "")
        if grant_type != JWT_BEARER:
            raise OAuthError(
                400, "unsupported_grant_type", f"Invalid grant_type: {grant_type or '(none)'}"
            )
        claims = self._verified_claims(request.form.get("assertion", ""))
        lifetime = self.core.settings.token_seconds
        return json_response(
            {
                "access_token": self.issue(str(claims["iss"]), lifetime),
                "expires_in": int(lifetime),
                "token_type": "Bearer",
            }
        )

    def _verified_claims(self, assertion: str) -> dict[str, Any]:
        parts = assertion.split(".")
        try:
            header, claims = (json.loads(_b64url_decode(part)) for part in parts[:2])
            signature = _b64url_decode(parts[2])
        except (ValueError, IndexError):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: not a signed JWT.") from None
        if header.get("alg") != "RS256":
            raise OAuthError(400, "invalid_grant", "Invalid JWT: only RS256 is accepted.")
        with self._trusted_lock:
            key = self._trusted.get(str(claims.get("iss")))
        if key is None:
            raise OAuthError(400, "invalid_grant", "Invalid grant: account not found")
        try:
            key.verify(
                signature,
                f"{parts[0]}.{parts[1]}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.") from None
        now = time.time()
        expires, issued = claims.get("exp"), claims.get("iat")
        if not isinstance(expires, int | float) or not isinstance(issued, int | float):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: iat and exp are required.")
        if expires < now - CLOCK_SKEW_SECONDS or issued > now + CLOCK_SKEW_SECONDS:
            raise OAuthError(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        if not claims.get("scope"):
            raise OAuthError(400, "invalid_scope", "Invalid OAuth scope or ID token audience.")
        return claims
