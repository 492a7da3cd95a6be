"""Load benchmark (issue 10): polls, downloads and slow clients at once, on 2 workers, 60 s.

    .venv/bin/python bench/load.py [--seconds 60]

dreamweb runs under gunicorn with gunicorn.conf.py (--workers 2), proxy delivery, local store,
the simulator as provider. At once: 500 clients polling a job's status every 3 s (keep-alive
connections, half of the jobs still rendering so upstream checks happen too), 20 full downloads
of a 64 MiB video spread over the first half, 100 slow readers of that video (4 KiB/s through a
small receive window) and 50 slowloris connections. Prints status p50/p99 as the clients saw
them and as the app logged them (time inside the app), errors, downloads completed, and the
app's RSS (the gunicorn process tree, before, peak and at the end).

The clients run on gevent (patched below, before anything opens a socket): the pollers in this
process, the downloads and slow clients in a second one (``--noise``), so that copying 1.3 GB
does not delay the pollers' own clocks. Only ever targets 127.0.0.1.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import peers  # noqa: E402  (bench/ is on sys.path: the script's own folder)

sys.path.insert(0, str(peers.ROOT))  # for tests.attackers
from tests import attackers  # noqa: E402

VIDEO_BYTES = 64 * 1024 * 1024
POLLERS, POLL_INTERVAL = 500, 3.0
DOWNLOADS, SLOW_READERS, SLOWLORIS = 20, 100, 50
JOBS_RENDERING, JOBS_DONE = 10, 10
MIB = 1024 * 1024


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def wait_completed(app_url: str, job_id: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{app_url}/api/video-status/{job_id}", timeout=30) as r:
            if json.load(r)["status"] == "completed":
                return
        time.sleep(0.2)
    raise RuntimeError(f"{job_id} was not stored in time")


def make_jobs(app_url: str, simulator_url: str) -> list[str]:
    """Ten stored jobs (64 MiB the first, small the rest) and ten still rendering."""
    done = []
    for n in range(JOBS_DONE):
        post_json(f"{simulator_url}/_sim/config", {"video_bytes": VIDEO_BYTES if n == 0 else 0})
        job = post_json(f"{app_url}/api/create-video", {"prompt": f"a loaded dream number {n}"})
        wait_completed(app_url, job["jobId"])
        done.append(job["jobId"])
    post_json(f"{simulator_url}/_sim/config", {"render_seconds": 3600})
    rendering = [
        post_json(f"{app_url}/api/create-video", {"prompt": f"a dream still rendering {n}"})
        for n in range(JOBS_RENDERING)
    ]
    return done + [job["jobId"] for job in rendering]


def poller(port: int, path: str, until: float, latencies: list[float], errors: list[str]) -> None:
    """One browser tab polling ``path`` every POLL_INTERVAL on a keep-alive connection."""
    gevent.sleep(random.uniform(0, POLL_INTERVAL))  # tabs were opened at different times
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    reused = False
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            reused = True
            if response.status != 200:
                errors.append(f"status {response.status}")
            else:
                latencies.append(time.perf_counter() - started)
        except http.client.RemoteDisconnected:
            if reused:
                # The server closed the idle keep-alive connection as we reused it (keepalive
                # is 5 s): like a browser, poll again at once on a new connection.
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                reused = False
                continue
            errors.append("RemoteDisconnected")
        except (OSError, http.client.HTTPException) as error:
            errors.append(type(error).__name__)
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        gevent.sleep(max(0.0, POLL_INTERVAL - (time.perf_counter() - started)))
    connection.close()


def download(url: str, delay: float, done: list[float], errors: list[str]) -> None:
    """One full download of the video, starting after ``delay`` seconds."""
    gevent.sleep(delay)
    started = time.perf_counter()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(MIB):
                received += len(chunk)
    except OSError as error:
        errors.append(f"download {type(error).__name__}")
        return
    if received != VIDEO_BYTES:
        errors.append(f"download got {received} bytes")
    else:
        done.append(time.perf_counter() - started)


def noise(app_url: str, video_url: str, seconds: float) -> None:
    """The second process: downloads and slow clients; prints its results as one JSON line."""
    until = time.monotonic() + seconds
    crowds = [
        attackers.slow_readers(video_url, SLOW_READERS),
        attackers.slowloris(f"{app_url}/", SLOWLORIS),
    ]
    done: list[float] = []
    errors: list[str] = []
    delays = [n * seconds / 2 / DOWNLOADS for n in range(DOWNLOADS)]
    gevent.joinall([gevent.spawn(download, video_url, d, done, errors) for d in delays])
    gevent.sleep(max(0.0, until - time.monotonic()))
    for crowd in crowds:
        crowd.stop()
    print(json.dumps({"downloads": done, "errors": errors}))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def logged_status_durations(log: Path) -> list[float]:
    """Seconds the app spent on each status poll, from its JSON request log lines."""
    durations = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and "video-status" in line:
            record = json.loads(line)
            if record.get("message") == "request":
                durations.append(record["duration_ms"] / 1000)
    return durations


def run(seconds: float) -> None:
    """Start everything, load it for ``seconds``, print the figures."""
    with (
        tempfile.TemporaryDirectory() as folder,
        peers.simulator(render_seconds=0) as simulator_url,
    ):
        env = peers.app_env(simulator_url, folder, RATELIMIT_CREATE="100000/minute")
        log = Path(folder, "gunicorn.log")
        with peers.gunicorn("wsgi:app", env, "/api/health", log=log) as (app_url, master):
            jobs = make_jobs(app_url, simulator_url)
            port = int(app_url.rsplit(":", 1)[1])
            video_url = f"{app_url}/api/get-video/{jobs[0]}"
            baseline = peers.tree_rss(master)
            latencies: list[float] = []
            errors: list[str] = []
            until = time.monotonic() + seconds
            noisy = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--noise",
                    app_url,
                    video_url,
                    "--seconds",
                    str(seconds),
                    "--downloads",
                    str(DOWNLOADS),
                    "--slow-readers",
                    str(SLOW_READERS),
                    "--slowloris",
                    str(SLOWLORIS),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            paths = [f"/api/video-status/{jobs[n % len(jobs)]}" for n in range(POLLERS)]
            greenlets = [
                gevent.spawn(poller, port, path, until, latencies, errors) for path in paths
            ]
            with peers.PeakRSS(master, interval=0.5) as rss:
                gevent.joinall(greenlets, timeout=seconds + 120)
                end_rss = peers.tree_rss(master)
            noise_result = json.loads(noisy.communicate(timeout=seconds + 120)[0].splitlines()[-1])
            inside = logged_status_durations(log)
    downloads = noise_result["downloads"]
    errors += noise_result["errors"]
    print(
        f"{seconds:.0f} s on {peers.describe_gunicorn()}: {POLLERS} pollers every "
        f"{POLL_INTERVAL:g} s, {DOWNLOADS} downloads of 64 MiB, {SLOW_READERS} slow readers, "
        f"{SLOWLORIS} slowloris"
    )
    print(
        f"status polls {len(latencies)}: p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms (target < 500), "
        f"max {max(latencies, default=0) * 1000:.0f} ms; inside the app p50 "
        f"{percentile(inside, 0.5) * 1000:.1f} ms, p99 {percentile(inside, 0.99) * 1000:.0f} ms"
    )
    print(f"errors: {len(errors)} (target 0) {sorted(set(errors))[:5]}")
    print(
        f"downloads completed {len(downloads)}/{DOWNLOADS}, slowest "
        f"{max(downloads, default=0):.1f} s"
    )
    print(
        f"app RSS (gunicorn tree): before {baseline / MIB:.0f} MiB, peak {rss.peak / MIB:.0f} "
        f"MiB, end {end_rss / MIB:.0f} MiB"
    )


def main() -> None:
    """Parse the arguments and run the benchmark (or, with ``--noise``, its second process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--noise", nargs=2, metavar=("APP_URL", "VIDEO_URL"))
    parser.add_argument("--downloads", type=int, default=DOWNLOADS)
    parser.add_argument("--slow-readers", type=int, default=SLOW_READERS)
    parser.add_argument("--slowloris", type=int, default=SLOWLORIS)
    arguments = parser.parse_args()
    # Fewer (or more) of each, to see which part of the load costs what.
    globals().update(
        DOWNLOADS=arguments.downloads,
        SLOW_READERS=arguments.slow_readers,
        SLOWLORIS=arguments.slowloris,
    )
    if arguments.noise:
        noise(*arguments.noise, arguments.seconds)
    else:
        run(arguments.seconds)


if __name__ == "__main__":
    main()
