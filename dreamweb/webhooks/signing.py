"""Standard Webhooks signatures (https://www.standardwebhooks.com), by the reference package."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_MIN_BYTES, SECRET_MAX_BYTES = 24, 64  # what the spec recommends for a symmetric key


def parse_secret(value: str) -> str:
    """``value`` if it is a ``whsec_`` + base64 secret of 24-64 bytes, else ``ValueError``."""
    if not value.startswith(SECRET_PREFIX):
        raise ValueError("must be whsec_ followed by base64 (24-64 random bytes)")
    try:
        key = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise ValueError("must be whsec_ followed by base64 (24-64 random bytes)") from None
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        raise ValueError("must hold 24-64 bytes once base64-decoded")
    return value


def new_secret() -> str:
    """A fresh secret in the ``whsec_`` format (for operators and tests)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    """A webhook-id: the same for every attempt at one delivery, so receivers can dedupe."""
    return "msg_" + secrets.token_urlsafe(18)


def signed_headers(secret: str, message_id: str, body: str, now: float) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body`` sent at ``now`` (Unix seconds)."""
    timestamp = datetime.fromtimestamp(int(now), UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now)),
        "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
    }
