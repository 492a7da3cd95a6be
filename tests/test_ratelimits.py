"""Rate-limit policy in one process: proxy trust, client identity, storage choice, warnings."""

from __future__ import annotations

import logging
import time

import pytest

from dreamweb import create_app
from dreamweb.config import load_settings
from dreamweb.extensions import limiter
from dreamweb.ratelimits import (
    MEMORY,
    LazyExpiryMemoryStorage,
    client_key,
    effective_limit,
    per_process_warning,
    storage_uri,
)

PROMPT = "A lighthouse that blinks in a forgotten language"


def limited_client(app_config, **settings):
    config = {**app_config, "RATELIMIT_ENABLED": "true", "RATELIMIT_CREATE": "2/minute"}
    return create_app({**config, **settings}).test_client()


def create(client, address="198.51.100.4", forwarded_for=None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post(
        "/api/create-video",
        json={"prompt": PROMPT},
        headers=headers,
        environ_base={"REMOTE_ADDR": address},
    ).status_code


def test_forged_forwarded_for_does_not_lift_the_limit_by_default(app_config, simulator):
    client = limited_client(app_config)
    codes = [create(client, forwarded_for=f"203.0.113.{n}") for n in range(5)]
    assert codes == [202, 202, 429, 429, 429]


def test_with_one_trusted_hop_the_last_hop_is_the_client(app_config, simulator):
    client = limited_client(app_config, TRUSTED_PROXY_HOPS="1")
    # What a router appends is the last entry; anything before it the client wrote itself.
    first = [create(client, forwarded_for=f"10.9.9.{n}, 203.0.113.7") for n in range(3)]
    assert first == [202, 202, 429]
    # The router's own address is not the client: another client behind it has its own budget.
    assert create(client, forwarded_for="203.0.113.8") == 202


def test_two_ipv6_addresses_in_one_64_share_a_limit(app_config, simulator):
    client = limited_client(app_config)
    assert create(client, "2001:db8:1:2::1") == 202
    assert create(client, "2001:db8:1:2:ffff:ffff:ffff:fffe") == 202
    assert create(client, "2001:db8:1:2::99") == 429
    assert create(client, "2001:db8:1:3::1") == 202, "the next /64 is someone else"


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("198.51.100.4", "198.51.100.4"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.4", "198.51.100.4"),
        ("not-an-address", "not-an-address"),
        ("", "unknown"),
    ],
)
def test_client_key(address, key):
    assert client_key(address) == key


@pytest.mark.parametrize(
    ("settings", "uri"),
    [
        ({}, MEMORY),
        ({"REDIS_URL": "redis://r:6379"}, "redis://r:6379"),
        ({"REDIS_URL": "redis://r:6379", "RATELIMIT_STORAGE_URI": "memory://"}, "memory://"),
    ],
)
def test_storage_choice(settings, uri):
    assert storage_uri(load_settings({"DREAMWEB_ENV": "development", **settings})) == uri


def test_effective_limit_multiplies_each_window():
    assert effective_limit("5/minute;50/day", 3) == "15/minute;150/day"
    assert effective_limit("30 per 2 hours", 2) == "60/2 hours"


PRODUCTION = {"DREAMWEB_ENV": "production", "SECRET_KEY": "s" * 32}


@pytest.mark.parametrize(
    ("extra", "warned"),
    [
        ({"WEB_CONCURRENCY": "3"}, True),
        ({"WEB_CONCURRENCY": "1"}, False),
        ({"WEB_CONCURRENCY": "3", "REDIS_URL": "redis://127.0.0.1:1"}, False),
        ({"WEB_CONCURRENCY": "3", "DREAMWEB_ENV": "development"}, False),
    ],
)
def test_per_process_limits_warning(extra, warned):
    warning = per_process_warning(load_settings({**PRODUCTION, **extra}))
    assert (warning is not None) == warned
    if warned:
        assert "5/minute;50/day is effectively 15/minute;150/day" in warning


