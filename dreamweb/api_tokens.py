"""API tokens: who an API client is, when ``API_TOKENS`` is set.

A token is a secret shared with one API client. Requests prove it with ``Authorization:
Bearer <token>``; it is compared in constant time with every configured token (so neither the
match nor its position leaks through timing). Records and counters never hold a token, only
its hash: a stable name for the client (``token_hash``) that scopes rate limits, the per-client
budget and idempotency keys, and marks which jobs a client may delete. No Flask here.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

# Shorter tokens could be guessed: ``secrets.token_urlsafe(32)`` gives 43 characters.
TOKEN_MIN_LENGTH = 16
TOKEN_ALPHABET = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="
)  # RFC 6750's b64token characters
BEARER = "bearer"


def parse_api_tokens(value: object) -> tuple[str, ...]:
    """``API_TOKENS`` (a comma list) as a tuple; ``ValueError`` names the rule, never a token."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    tokens = tuple(str(item).strip() for item in items if str(item).strip())
    for token in tokens:
        if len(token) < TOKEN_MIN_LENGTH or not set(token) <= TOKEN_ALPHABET:
            raise ValueError(
                f"must be a comma list of tokens of at least {TOKEN_MIN_LENGTH} characters "
                "(letters, digits, -._~+/=), e.g. from: python -c "
                "'import secrets; print(secrets.token_urlsafe(32))'"
            )
    return tokens


def token_hash(token: str) -> str:
    """The stable, non-reversible name of a token, stored in records and counters."""
    return hashlib.sha256(f"dreamweb-api-token\0{token}".encode()).hexdigest()[:32]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else ``None``."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == BEARER and token else None


class ApiTokens:
    """The configured tokens; ``enabled`` is false when ``API_TOKENS`` is unset."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = tuple(token.encode() for token in tokens)

    @property
    def enabled(self) -> bool:
        """Whether the API requires tokens at all."""
        return bool(self._tokens)

    def identify(self, authorization: str | None) -> str | None:
        """The token hash of a valid ``Authorization`` header value, else ``None``."""
        presented = bearer_token(authorization)
        if presented is None:
            return None
        candidate = presented.encode()
        matched: bytes | None = None
        for token in self._tokens:  # every token is compared: no early exit to time
            if hmac.compare_digest(candidate, token):
                matched = token
        return token_hash(matched.decode()) if matched is not None else None


def client_scope(token: str | None, address: str) -> str:
    """The client a request counts as: its token hash when it has one, else its address."""
    return f"token:{token}" if token else address
