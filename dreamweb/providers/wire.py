"""Lenient coercions shared by every provider's wire parsing: upstream JSON is never trusted."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def finite_float(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (booleans, junk, NaN and infinities)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def clamped_progress(value: Any) -> int:
    """A percentage in 0..100; anything unreadable is 0."""
    number = finite_float(value)
    return 0 if number is None else int(min(max(number, 0.0), 100.0))


def optional_int(value: Any) -> int | None:
    """An int, or ``None`` when ``value`` is not a number."""
    number = finite_float(value)
    return None if number is None else int(number)


def optional_str(value: Any) -> str | None:
    """A scalar as text; ``None`` for null and for objects or lists."""
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def error_fields(error: Any) -> tuple[str | None, str | None]:
    """``(code, message)`` from an ``error`` value that may be an object, a string or null."""
    if isinstance(error, Mapping):
        return optional_str(error.get("code")), optional_str(error.get("message"))
    if isinstance(error, str) and error:
        return None, error
    return None, None
