"""Shared fixtures: the app wired to the simulator and a store, and its test client."""

from __future__ import annotations

import pytest

from dreamweb import create_app

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.gcs",
    "tests.fixtures.browser",
    "tests.fixtures.scripted",
    "tests.fixtures.redis",
]


@pytest.fixture
def app_config(tmp_path, simulator_url):
    """Config for an app that talks to the simulator and stores on local disk."""
    return {
        "TESTING": True,
        "DREAMWEB_ENV": "development",
        "SECRET_KEY": "test-secret",
        "OPENAI_API_KEY": "sim-test-key",
        "OPENAI_BASE_URL": simulator_url,
        "STORAGE_URL": (tmp_path / "store").as_uri(),
        "LOG_FORMAT": "text",
        "RATELIMIT_ENABLED": "false",
        "PROVIDER_MAX_RETRIES": "1",
        "PROVIDER_RETRY_DEADLINE": "5",
        "PROVIDER_READ_TIMEOUT": "5",
    }


@pytest.fixture
def app(app_config):
    """A dreamweb app for one test."""
    return create_app(app_config)


@pytest.fixture
def client(app):
    """Flask's test client for ``app``."""
    return app.test_client()
