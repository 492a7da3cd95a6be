"""Configuration: the one module that reads the environment.

Every setting dreamweb understands is declared in ``SETTINGS`` with its default and its parser.
``load_settings`` turns an environment-like mapping into typed Flask config values and raises
``ConfigError`` naming the variable and the problem (never the value: it may be a secret).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from dreamweb import config_values as values
from dreamweb.api_tokens import parse_api_tokens
from dreamweb.errors import ConfigError
from dreamweb.providers import PROVIDERS, capabilities_for, check_settings, default_model

OPENAI_HOST = "api.openai.com"
ENVIRONMENTS = ("production", "development", "demo")
DEFAULT_PROMPT_TEMPLATE = (
    "A cinematic dream sequence: {prompt}. Soft, surreal lighting, fluid camera movement, "
    "dreamlike atmosphere."
)


@dataclass(frozen=True)
class Setting:
    """One environment variable: its default (``None``: unset) and how to parse it."""

    default: Any
    parse: Callable[[Any], Any]


SETTINGS: dict[str, Setting] = {
    "DREAMWEB_ENV": Setting("production", values.choice(*ENVIRONMENTS)),
    "VIDEO_PROVIDER": Setting("openai-videos", values.choice(*PROVIDERS)),
    "OPENAI_API_KEY": Setting(None, values.optional_text),
    "OPENAI_BASE_URL": Setting("https://api.openai.com/v1", values.http_url),
    "VERTEX_PROJECT": Setting(None, values.optional_text),  # default: the credentials' project
    "VERTEX_LOCATION": Setting("us-central1", values.stripped_text),
    "VERTEX_BASE_URL": Setting(None, values.optional_http_url),  # default: the regional endpoint
    "VERTEX_OUTPUT_URI": Setting(None, values.gs_url),  # default: the gs:// STORAGE_URL
    "OPENROUTER_API_KEY": Setting(None, values.optional_text),
    "OPENROUTER_BASE_URL": Setting("https://openrouter.ai/api/v1", values.http_url),
    "PUBLIC_URL": Setting(None, values.optional_http_url),
    # OpenRouter webhooks: on when this and PUBLIC_URL are set (VIDEO_PROVIDER=openrouter).
    "OPENROUTER_WEBHOOK_SECRET": Setting(None, values.optional_text),
    # The video choices default to what the chosen provider and model can render.
    "VIDEO_MODEL": Setting(None, values.optional_text),
    "VIDEO_SECONDS": Setting(None, values.seconds),
    "VIDEO_SIZE": Setting(None, values.size),
    "VIDEO_ALLOWED_SECONDS": Setting(None, values.seconds_list),
    "VIDEO_ALLOWED_SIZES": Setting(None, values.sizes_list),
    "VIDEO_GENERATE_AUDIO": Setting("true", values.boolean),
    "VIDEO_DELIVERY": Setting("proxy", values.choice("proxy", "signed-url")),
    "SIGNED_URL_SECONDS": Setting("900", values.integer(60, 7 * 24 * 3600)),
    "PROMPT_TEMPLATE": Setting(DEFAULT_PROMPT_TEMPLATE, values.stripped_text),
    "STORAGE_URL": Setting(None, values.storage_url),
    "STORAGE_EMULATOR_HOST": Setting(None, values.emulator_host),
    "GCS_CREDENTIALS_JSON": Setting(None, values.optional_text),
    "GCS_PROJECT": Setting(None, values.optional_text),
    "SECRET_KEY": Setting(None, values.optional_text),
    "LOG_FORMAT": Setting(None, values.choice("json", "text")),
    "LOG_LEVEL": Setting("INFO", values.choice("debug", "info", "warning", "error")),
    "STATUS_TTL_SECONDS": Setting("5", values.number(0, 3600)),
    "POLL_INTERVAL_SECONDS": Setting("3", values.integer(1, 60)),
    "PROVIDER_CONNECT_TIMEOUT": Setting("5", values.number(0.1, 120)),
    # Request threads wait on the provider: keep the worst case (read timeout, retries and
    # backoff, all inside the deadline) under the 30 s that platform routers allow a request.
    "PROVIDER_READ_TIMEOUT": Setting("10", values.number(0.1, 600)),
    "PROVIDER_MAX_RETRIES": Setting("2", values.integer(0, 10)),
    "PROVIDER_RETRY_DEADLINE": Setting("20", values.number(0.1, 600)),
    # Per process: provider calls in flight at once, and the circuit breaker around them.
    "PROVIDER_MAX_CONCURRENCY": Setting("8", values.integer(1, 1000)),
    "BREAKER_FAILURES": Setting("5", values.integer(1, 1000)),
    "BREAKER_RESET_SECONDS": Setting("30", values.number(0.1, 3600)),
    # The sweeper: jobs advanced at once, and how long it waits for one before moving on.
    "SWEEP_CONCURRENCY": Setting("4", values.integer(1, 64)),
    "SWEEP_JOB_DEADLINE": Setting("30", values.number(0.1, 3600)),
    "INGEST_LEASE_SECONDS": Setting("300", values.integer(5, 3600)),
    "INGEST_ATTEMPTS": Setting("3", values.integer(1, 10)),
    "MAX_CONTENT_LENGTH": Setting("16384", values.integer(1024, 10 * 1024 * 1024)),
    "RATELIMIT_CREATE": Setting("5/minute;50/day", values.rate_limit),
    "RATELIMIT_READ": Setting("600/minute", values.rate_limit),
    # Unset: REDIS_URL (below) when set, else memory:// (see dreamweb.ratelimits). Both may
    # hold a password, so neither appears in messages.
    "RATELIMIT_STORAGE_URI": Setting(None, values.optional_text),
    "RATELIMIT_ENABLED": Setting("true", values.boolean),
    # 0: nothing in front, X-Forwarded-* are ignored (anyone can send them). Heroku: 1.
    "TRUSTED_PROXY_HOPS": Setting("0", values.integer(0, 10)),
    # Set by the platform (and read by gunicorn): worker processes per dyno.
    "WEB_CONCURRENCY": Setting("1", values.integer(1, 1024)),
    "CORS_ORIGINS": Setting("", values.origins),
    "SESSION_COOKIE_SECURE": Setting(None, values.boolean),
    # The history lives in the signed session cookie: past ~140 ids it passes 4 KB.
    "HISTORY_SIZE": Setting("20", values.integer(1, 100)),
    # --- spend and ownership (issue 11) ---
    "DAILY_VIDEO_SECONDS_BUDGET": Setting(None, values.integer(1, 10**9)),
    "DAILY_VIDEO_SECONDS_PER_CLIENT": Setting(None, values.integer(1, 10**9)),
    "REDIS_URL": Setting(None, values.redis_url),
    "API_TOKENS": Setting(None, parse_api_tokens),
    "MAX_VIDEO_BYTES": Setting(str(1024**3), values.integer(1024, 1024**4)),
    # Completion webhooks (dreamweb.webhooks).
    "WEBHOOK_SECRET": Setting(None, values.webhook_secret),
    "WEBHOOK_ALLOWED_HOSTS": Setting("", values.host_list),
    "WEBHOOK_ALLOW_PRIVATE_HOSTS": Setting("false", values.boolean),
    "WEBHOOK_TIMEOUT_SECONDS": Setting("5", values.number(0.1, 30)),
    "WEBHOOK_RETRY_FIRST_SECONDS": Setting("30", values.number(0.01, 3600)),
    "WEBHOOK_MAX_ATTEMPTS": Setting("10", values.integer(1, 30)),
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
