"""Slow clients cannot starve the site: gunicorn with gunicorn.conf.py, real sockets (issue 10).

One gunicorn (2 workers, proxy delivery, the default) serves a stored 64 MiB video while each
crowd of slow clients holds its connections; the form page and a status poll must keep
answering within 2 s. Timings are generous bounds, not benchmarks (bench/slow_clients.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import attackers
from tests.fixtures.simulator import TEST_SETTINGS, SimulatorHandle
from tests.served import Served, app_env, gunicorn_app

VIDEO_BYTES = 64 * 1024 * 1024
ATTACK_SECONDS = 6.0
BOUND = 2.0


@pytest.fixture(scope="module")
def site(
    simulator_server: SimulatorHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, str]]:
    """The app under gunicorn with one stored 64 MiB video; (served, job id)."""
    folder = tmp_path_factory.mktemp("slow-clients")
    simulator_server.app.reset()
    simulator_server.app.configure(render_seconds=0, video_bytes=VIDEO_BYTES)
    try:
        env = app_env(simulator_server.base_url, folder / "store", STATUS_TTL_SECONDS="1")
        with gunicorn_app(env, folder / "gunicorn.log") as served:
            yield served, served.stored_job()
    finally:
        simulator_server.app.configure(**TEST_SETTINGS)


def probe_while(site: tuple[Served, str], crowd: attackers.Crowd) -> list[tuple[str, int, float]]:
    """Probe the form page and the status poll for ATTACK_SECONDS; the failures."""
    served, job_id = site
    urls = {"form": f"{served.url}/", "status": f"{served.url}/api/video-status/{job_id}"}
    failures = []
    try:
        time.sleep(1.0)  # let the crowd take its places
        until = time.monotonic() + ATTACK_SECONDS
        while time.monotonic() < until:
            for name, url in urls.items():
                status, took = attackers.timed_get(url, BOUND + 1)
                if status != 200 or took > BOUND:
                    failures.append((name, status, round(took, 2)))
            time.sleep(0.2)
    finally:
        crowd.stop()
    return failures


CROWDS: dict[str, Callable[[Served, str], attackers.Crowd]] = {
    "24 slow readers": lambda s, job: attackers.slow_readers(f"{s.url}/api/get-video/{job}", 24),
    "48 slowloris": lambda s, job: attackers.slowloris(f"{s.url}/", 48),
    "24 slow bodies": lambda s, job: attackers.slow_bodies(f"{s.url}/api/create-video", 24),
}


@pytest.mark.parametrize("crowd", list(CROWDS))
def test_the_site_keeps_answering_during(site, crowd):
    served, job_id = site
    attack = CROWDS[crowd](served, job_id)
    assert probe_while(site, attack) == []
    assert attack.connects >= 24


def test_slowloris_connections_are_closed_after_the_header_timeout(site):
    served, _ = site
    attack = attackers.slowloris(f"{served.url}/", 8, interval=1.0)
    time.sleep(8)  # keepalive = 5 s bounds reading a request's headers
    attack.stop()
    assert attack.connects >= 16, "each connection was closed and made again at least once"


def test_many_polls_of_a_rendering_job_all_answer(site, simulator_server):
    # Every TTL the pollers race to claim the upstream check (compare-and-set under the local
    # store's lock): none may wait on another forever, in this worker or the other.
    served, _ = site
    simulator_server.app.configure(render_seconds=3600)
    try:
        status, body = served.create()
        assert status == 202
        url = f"{served.url}/api/video-status/{body['jobId']}"
        with ThreadPoolExecutor(40) as pool:
            for _ in range(3):
                time.sleep(1.1)  # the TTL passed: the next polls check upstream
                answers = list(pool.map(lambda _: attackers.timed_get(url, 10), range(40)))
                assert all(status == 200 for status, _ in answers), answers
                assert max(took for _, took in answers) < 5
    finally:
        simulator_server.app.configure(render_seconds=0)


def test_the_server_log_has_no_traceback(site):
    # Runs last: the background ingest, the log writer and the limiter all ran under gevent
    # (patched before --preload imported them), through every attack above.
    served, _ = site
    text = served.log.read_text(errors="replace")
    assert "Booting worker" in text and "Traceback" not in text
