"""Validation of everything a client sends, before any upstream call.

Pure functions: they take plain values and either return the cleaned value or raise
``ValidationError`` with the message the client will read.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dreamweb.errors import ValidationError
from dreamweb.storage.layout import is_job_id

PROMPT_MIN, PROMPT_MAX = 10, 500
IDEMPOTENCY_KEY_MAX = 255
_WHITESPACE_RUN = re.compile(r"\s+")
# Control (Cc) and invisible format (Cf: zero-width, bidi overrides, BOM) characters, plus
# unassigned/private/surrogate code points, never reach the provider.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


@dataclass(frozen=True)
class CreateRequest:
    """A validated create-video request."""

    prompt: str
    seconds: str
    size: str


def sanitize_prompt(text: str) -> str:
    """NFC-normalize, turn whitespace controls into spaces, drop other control and invisible
    format characters, collapse whitespace runs and trim."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(
        " " if char.isspace() else char
        for char in text
        if char.isspace() or unicodedata.category(char) not in _DROPPED_CATEGORIES
    )
    return _WHITESPACE_RUN.sub(" ", text).strip()


def validate_prompt(value: Any) -> str:
    """The sanitized prompt, or ``ValidationError``."""
    if value is None:
        raise ValidationError("Invalid prompt: prompt is required")
    if not isinstance(value, str):
        raise ValidationError("Invalid prompt: must be a string")
    prompt = sanitize_prompt(value)
    if not prompt:
        raise ValidationError("Invalid prompt: must not be empty or only whitespace")
    if not PROMPT_MIN <= len(prompt) <= PROMPT_MAX:
        raise ValidationError(
            f"Invalid prompt: must be between {PROMPT_MIN} and {PROMPT_MAX} characters"
        )
    return prompt


def validate_choice(name: str, value: Any, allowed: Sequence[str], default: str) -> str:
    """``value`` as one of ``allowed`` (numbers accepted for numeric choices), else ``default``
    when absent."""
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or value not in allowed:
        raise ValidationError(f"Invalid {name}: must be one of {', '.join(allowed)}")
    return value


def parse_create_request(
    body: Any,
    *,
    allowed_seconds: Sequence[str],
    allowed_sizes: Sequence[str],
    default_seconds: str,
    default_size: str,
) -> CreateRequest:
    """Validate a create-video body; fields other than prompt/seconds/size are ignored."""
    if not isinstance(body, dict):
        raise ValidationError("Invalid request: body must be a JSON object")
    return CreateRequest(
        prompt=validate_prompt(body.get("prompt")),
        seconds=validate_choice("seconds", body.get("seconds"), allowed_seconds, default_seconds),
        size=validate_choice("size", body.get("size"), allowed_sizes, default_size),
    )


def validate_job_id(value: Any) -> str:
    """``value`` if it is a dreamweb job id (``video_`` + letters/digits, 10–50 characters)."""
    if not is_job_id(value):
        raise ValidationError(
            "Invalid job ID: must be 'video_' followed by letters or digits, 10-50 characters"
        )
    return value


def validate_idempotency_key(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header if usable: 1–255 visible ASCII characters."""
    if value is None:
        return None
    if not 0 < len(value) <= IDEMPOTENCY_KEY_MAX or not all(33 <= ord(c) <= 126 for c in value):
        raise ValidationError("Invalid Idempotency-Key: must be 1-255 visible ASCII characters")
    return value
