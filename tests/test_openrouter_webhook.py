"""OpenRouter webhook verification and parsing: pure functions, no peers.

Signatures are built here with ``hmac`` directly (the reference's recipe), not with the code
under test, so a wrong recipe on either side fails.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from dreamweb.providers.openrouter.webhook import Delivery, parse_delivery, signature_problem

SECRET = "whsec-test-secret"
NOW = 1_800_000_000
BODY = json.dumps(
    {
        "type": "video.generation.completed",
        "created_at": "2027-01-15T08:00:00.000Z",
        "data": {"id": "gen-vid-1-abc", "status": "completed", "usage": {"cost": 0.5}},
    }
).encode()


def sign(body: bytes, t: int, secret: str = SECRET) -> str:
    mac = hmac.new(secret.encode(), f"{t},".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def test_a_valid_signature_passes() -> None:
    assert signature_problem(BODY, sign(BODY, NOW), SECRET, now=NOW) is None
    assert signature_problem(BODY, sign(BODY, NOW - 300), SECRET, now=NOW) is None
    assert signature_problem(BODY, sign(BODY, NOW).replace(",", ", "), SECRET, now=NOW) is None


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing signature"),
        ("", "missing signature"),
        ("v1=abc", "malformed signature"),
        (f"t={NOW}", "malformed signature"),
        (f"t=soon,v1={'0' * 64}", "malformed signature"),
        (sign(BODY, NOW, secret="another-secret"), "signature mismatch"),
        (sign(BODY + b" ", NOW), "signature mismatch"),
        (f"t={NOW},v1={'0' * 64}", "signature mismatch"),
        (sign(BODY, NOW - 301), "stale timestamp"),
        (sign(BODY, NOW + 301), "stale timestamp"),
    ],
)
def test_forged_wrong_or_stale_signatures_are_refused(header: str | None, reason: str) -> None:
    assert signature_problem(BODY, header, SECRET, now=NOW) == reason


def test_the_signature_covers_the_exact_bytes() -> None:
    reserialised = json.dumps(json.loads(BODY), separators=(",", ":")).encode()
    assert reserialised != BODY
    assert signature_problem(reserialised, sign(BODY, NOW), SECRET, now=NOW) is not None


def test_a_delivery_names_its_job_and_status() -> None:
    assert parse_delivery(BODY) == Delivery("gen-vid-1-abc", "completed")
    from_type = json.dumps({"type": "video.generation.expired", "data": {"id": "j"}}).encode()
    assert parse_delivery(from_type) == Delivery("j", "expired")


@pytest.mark.parametrize(
    "body", [b"not json", b"\xff\xfe", b"[]", b'{"data": {}}', b'{"data": {"id": 7}}']
)
def test_unreadable_deliveries_raise(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_delivery(body)
