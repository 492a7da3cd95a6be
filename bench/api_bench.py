"""API benchmark (issue 4): upstream economy under polling, and status endpoint throughput.

    .venv/bin/python bench/api_bench.py

Prints (1) upstream GETs per job while 20 clients poll its status for 10 s, against the number
of TTL windows in that time (target: at most one per window), and (2) the status endpoint's
requests/second under gunicorn divided by a trivial Flask view's on the same gunicorn settings
(target >= 0.5). Needs ``wrk`` (``apt-get install wrk``).
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import peers  # bench/ is on sys.path: the script's own folder

TTL = 2.0
POLL_SECONDS = 10.0
POLLERS = 20


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def poll(url: str, until: float, counts: list[int]) -> None:
    while time.monotonic() < until:
        get_json(url)
        counts.append(1)


def main() -> None:
    """Run both measurements and print the figures."""
    with tempfile.TemporaryDirectory() as folder, peers.simulator(render_seconds=600) as sim:
        env = {
            "DREAMWEB_ENV": "development",
            "OPENAI_API_KEY": "bench-key",
            "OPENAI_BASE_URL": f"{sim}/v1",
            "STORAGE_URL": Path(folder).as_uri(),
            "STATUS_TTL_SECONDS": str(TTL),
            "RATELIMIT_READ": "10000000/minute",
            "LOG_LEVEL": "warning",
        }
        with peers.gunicorn("wsgi:app", env, "/api/health") as (app_url, _):
            job = post_json(f"{app_url}/api/create-video", {"prompt": "a benchmark of dreams"})
            status_url = f"{app_url}/api/video-status/{job['jobId']}"
            before = get_json(f"{sim}/_sim/counters")["retrieve"]
            until = time.monotonic() + POLL_SECONDS
            counts: list[int] = []
            threads = [
                threading.Thread(target=poll, args=(status_url, until, counts))
                for _ in range(POLLERS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            upstream = get_json(f"{sim}/_sim/counters")["retrieve"] - before
            windows = POLL_SECONDS / TTL
            print(
                f"(1) {POLLERS} clients polled one job for {POLL_SECONDS:.0f} s: "
                f"{len(counts)} status requests, {upstream} upstream GETs, "
                f"{windows:.0f} TTL windows of {TTL:g} s -> {upstream / windows:.2f} GETs/window "
                f"(target <= 1)"
            )
            status_rps = peers.wrk_requests_per_second(status_url)
        with peers.gunicorn("trivial_app:app", {"PYTHONPATH": str(peers.ROOT / "bench")}) as (
            trivial_url,
            _,
        ):
            trivial_rps = peers.wrk_requests_per_second(trivial_url + "/")
    print(
        f"(2) status endpoint {status_rps:,.0f} req/s, trivial Flask view {trivial_rps:,.0f} "
        f"req/s -> ratio {status_rps / trivial_rps:.2f} (target >= 0.5)"
    )


if __name__ == "__main__":
    main()
