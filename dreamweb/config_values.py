"""Parsers for configuration values: each turns one raw environment value into a typed one.

Each raises ``ValueError`` with a message naming the problem (never the value: it may be a
secret); ``dreamweb.config`` adds the variable's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from limits import parse_many

from dreamweb.webhooks.signing import parse_secret

SIZE_PATTERN = re.compile(r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")


def stripped_text(value: Any) -> str:
    return str(value).strip()


def optional_text(value: Any) -> str | None:
    text = stripped_text(value) if value is not None else ""
    return text or None


def integer(minimum: int, maximum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not minimum <= number <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}")
        return number

    return parse


def number(minimum: float, maximum: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise ValueError("must be a number") from None
        if not minimum <= number <= maximum:
            raise ValueError(f"must be between {minimum:g} and {maximum:g}")
        return number

    return parse


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("must be true or false")


def choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = stripped_text(value).lower()
        if text not in choices:
            raise ValueError("must be one of " + ", ".join(choices))
        return text

    return parse


def comma_list(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    cleaned = [str(item).strip() for item in items if str(item).strip()]
    return cleaned


def seconds_list(value: Any) -> list[str]:
    items = comma_list(value)
    if not items or not all(item.isdigit() and int(item) > 0 for item in items):
        raise ValueError("must be a comma-separated list of whole seconds, like 4,8,12")
    return items


def sizes_list(value: Any) -> list[str]:
    items = comma_list(value)
    if not items or not all(SIZE_PATTERN.match(item) for item in items):
        raise ValueError("must be a comma-separated list of WxH sizes, like 1280x720,720x1280")
    return items


def seconds(value: Any) -> str:
    text = stripped_text(value)
    if not text.isdigit() or int(text) <= 0:
        raise ValueError("must be a whole number of seconds, like 8")
    return text


def size(value: Any) -> str:
    text = stripped_text(value)
    if not SIZE_PATTERN.match(text):
        raise ValueError("must be WIDTHxHEIGHT, like 1280x720")
    return text


def http_url(value: Any) -> str:
    text = stripped_text(value).rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an http(s) URL, like https://api.openai.com/v1")
    return text


def optional_http_url(value: Any) -> str | None:
    return None if optional_text(value) is None else http_url(value)


def gs_url(value: Any) -> str | None:
    text = optional_text(value)
    if text is None:
        return None
    parts = urlsplit(text)
    if parts.scheme != "gs" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("must be gs://bucket[/prefix]")
    return text.rstrip("/")


def storage_url(value: Any) -> str | None:
    text = optional_text(value)
    if text is None:
        return None
    parts = urlsplit(text)
    if parts.scheme == "gs" and parts.netloc:
        return text
    if parts.scheme == "file" and parts.netloc in {"", "localhost"} and parts.path.startswith("/"):
        return text
    raise ValueError("must be gs://bucket[/prefix] or file:///absolute/path")


def emulator_host(value: Any) -> str | None:
    text = optional_text(value)
    if text is not None and urlsplit(text).scheme not in {"http", "https"}:
        raise ValueError("must include the scheme, like http://127.0.0.1:4443")
    return text


def origins(value: Any) -> list[str]:
    origins = comma_list(value)
    for origin in origins:
        parts = urlsplit(origin)
        if origin != "*" and (parts.scheme not in {"http", "https"} or not parts.netloc):
            raise ValueError("must be a comma-separated list of origins like https://example.com")
    return origins


def rate_limit(value: Any) -> str:
    # Parsed by ``limits`` itself (what flask-limiter will use), so anything accepted here works.
    text = stripped_text(value)
    try:
        if not parse_many(text):
            raise ValueError
    except ValueError:
        raise ValueError("must be a rate like '5/minute;50/day'") from None
    return text


def redis_url(value: Any) -> str | None:
    text = optional_text(value)
    if text is not None and urlsplit(text).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return text


def webhook_secret(value: Any) -> str | None:
    text = optional_text(value)
    return parse_secret(text) if text else None


def host_list(value: Any) -> list[str]:
    return [host.lower() for host in comma_list(value)]