def test_production_app_logs_the_warning_once_at_startup(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="dreamweb.ratelimits"):
        create_app(
            {
                **PRODUCTION,
                "WEB_CONCURRENCY": "2",
                "STORAGE_URL": tmp_path.as_uri(),
                "LOG_FORMAT": "text",
            }
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "dreamweb.ratelimits"]
    assert len(lines) == 1 and "effectively 10/minute;100/day" in lines[0]


def test_in_memory_counters_start_no_timer_per_hit_and_still_expire():
    storage = LazyExpiryMemoryStorage()
    first_timer = storage.timer
    for _ in range(50):
        storage.incr("stale", expiry=0.05)
    assert storage.get("stale") == 50
    assert storage.timer is first_timer, "no timer thread was started per hit"
    time.sleep(0.06)
    assert storage.get("stale") == 0, "a counter expires on read"
    storage.incr("stale-too", expiry=0.05)
    time.sleep(0.06)
    storage.last_sweep -= LazyExpiryMemoryStorage.SWEEP_SECONDS
    storage.incr("fresh", expiry=60)
    assert "stale-too" not in storage.storage, "stale keys are freed inline"


def test_the_app_counts_in_the_lazy_memory_storage_by_default(app_config, simulator):
    client = limited_client(app_config, RATELIMIT_CREATE="2/second")
    assert [create(client) for _ in range(3)] == [202, 202, 429]
    assert isinstance(limiter.storage, LazyExpiryMemoryStorage)
    time.sleep(1.1)
    assert create(client) == 202, "the window passed"


# --- the polled endpoints' short path (PollingLimiter) ------------------------------------


def poll(client, path="/api/video-status/video_unknownJob1"):
    return client.get(path, environ_base={"REMOTE_ADDR": "198.51.100.4"})


@pytest.fixture
def read_limited(app_config):
    return limited_client(app_config, RATELIMIT_READ="3/minute")


@pytest.fixture
def resolutions(monkeypatch):
    """How often flask-limiter's generic path worked out a request's limits."""
    calls = []
    resolve = limiter.limit_manager.resolve_limits

    def counting(*args, **kwargs):
        calls.append(args)
        return resolve(*args, **kwargs)

    monkeypatch.setattr(limiter.limit_manager, "resolve_limits", counting)
    return calls


def test_polls_skip_the_generic_limit_resolution(read_limited, resolutions):
    assert poll(read_limited).status_code == 404
    assert poll(read_limited, "/dreams/video_unknownJob1/status").status_code == 404
    assert resolutions == [], "both polled endpoints took the short path"
    assert poll(read_limited, "/api/get-video/video_unknownJob1").status_code == 404
    assert len(resolutions) == 1, "other reads take flask-limiter's own path"


@pytest.mark.parametrize("short_first", [True, False])
def test_both_paths_count_in_one_counter(read_limited, monkeypatch, short_first):
    # The same three polls, alternating between the short and the generic path.
    paths = [limiter.polled_endpoints, frozenset()]
    for n in range(3):
        monkeypatch.setattr(limiter, "polled_endpoints", paths[(n + (not short_first)) % 2])
        assert poll(read_limited).status_code == 404
    for path in paths:
        monkeypatch.setattr(limiter, "polled_endpoints", path)
        refused = poll(read_limited)
        assert refused.status_code == 429, "the fourth poll is refused whichever path counts it"
        assert 0 < int(refused.headers["Retry-After"]) <= 61  # the window, rounded up
        assert "error" in refused.get_json()


def test_a_refused_poll_of_the_web_fragment_is_a_friendly_429(read_limited):
    codes = [poll(read_limited, "/dreams/video_unknownJob1/status").status_code for _ in range(4)]
    assert codes == [404, 404, 404, 429]


def test_polls_are_not_counted_while_limits_are_off(app_config):
    client = create_app({**app_config, "RATELIMIT_READ": "1/minute"}).test_client()
    assert [poll(client).status_code for _ in range(3)] == [404, 404, 404]


def test_the_polled_endpoints_exist(app):
    assert limiter.polled_endpoints <= set(app.view_functions)
