"""Validation of everything a client sends, before any upstream call.

Pure functions: they take plain values and either return the cleaned value or raise
``ValidationError`` with the message the client will read.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dreamweb.errors import ValidationError
from dreamweb.storage.layout import is_job_id

PROMPT_MIN, PROMPT_MAX = 10, 500
IDEMPOTENCY_KEY_MAX = 255
CALLBACK_URL_MAX = 2048
_WHITESPACE_RUN = re.compile(r"\s+")
# Control (Cc) and invisible format (Cf: zero-width, bidi overrides, BOM) characters, plus
# private-use and surrogate code points, never reach the provider. Unassigned code points (Cn)
# pass: they are neither controls nor formatting, a newer Unicode may assign them, and leaving
# them out keeps the rule small enough to state in the OpenAPI document (``prompt_pattern``).
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})


@dataclass(frozen=True)
class CreateRequest:
    """A validated create-video request."""

    prompt: str
    seconds: str
    size: str
    callback_url: str | None = None


def sanitize_prompt(text: str) -> str:
    """NFC-normalize, turn whitespace controls into spaces, drop other control and invisible
    format characters, collapse whitespace runs and trim."""
    return _clean(unicodedata.normalize("NFC", text))


def _clean(text: str) -> str:
    text = "".join(
        " " if char.isspace() else char
        for char in text
        if char.isspace() or unicodedata.category(char) not in _DROPPED_CATEGORIES
    )
    return _WHITESPACE_RUN.sub(" ", text).strip()


def counted_length(text: str) -> int:
    """The length the prompt's minimum applies to: ``text`` cleaned like ``sanitize_prompt``
    but before NFC composition (so that ``prompt_pattern`` can state the rule exactly)."""
    return len(_clean(text))


def _is_dropped(char: str) -> bool:
    return not char.isspace() and unicodedata.category(char) in _DROPPED_CATEGORIES


def _class_body(predicate: Callable[[str], bool]) -> str:
    """Regex character-class ranges of every code point matching ``predicate``."""
    ranges, start = [], None
    for point in range(0x110001):
        inside = point <= 0x10FFFF and not 0xD800 <= point <= 0xDFFF and predicate(chr(point))
        if inside and start is None:
            start = point
        elif not inside and start is not None:
            ranges.append((start, point - 1))
            start = None
    return "".join(
        _class_char(low) if low == high else f"{_class_char(low)}-{_class_char(high)}"
        for low, high in ranges
    )


def _class_char(point: int) -> str:
    # BMP as \uXXXX (ECMA-262 and Python agree); beyond it the character itself.
    return f"\\u{point:04x}" if point <= 0xFFFF else chr(point)


@functools.cache
def prompt_pattern() -> str:
    """A regular expression that matches exactly the prompts long enough for ``validate_prompt``
    (``counted_length >= PROMPT_MIN``), for the OpenAPI document. Built from this Python's
    Unicode database, the same one the sanitizer uses.

    Kept characters count one each; a run of whitespace (with dropped characters in it) counts
    one when a kept character follows it (runs collapse to a space, the ends are trimmed);
    dropped characters count nothing.
    """
    dropped_ranges, space_ranges = _class_body(_is_dropped), _class_body(str.isspace)
    space, dropped = f"[{space_ranges}]", f"[{dropped_ranges}]"
    kept = f"[^{dropped_ranges}{space_ranges}]"
    skip = f"(?:{space}|{dropped})"
    token = f"(?:{kept}{dropped}*|{space}{skip}*(?={kept}))"
    # The tail changes nothing a search matches, but lets a generator that full-matches the
    # pattern (Schemathesis' coverage phase) draw a prompt without rejecting most attempts.
    return f"^{skip}*{kept}{dropped}*{token}{{{PROMPT_MIN - 1}}}[\\s\\S]*$"


def prompt_length_problem(text: str) -> tuple[str, int] | None:
    """Which bound of the one prompt rule ``text`` breaks, with the length that bound counts:
    ``("max", characters as sent)``, ``("min", characters left once cleaned)``, or ``None``.

    The upper bound applies to the text as sent (so the OpenAPI ``maxLength`` is exact: a
    bound on the sanitized text could not be stated in a schema, since sanitizing shrinks it);
    the lower bound to what is left after sanitizing (``counted_length``: fewer than
    ``PROMPT_MIN`` characters sent can never pass, hence ``minLength``, and ``prompt_pattern``
    states the rest). The web form's messages and its live counter count the same way.
    """
    if len(text) > PROMPT_MAX:
        return "max", len(text)
    counted = counted_length(text)
    if counted < PROMPT_MIN:
        return "min", counted
    return None


def validate_prompt(value: Any) -> str:
    """The sanitized prompt, or ``ValidationError`` (lengths: ``prompt_length_problem``)."""
    if value is None:
        raise ValidationError("Invalid prompt: prompt is required", code="invalid_prompt")
    if not isinstance(value, str):
        raise ValidationError("Invalid prompt: must be a string", code="invalid_prompt")
    prompt = sanitize_prompt(value)
    if not prompt:
        raise ValidationError(
            "Invalid prompt: must not be empty or only whitespace", code="invalid_prompt"
        )
    if prompt_length_problem(value) is not None:
        raise ValidationError(
            f"Invalid prompt: must be between {PROMPT_MIN} and {PROMPT_MAX} characters",
            code="invalid_prompt",
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
        raise ValidationError(
            f"Invalid {name}: must be one of {', '.join(allowed)}", code=f"invalid_{name}"
        )
    return value


def body_choice(body: dict[str, Any], name: str, allowed: Sequence[str], default: str) -> str:
    """``body[name]`` by ``validate_choice``; an explicit ``null`` is refused, not defaulted
    (the OpenAPI document says the field is a string or number, never null)."""
    if name in body and body[name] is None:
        validate_choice(name, "", allowed, default)  # raises the field's usual message
    return validate_choice(name, body.get(name), allowed, default)


def validate_callback_field(body: dict[str, Any]) -> str | None:
    """The ``callbackUrl`` string if one was sent (its address is checked by the webhooks
    module, which needs the network and the configuration)."""
    if "callbackUrl" not in body:
        return None
    value = body["callbackUrl"]
    if not isinstance(value, str) or not 0 < len(value) <= CALLBACK_URL_MAX:
        raise ValidationError(
            f"Invalid callbackUrl: must be a URL of at most {CALLBACK_URL_MAX} characters",
            code="invalid_callback_url",
        )
    return value


def parse_create_request(
    body: Any,
    *,
    allowed_seconds: Sequence[str],
    allowed_sizes: Sequence[str],
    default_seconds: str,
    default_size: str,
) -> CreateRequest:
    """Validate a create-video body; fields other than prompt/seconds/size/callbackUrl are
    ignored."""
    if not isinstance(body, dict):
        raise ValidationError("Invalid request: body must be a JSON object")
    return CreateRequest(
        prompt=validate_prompt(body.get("prompt")),
        seconds=body_choice(body, "seconds", allowed_seconds, default_seconds),
        size=body_choice(body, "size", allowed_sizes, default_size),
        callback_url=validate_callback_field(body),
    )


def validate_job_id(value: Any) -> str:
    """``value`` if it is a dreamweb job id (``video_`` + letters/digits, 10–50 characters)."""
    if not is_job_id(value):
        raise ValidationError(
            "Invalid job ID: must be 'video_' followed by letters or digits, 10-50 characters",
            code="invalid_job_id",
        )
    return value


def validate_idempotency_key(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header if usable: 1–255 visible ASCII characters."""
    if value is None:
        return None
    if not 0 < len(value) <= IDEMPOTENCY_KEY_MAX or not all(33 <= ord(c) <= 126 for c in value):
        raise ValidationError(
            "Invalid Idempotency-Key: must be 1-255 visible ASCII characters",
            code="invalid_idempotency_key",
        )
    return value
