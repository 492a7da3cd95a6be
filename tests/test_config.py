"""Configuration: parsing, defaults, and the one-line startup failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dreamweb import create_app
from dreamweb.config import load_settings
from dreamweb.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEV = {"DREAMWEB_ENV": "development"}


def test_defaults_match_the_documented_table():
    settings = load_settings(DEV)
    assert settings["OPENAI_BASE_URL"] == "https://api.openai.com/v1"
    assert settings["VIDEO_MODEL"] == "sora-2"
    assert settings["VIDEO_SECONDS"] == "8"
    assert settings["VIDEO_SIZE"] == "1280x720"
    assert settings["VIDEO_ALLOWED_SECONDS"] == ["4", "8", "12"]
    assert settings["VIDEO_ALLOWED_SIZES"] == ["1280x720", "720x1280"]
    assert settings["OPENAI_API_KEY"] is None
    assert settings["STORAGE_URL"] is None
    assert settings["LOG_FORMAT"] == "text"
    assert len(settings["SECRET_KEY"]) == 64, "random per boot outside production"
    assert load_settings({"SECRET_KEY": "s"})["LOG_FORMAT"] == "json", "production logs JSON"


def test_lists_and_numbers_are_parsed():
    settings = load_settings(
        {
            **DEV,
            "VIDEO_ALLOWED_SECONDS": " 4, 12 ",
            "VIDEO_SECONDS": "12",
            "STATUS_TTL_SECONDS": "2.5",
        }
    )
    assert settings["VIDEO_ALLOWED_SECONDS"] == ["4", "12"]
    assert settings["STATUS_TTL_SECONDS"] == 2.5


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"OPENAI_BASE_URL": "ftp://example.com"}, "OPENAI_BASE_URL"),
        ({"OPENAI_API_KEY": "abc123"}, "OPENAI_API_KEY"),
        ({"VIDEO_SECONDS": "10"}, "VIDEO_SECONDS"),
        ({"VIDEO_SECONDS": "ten"}, "VIDEO_SECONDS"),
        ({"VIDEO_SIZE": "big"}, "VIDEO_SIZE"),
        ({"VIDEO_ALLOWED_SIZES": "1280x720,huge"}, "VIDEO_ALLOWED_SIZES"),
        ({"STORAGE_URL": "s3://bucket"}, "STORAGE_URL"),
        ({"STORAGE_URL": "file://relative/path"}, "STORAGE_URL"),
        ({"STORAGE_EMULATOR_HOST": "127.0.0.1:4443"}, "STORAGE_EMULATOR_HOST"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"STATUS_TTL_SECONDS": "-1"}, "STATUS_TTL_SECONDS"),
        ({"PROMPT_TEMPLATE": "no placeholder"}, "PROMPT_TEMPLATE"),
        ({"VIDEO_DELIVERY": "signed-url"}, "VIDEO_DELIVERY"),
        ({"RATELIMIT_CREATE": "lots"}, "RATELIMIT_CREATE"),
        ({"RATELIMIT_READ": "5/fortnight"}, "RATELIMIT_READ"),
        ({"CORS_ORIGINS": "example.com"}, "CORS_ORIGINS"),
        ({"HISTORY_SIZE": "101"}, "HISTORY_SIZE"),
    ],
)
def test_invalid_values_name_the_variable(environ, variable):
    with pytest.raises(ConfigError) as caught:
        load_settings({**DEV, **environ})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)


def test_openai_key_rule_applies_only_to_openai_itself():
    settings = load_settings(
        {**DEV, "OPENAI_API_KEY": "gateway-key", "OPENAI_BASE_URL": "https://gw.example/v1"}
    )
    assert settings["OPENAI_API_KEY"] == "gateway-key"


def test_secret_key_is_required_in_production():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings({})
    assert load_settings({"SECRET_KEY": "s3cret"})["SESSION_COOKIE_SECURE"] is True


def test_error_message_never_contains_the_secret_value():
    with pytest.raises(ConfigError) as caught:
        load_settings({**DEV, "OPENAI_API_KEY": "not-a-sk-key-VERYSECRET"})
    assert "VERYSECRET" not in str(caught.value)


def test_factory_stops_with_one_line(capsys):
    with pytest.raises(SystemExit) as caught:
        create_app({**DEV, "VIDEO_SIZE": "wide"})
    assert caught.value.code == 4, "gunicorn's 'app failed to load' status"
    assert capsys.readouterr().err == (
        "dreamweb: configuration error: VIDEO_SIZE must be WIDTHxHEIGHT, like 1280x720\n"
    )


def _start(environ: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in _KNOWN}
    env.update(environ)
    return subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


_KNOWN = {"OPENAI_API_KEY", "SECRET_KEY", "DREAMWEB_ENV", "STORAGE_URL", "VIDEO_SIZE"}


def test_missing_secret_key_stops_the_process():
    result = _start({"DREAMWEB_ENV": "production"})
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "dreamweb: configuration error: SECRET_KEY is required in production "
        "(DREAMWEB_ENV=development has a default)"
    ]


def test_bad_configuration_stops_the_process_with_one_line_and_no_traceback():
    result = _start({"DREAMWEB_ENV": "production", "OPENAI_API_KEY": "oops-SECRETVALUE"})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "dreamweb: configuration error: OPENAI_API_KEY must start with 'sk-' for OpenAI's own API"
    ]
    assert "Traceback" not in result.stderr
    assert "SECRETVALUE" not in result.stderr + result.stdout


def test_good_configuration_starts(tmp_path):
    result = _start({"SECRET_KEY": "x" * 32, "STORAGE_URL": tmp_path.as_uri()})
    assert result.returncode == 0, result.stderr
