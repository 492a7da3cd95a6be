"""Server designs under slow clients (issue 10): does the site keep answering?

    .venv/bin/python bench/slow_clients.py [design ...]

For each design (a set of gunicorn flags), starts dreamweb with 2 workers in proxy delivery
mode, stores a 64 MiB video, then runs each attack for ATTACK_SECONDS while probing the form
page and a status poll every 0.25 s (fresh connection each, 2 s timeout). Prints per attack:
probes answered / sent, worst probe latency, and how often the attackers had to reconnect
(the server timing them out). Only ever targets 127.0.0.1.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import peers  # bench/ is on sys.path: the script's own folder

sys.path.insert(0, str(peers.ROOT))  # for tests.attackers
from tests import attackers

VIDEO_BYTES = 64 * 1024 * 1024
ATTACK_SECONDS = 12.0
PROBE_TIMEOUT = 2.0
# Each design: a gunicorn config file's text (gevent must patch before --preload imports the
# app) and flags.
DESIGNS = {
    "gthread": ("", ["--worker-class", "gthread", "--threads", "8", "--keep-alive", "5"]),
    # The cheap fix one tries first: more threads. Each slow client still holds one.
    "gthread-64": ("", ["--worker-class", "gthread", "--threads", "64", "--keep-alive", "5"]),
    "gevent": (
        "from gevent import monkey\nmonkey.patch_all()\n",
        ["--worker-class", "gevent", "--worker-connections", "1000", "--keep-alive", "5"],
    ),
}
ATTACKS = {
    "24 slow readers of 64 MiB": lambda urls: attackers.slow_readers(urls["video"], 24),
    "48 slowloris": lambda urls: attackers.slowloris(urls["form"], 48),
    "24 slow bodies": lambda urls: attackers.slow_bodies(urls["create"], 24),
}


def stored_video(app_url: str) -> str:
    """Create a job (the simulator renders instantly) and wait until its video is stored."""
    request = urllib.request.Request(
        f"{app_url}/api/create-video",
        data=json.dumps({"prompt": "a long corridor of slow doors"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        job_id = json.load(response)["jobId"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{app_url}/api/video-status/{job_id}", timeout=30) as r:
            if json.load(r)["status"] == "completed":
                return job_id
        time.sleep(0.2)
    raise RuntimeError("the video was not stored within 60 s")


def probe(urls: dict[str, str], seconds: float) -> tuple[int, int, float]:
    """Probe the form page and status in turn for ``seconds``: (answered, sent, worst s)."""
    answered = sent = 0
    worst = 0.0
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        for name in ("form", "status"):
            status, took = attackers.timed_get(urls[name], PROBE_TIMEOUT)
            sent += 1
            answered += status == 200 and took <= PROBE_TIMEOUT
            worst = max(worst, took)
        time.sleep(0.25)
    return answered, sent, worst


def evaluate(design: str, simulator_url: str, folder: str) -> None:
    """Start ``design`` and run every attack against it."""
    env = peers.app_env(simulator_url, str(Path(folder, design)), RATELIMIT_CREATE="100000/minute")
    config_text, flags = DESIGNS[design]
    config = Path(folder, f"{design}.conf.py")
    config.write_text(config_text)
    args = ["--config", str(config), "--preload", "--workers", "2", "--timeout", "30"]
    args += ["--log-level", "warning", *flags]
    with peers.gunicorn("wsgi:app", env, "/api/health", options=args) as (url, _):
        job_id = stored_video(url)
        urls = {
            "form": f"{url}/",
            "status": f"{url}/api/video-status/{job_id}",
            "video": f"{url}/api/get-video/{job_id}",
            "create": f"{url}/api/create-video",
        }
        for name, start in ATTACKS.items():
            crowd = start(urls)
            time.sleep(1.0)  # let them take their places
            answered, sent, worst = probe(urls, ATTACK_SECONDS)
            crowd.stop()
            print(
                f"{design:8} {name:28} probes answered {answered}/{sent}, worst {worst:.2f} s, "
                f"attacker connections {crowd.connects}",
                flush=True,
            )


def main() -> None:
    """Evaluate the designs named on the command line (all by default)."""
    chosen = sys.argv[1:] or list(DESIGNS)
    with (
        tempfile.TemporaryDirectory() as folder,
        peers.simulator(render_seconds=0, video_bytes=VIDEO_BYTES) as simulator_url,
    ):
        for design in chosen:
            evaluate(design, simulator_url, folder)


if __name__ == "__main__":
    main()
