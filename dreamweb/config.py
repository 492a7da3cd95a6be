"""Configuration: the one module that reads the environment.

Every setting dreamweb understands is declared in ``SETTINGS`` with its default and its parser.
``load_settings`` turns an environment-like mapping into typed Flask config values and raises
``ConfigError`` naming the variable and the problem (never the value: it may be a secret).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from limits import parse_many

from dreamweb.api_tokens import parse_api_tokens
from dreamweb.errors import ConfigError
from dreamweb.providers import PROVIDERS, capabilities_for, check_settings, default_model
from dreamweb.webhooks.signing import parse_secret

OPENAI_HOST = "api.openai.com"
ENVIRONMENTS = ("production", "development", "demo")
SIZE_PATTERN = re.compile(r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")
DEFAULT_PROMPT_TEMPLATE = (
    "A cinematic dream sequence: {prompt}. Soft, surreal lighting, fluid camera movement, "
    "dreamlike atmosphere."
)


def _text(value: Any) -> str:
    return str(value).strip()


def _optional_text(value: Any) -> str | None:
    text = _text(value) if value is not None else ""
    return text or None


def _integer(minimum: int, maximum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not minimum <= number <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}")
        return number

    return parse


def _number(minimum: float, maximum: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise ValueError("must be a number") from None
        if not minimum <= number <= maximum:
            raise ValueError(f"must be between {minimum:g} and {maximum:g}")
        return number

    return parse


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("must be true or false")


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _text(value).lower()
        if text not in choices:
            raise ValueError("must be one of " + ", ".join(choices))
        return text

    return parse


def _comma_list(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    cleaned = [str(item).strip() for item in items if str(item).strip()]
    return cleaned


def _seconds_list(value: Any) -> list[str]:
    items = _comma_list(value)
    if not items or not all(item.isdigit() and int(item) > 0 for item in items):
        raise ValueError("must be a comma-separated list of whole seconds, like 4,8,12")
    return items


def _sizes_list(value: Any) -> list[str]:
    items = _comma_list(value)
    if not items or not all(SIZE_PATTERN.match(item) for item in items):
        raise ValueError("must be a comma-separated list of WxH sizes, like 1280x720,720x1280")
    return items


def _seconds(value: Any) -> str:
    text = _text(value)
    if not text.isdigit() or int(text) <= 0:
        raise ValueError("must be a whole number of seconds, like 8")
    return text


def _size(value: Any) -> str:
    text = _text(value)
    if not SIZE_PATTERN.match(text):
        raise ValueError("must be WIDTHxHEIGHT, like 1280x720")
    return text


def _http_url(value: Any) -> str:
    text = _text(value).rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an http(s) URL, like https://api.openai.com/v1")
    return text


def _optional_http_url(value: Any) -> str | None:
    return None if _optional_text(value) is None else _http_url(value)


def _gs_url(value: Any) -> str | None:
    text = _optional_text(value)
    if text is None:
        return None
    parts = urlsplit(text)
    if parts.scheme != "gs" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("must be gs://bucket[/prefix]")
    return text.rstrip("/")


def _storage_url(value: Any) -> str | None:
    text = _optional_text(value)
    if text is None:
        return None
    parts = urlsplit(text)
    if parts.scheme == "gs" and parts.netloc:
        return text
    if parts.scheme == "file" and parts.netloc in {"", "localhost"} and parts.path.startswith("/"):
        return text
    raise ValueError("must be gs://bucket[/prefix] or file:///absolute/path")


def _emulator_host(value: Any) -> str | None:
    text = _optional_text(value)
    if text is not None and urlsplit(text).scheme not in {"http", "https"}:
        raise ValueError("must include the scheme, like http://127.0.0.1:4443")
    return text


def _origins(value: Any) -> list[str]:
    origins = _comma_list(value)
    for origin in origins:
        parts = urlsplit(origin)
        if origin != "*" and (parts.scheme not in {"http", "https"} or not parts.netloc):
            raise ValueError("must be a comma-separated list of origins like https://example.com")
    return origins


def _rate_limit(value: Any) -> str:
    # Parsed by ``limits`` itself (what flask-limiter will use), so anything accepted here works.
    text = _text(value)
    try:
        if not parse_many(text):
            raise ValueError
    except ValueError:
        raise ValueError("must be a rate like '5/minute;50/day'") from None
    return text


def _redis_url(value: Any) -> str | None:
    text = _optional_text(value)
    if text is not None and urlsplit(text).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return text


def _webhook_secret(value: Any) -> str | None:
    text = _optional_text(value)
    return parse_secret(text) if text else None


def _host_list(value: Any) -> list[str]:
    return [host.lower() for host in _comma_list(value)]


@dataclass(frozen=True)
class Setting:
    """One environment variable: its default (``None``: unset) and how to parse it."""

    default: Any
    parse: Callable[[Any], Any]


SETTINGS: dict[str, Setting] = {
    "DREAMWEB_ENV": Setting("production", _choice(*ENVIRONMENTS)),
    "VIDEO_PROVIDER": Setting("openai-videos", _choice(*PROVIDERS)),
    "OPENAI_API_KEY": Setting(None, _optional_text),
    "OPENAI_BASE_URL": Setting("https://api.openai.com/v1", _http_url),
    "VERTEX_PROJECT": Setting(None, _optional_text),  # default: the credentials' project
    "VERTEX_LOCATION": Setting("us-central1", _text),
    "VERTEX_BASE_URL": Setting(None, _optional_http_url),  # default: the regional endpoint
    "VERTEX_OUTPUT_URI": Setting(None, _gs_url),  # default: the gs:// STORAGE_URL
    "OPENROUTER_API_KEY": Setting(None, _optional_text),
    "OPENROUTER_BASE_URL": Setting("https://openrouter.ai/api/v1", _http_url),
    "PUBLIC_URL": Setting(None, _optional_http_url),
    # OpenRouter webhooks: on when this and PUBLIC_URL are set (VIDEO_PROVIDER=openrouter).
    "OPENROUTER_WEBHOOK_SECRET": Setting(None, _optional_text),
    # The video choices default to what the chosen provider and model can render.
    "VIDEO_MODEL": Setting(None, _optional_text),
    "VIDEO_SECONDS": Setting(None, _seconds),
    "VIDEO_SIZE": Setting(None, _size),
    "VIDEO_ALLOWED_SECONDS": Setting(None, _seconds_list),
    "VIDEO_ALLOWED_SIZES": Setting(None, _sizes_list),
    "VIDEO_GENERATE_AUDIO": Setting("true", _boolean),
    "VIDEO_DELIVERY": Setting("proxy", _choice("proxy", "signed-url")),
    "SIGNED_URL_SECONDS": Setting("900", _integer(60, 7 * 24 * 3600)),
    "PROMPT_TEMPLATE": Setting(DEFAULT_PROMPT_TEMPLATE, _text),
    "STORAGE_URL": Setting(None, _storage_url),
    "STORAGE_EMULATOR_HOST": Setting(None, _emulator_host),
    "GCS_CREDENTIALS_JSON": Setting(None, _optional_text),
    "GCS_PROJECT": Setting(None, _optional_text),
    "SECRET_KEY": Setting(None, _optional_text),
    "LOG_FORMAT": Setting(None, _choice("json", "text")),
    "LOG_LEVEL": Setting("INFO", _choice("debug", "info", "warning", "error")),
    "STATUS_TTL_SECONDS": Setting("5", _number(0, 3600)),
    "POLL_INTERVAL_SECONDS": Setting("3", _integer(1, 60)),
    "PROVIDER_CONNECT_TIMEOUT": Setting("5", _number(0.1, 120)),
    # Request threads wait on the provider: keep the worst case (read timeout, retries and
    # backoff, all inside the deadline) under the 30 s that platform routers allow a request.
    "PROVIDER_READ_TIMEOUT": Setting("10", _number(0.1, 600)),
    "PROVIDER_MAX_RETRIES": Setting("2", _integer(0, 10)),
    "PROVIDER_RETRY_DEADLINE": Setting("20", _number(0.1, 600)),
    # Per process: provider calls in flight at once, and the circuit breaker around them.
    "PROVIDER_MAX_CONCURRENCY": Setting("8", _integer(1, 1000)),
    "BREAKER_FAILURES": Setting("5", _integer(1, 1000)),
    "BREAKER_RESET_SECONDS": Setting("30", _number(0.1, 3600)),
    # The sweeper: jobs advanced at once, and how long it waits for one before moving on.
    "SWEEP_CONCURRENCY": Setting("4", _integer(1, 64)),
    "SWEEP_JOB_DEADLINE": Setting("30", _number(0.1, 3600)),
    "INGEST_LEASE_SECONDS": Setting("300", _integer(5, 3600)),
    "INGEST_ATTEMPTS": Setting("3", _integer(1, 10)),
    "MAX_CONTENT_LENGTH": Setting("16384", _integer(1024, 10 * 1024 * 1024)),
    "RATELIMIT_CREATE": Setting("5/minute;50/day", _rate_limit),
    "RATELIMIT_READ": Setting("600/minute", _rate_limit),
    # Unset: REDIS_URL (below) when set, else memory:// (see dreamweb.ratelimits). Both may
    # hold a password, so neither appears in messages.
    "RATELIMIT_STORAGE_URI": Setting(None, _optional_text),
    "RATELIMIT_ENABLED": Setting("true", _boolean),
    # 0: nothing in front, X-Forwarded-* are ignored (anyone can send them). Heroku: 1.
    "TRUSTED_PROXY_HOPS": Setting("0", _integer(0, 10)),
    # Set by the platform (and read by gunicorn): worker processes per dyno.
    "WEB_CONCURRENCY": Setting("1", _integer(1, 1024)),
    "CORS_ORIGINS": Setting("", _origins),
    "SESSION_COOKIE_SECURE": Setting(None, _boolean),
    # The history lives in the signed session cookie: past ~140 ids it passes 4 KB.
    "HISTORY_SIZE": Setting("20", _integer(1, 100)),
    # --- spend and ownership (issue 11) ---
    "DAILY_VIDEO_SECONDS_BUDGET": Setting(None, _integer(1, 10**9)),
    "DAILY_VIDEO_SECONDS_PER_CLIENT": Setting(None, _integer(1, 10**9)),
    "REDIS_URL": Setting(None, _redis_url),
    "API_TOKENS": Setting(None, parse_api_tokens),
    "MAX_VIDEO_BYTES": Setting(str(1024**3), _integer(1024, 1024**4)),
    # Completion webhooks (dreamweb.webhooks).
    "WEBHOOK_SECRET": Setting(None, _webhook_secret),
    "WEBHOOK_ALLOWED_HOSTS": Setting("", _host_list),
    "WEBHOOK_ALLOW_PRIVATE_HOSTS": Setting("false", _boolean),
    "WEBHOOK_TIMEOUT_SECONDS": Setting("5", _number(0.1, 30)),
    "WEBHOOK_RETRY_FIRST_SECONDS": Setting("30", _number(0.01, 3600)),
    "WEBHOOK_MAX_ATTEMPTS": Setting("10", _integer(1, 30)),
}
# Settings whose values are secrets: documented as such, never given a value in app.json.
SECRETS = frozenset(
    {"OPENAI_API_KEY", "OPENROUTER_API_KEY", "GCS_CREDENTIALS_JSON", "SECRET_KEY"}
    | {"REDIS_URL", "API_TOKENS", "OPENROUTER_WEBHOOK_SECRET", "WEBHOOK_SECRET"}
)


def load_settings(environ: Mapping[str, Any]) -> dict[str, Any]:
    """Parse every known setting from ``environ`` into typed values.

    Raises ``ConfigError`` for the first invalid or missing variable. No value appears in the
    message (any of them may be a secret).
    """
    settings: dict[str, Any] = {}
    for name, setting in SETTINGS.items():
        raw = environ.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raw = setting.default
        if raw is None:
            settings[name] = None
            continue
        try:
            settings[name] = setting.parse(raw)
        except ValueError as error:
            raise ConfigError(name, str(error)) from None
    _check_consistency(settings)
    return settings


def _check_consistency(settings: dict[str, Any]) -> None:
    """Rules that involve more than one variable."""
    key = settings["OPENAI_API_KEY"]
    if (
        key
        and urlsplit(settings["OPENAI_BASE_URL"]).hostname == OPENAI_HOST
        and not key.startswith("sk-")
    ):
        raise ConfigError("OPENAI_API_KEY", "must start with 'sk-' for OpenAI's own API")
    _resolve_video_choices(settings)
    if "{prompt}" not in settings["PROMPT_TEMPLATE"]:
        raise ConfigError("PROMPT_TEMPLATE", "must contain the placeholder {prompt}")
    if not settings["SECRET_KEY"]:
        if settings["DREAMWEB_ENV"] == "production":
            raise ConfigError(
                "SECRET_KEY", "is required in production (DREAMWEB_ENV=development has a default)"
            )
        # Random per boot: a constant in the source would sign cookies anyone could forge.
        settings["SECRET_KEY"] = secrets.token_hex(32)
    gcs = (settings["STORAGE_URL"] or "").startswith("gs://")
    if settings["VIDEO_DELIVERY"] == "signed-url" and not gcs:
        raise ConfigError("VIDEO_DELIVERY", "signed-url needs a gs:// STORAGE_URL")
    if settings["LOG_FORMAT"] is None:
        # Production (web, worker and release alike) and anything under gunicorn log JSON lines.
        under_gunicorn = "gunicorn" in os.environ.get("SERVER_SOFTWARE", "")
        production = settings["DREAMWEB_ENV"] == "production"
        settings["LOG_FORMAT"] = "json" if under_gunicorn or production else "text"
    if "*" in settings["CORS_ORIGINS"] and not settings["API_TOKENS"]:
        # Any site could make its visitors' browsers spend this server's budget.
        raise ConfigError("CORS_ORIGINS", "may be * only when API_TOKENS is set")
    if settings["WEBHOOK_ALLOW_PRIVATE_HOSTS"] and settings["DREAMWEB_ENV"] == "production":
        raise ConfigError(
            "WEBHOOK_ALLOW_PRIVATE_HOSTS", "must not be true in production (tests only: unsafe)"
        )
    if settings["SESSION_COOKIE_SECURE"] is None:
        settings["SESSION_COOKIE_SECURE"] = settings["DREAMWEB_ENV"] == "production"


def _resolve_video_choices(settings: dict[str, Any]) -> None:
    """Model, lengths and sizes: defaults from the provider's capabilities, choices within them.

    Sets ``VIDEO_CAPABILITIES`` (the provider's ``Capabilities``) for the form, the validator
    and the OpenAPI document; a value the model cannot render is a one-line ``ConfigError``.
    """
    settings["VIDEO_MODEL"] = settings["VIDEO_MODEL"] or default_model(settings)
    check_settings(settings)
    capabilities = capabilities_for(settings)
    settings["VIDEO_CAPABILITIES"] = capabilities
    offer = f"what {capabilities.model} on {capabilities.provider} renders"
    for name, offered in (
        ("VIDEO_ALLOWED_SECONDS", capabilities.seconds),
        ("VIDEO_ALLOWED_SIZES", capabilities.sizes),
    ):
        chosen = settings[name]
        if chosen is None:
            settings[name] = list(offered)
        elif capabilities.enforced and not set(chosen) <= set(offered):
            raise ConfigError(name, f"must list only {', '.join(offered)} ({offer})")
    for name, allowed, preferred in (
        ("VIDEO_SECONDS", settings["VIDEO_ALLOWED_SECONDS"], capabilities.default_seconds),
        ("VIDEO_SIZE", settings["VIDEO_ALLOWED_SIZES"], capabilities.default_size),
    ):
        if settings[name] is None:
            settings[name] = preferred if preferred in allowed else allowed[0]
        elif settings[name] not in allowed:
            raise ConfigError(name, f"must be one of {', '.join(allowed)}")


def settings_from_environment() -> dict[str, Any]:
    """The process environment as typed settings (the only read of ``os.environ``)."""
    return load_settings(os.environ)
