"""API benchmark (issue 4): upstream economy under polling, and status endpoint throughput.

    .venv/bin/python bench/api_bench.py

Prints (1) upstream GETs per job while 20 clients poll its status for 10 s, against the number
of TTL windows in that time (target: at most one per window; polls only read the record, the
checks run in the app's background pool, and the simulator counts each GET it receives), and
(2) the status endpoint's requests/second under gunicorn divided by a trivial Flask view's on
the same gunicorn settings (target >= 0.5). Needs ``wrk`` (``apt-get install wrk``).
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
ROUNDS = 3


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


def polling_economy(app_url: str, simulator_url: str) -> str:
    """Measurement (1): upstream GETs while 20 clients poll one job."""
    job = post_json(f"{app_url}/api/create-video", {"prompt": "a benchmark of dreams"})
    status_url = f"{app_url}/api/video-status/{job['jobId']}"
    before = get_json(f"{simulator_url}/_sim/counters")["retrieve"]
    until = time.monotonic() + POLL_SECONDS
    counts: list[int] = []
    threads = [
        threading.Thread(target=poll, args=(status_url, until, counts)) for _ in range(POLLERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    upstream = get_json(f"{simulator_url}/_sim/counters")["retrieve"] - before
    windows = POLL_SECONDS / TTL
    print(
        f"(1) {POLLERS} clients polled one job for {POLL_SECONDS:.0f} s: {len(counts)} status "
        f"requests, {upstream} upstream GETs, {windows:.0f} TTL windows of {TTL:g} s -> "
        f"{upstream / windows:.2f} GETs/window (target <= 1)"
    )
    return status_url


def main() -> None:
    """Run both measurements and print the figures."""
    with (
        tempfile.TemporaryDirectory() as folder,
        peers.simulator(render_seconds=600) as simulator_url,
    ):
        env = {
            "DREAMWEB_ENV": "development",
            "OPENAI_API_KEY": "bench-key",
            "OPENAI_BASE_URL": f"{simulator_url}/v1",
            "STORAGE_URL": Path(folder).as_uri(),
            "STATUS_TTL_SECONDS": str(TTL),
            # Limits stay on (their cost is part of the figure) but must not refuse the load.
            "RATELIMIT_READ": "100000000/minute",
        }
        trivial_env = {"PYTHONPATH": str(peers.ROOT / "bench")}
        with (
            peers.gunicorn("wsgi:app", env, "/api/health") as (app_url, _),
            peers.gunicorn("trivial_app:app", trivial_env) as (trivial_url, _),
        ):
            status_url = polling_economy(app_url, simulator_url)
            # Alternate the two and keep each one's best run: other load on the machine then
            # depresses both alike instead of skewing the ratio.
            status_runs, trivial_runs = [], []
            for _ in range(ROUNDS):
                status_runs.append(peers.wrk_requests_per_second(status_url))
                trivial_runs.append(peers.wrk_requests_per_second(trivial_url + "/"))
    status_rps, trivial_rps = max(status_runs), max(trivial_runs)
    print(
        f"(2) status endpoint {status_rps:,.0f} req/s, trivial Flask view {trivial_rps:,.0f} "
        f"req/s (best of {ROUNDS} alternating wrk runs each) -> ratio "
        f"{status_rps / trivial_rps:.2f} (target >= 0.5)"
    )
    print(f"    {peers.describe_gunicorn()}; request log on, limits on")


if __name__ == "__main__":
    main()
