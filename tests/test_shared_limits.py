"""Limits across processes: two gunicorn workers share one limit through a real redis-server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.served import app_env, gunicorn_app


@pytest.fixture
def store(tmp_path):
    return tmp_path / "store"


def test_two_workers_share_one_limit_exactly(simulator, redis_url, store, tmp_path):
    env = app_env(simulator.base_url, store, REDIS_URL=redis_url, RATELIMIT_CREATE="30/minute")
    # Ten at a time on fresh connections, so both workers take their share.
    with (
        gunicorn_app(env, tmp_path / "gunicorn.log", workers=2) as served,
        ThreadPoolExecutor(10) as pool,
    ):
        codes = list(pool.map(lambda _: served.create()[0], range(70)))
    assert (codes.count(202), codes.count(429)) == (30, 40)


def test_two_workers_share_one_read_limit_on_the_polled_short_path(
    simulator, redis_url, store, tmp_path
):
    env = app_env(simulator.base_url, store, REDIS_URL=redis_url, RATELIMIT_READ="20/minute")
    with gunicorn_app(env, tmp_path / "gunicorn.log", workers=2) as served:
        poll = f"/api/video-status/{served.create()[1]['jobId']}"
        with ThreadPoolExecutor(10) as pool:
            codes = list(pool.map(lambda _: served.fetch(poll)[0], range(30)))
    assert (codes.count(200), codes.count(429)) == (20, 10)


def test_redis_down_keeps_serving_with_per_process_limits(
    simulator, redis_server, redis_url, store, tmp_path
):
    env = app_env(simulator.base_url, store, REDIS_URL=redis_url, RATELIMIT_CREATE="3/minute")
    with gunicorn_app(env, tmp_path / "gunicorn.log", workers=1) as served:
        job_id = served.create()[1]["jobId"]
        redis_server.stop()
        # Reads are served; creates keep a limit, counted in this process's memory meanwhile.
        assert served.get_json(f"/api/video-status/{job_id}")["jobId"] == job_id
        assert served.get_json("/api/health")
        codes = [served.create()[0] for _ in range(5)]
        assert codes == [202, 202, 202, 429, 429]
    log = served.log.read_text()
    assert log.count("Rate limit storage unreachable - falling back to in-memory storage") == 1
    assert "Traceback" not in log
