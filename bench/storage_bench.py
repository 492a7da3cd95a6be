"""Storage benchmark (issue 3), in one run against the GCS emulator.

    .venv/bin/python bench/storage_bench.py [--mib 256]

(a) throughput of a 256 MiB video served through the app under gunicorn, divided by a raw GET
    of the same object straight from the emulator (target >= 0.8);
(b) peak RSS of the app's processes over their baseline while 4 clients download it at once
    and one more reads from the middle (target <= 64 MiB);
(c) peak RSS over baseline of a process ingesting a 256 MiB video from the simulator into the
    emulator (target <= 64 MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from urllib.parse import quote

import peers  # bench/ is on sys.path: the script's own folder
import requests

MIB = 1024 * 1024
JOB_ID = "video_storageBench0001"
RATE_ROUNDS = 3


def download(url: str, headers: dict[str, str] | None = None) -> tuple[int, float]:
    """Stream ``url`` to nowhere; (bytes, seconds)."""
    started = time.perf_counter()
    total = 0
    with requests.get(url, headers=headers or {}, stream=True, timeout=120) as response:
        response.raise_for_status()
        for chunk in response.iter_content(MIB):
            total += len(chunk)
    return total, time.perf_counter() - started


def best_rate(url: str) -> float:
    """Best MiB/s of ``RATE_ROUNDS`` full downloads."""
    runs = (download(url) for _ in range(RATE_ROUNDS))
    return max(size / seconds / MIB for size, seconds in runs)


def ingest_child(simulator: str, emulator: str, bucket: str) -> None:
    """Run in a fresh process: ingest one big video, print baseline/peak RSS as JSON."""
    from dreamweb.providers.openai_videos import OpenAIVideosClient
    from dreamweb.storage.gcs import GCSVideoStore
    from dreamweb.storage.ingest import ingest_video

    store = GCSVideoStore.from_config(
        {"STORAGE_URL": f"gs://{bucket}", "STORAGE_EMULATOR_HOST": emulator, "GCS_PROJECT": "bench"}
    )
    provider = OpenAIVideosClient.from_config(
        {"OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": f"{simulator}/v1"}
    )
    job = provider.create("a benchmark dream", model="sora-2", seconds="4", size="1280x720")
    requests.post(f"{simulator}/_sim/jobs/{job.id}/complete", timeout=10).raise_for_status()
    store.exists("videos/warmup.mp4")  # warm the client's connection and imports
    baseline = peers.tree_rss(os.getpid())
    with peers.PeakRSS(os.getpid()) as sampler:
        started = time.perf_counter()
        result = ingest_video(store, provider, job_id=JOB_ID, provider_job_id=job.id)
        seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "baseline": baseline,
                "peak": sampler.peak,
                "seconds": seconds,
                "bytes": result.video_bytes,
                "outcome": result.outcome.value,
            }
        )
    )


def measure_ingest(simulator: str, emulator: str, bucket: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--ingest-child", simulator, emulator, bucket],
        capture_output=True,
        text=True,
        check=True,
        cwd=peers.ROOT,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def measure_serving(app_url: str, master: int, raw_url: str, size: int) -> tuple[float, float, int]:
    video_url = f"{app_url}/api/get-video/{JOB_ID}"
    download(video_url, {"Range": "bytes=0-1023"})  # warm every worker's imports and client
    download(video_url, {"Range": "bytes=0-1023"})
    raw, served = best_rate(raw_url), best_rate(video_url)
    baseline = peers.tree_rss(master)
    clients = [threading.Thread(target=download, args=(video_url,)) for _ in range(4)]
    clients.append(
        threading.Thread(target=download, args=(video_url, {"Range": f"bytes={size // 2}-"}))
    )
    with peers.PeakRSS(master) as sampler:
        for client in clients:
            client.start()
        for client in clients:
            client.join()
    return raw, served, sampler.peak - baseline


def main() -> None:
    """Set up the peers, store one big video by ingesting it, then measure serving."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--ingest-child", nargs=3, metavar=("SIMULATOR", "EMULATOR", "BUCKET"))
    args = parser.parse_args()
    if args.ingest_child:
        ingest_child(*args.ingest_child)
        return
    size = args.mib * MIB
    bucket = "dreamweb-bench"
    with (
        peers.fake_gcs() as emulator,
        peers.simulator(render_seconds=0, video_bytes=size) as simulator,
    ):
        requests.post(
            f"{emulator}/storage/v1/b",
            params={"project": "bench"},
            json={"name": bucket},
            timeout=10,
        ).raise_for_status()
        ingest = measure_ingest(simulator, emulator, bucket)
        assert ingest["bytes"] == size, ingest
        env = {
            "DREAMWEB_ENV": "development",
            "STORAGE_URL": f"gs://{bucket}",
            "STORAGE_EMULATOR_HOST": emulator,
            "GCS_PROJECT": "bench",
            "RATELIMIT_READ": "100000/minute",
            "LOG_LEVEL": "warning",
        }
        raw_url = (
            f"{emulator}/download/storage/v1/b/{bucket}/o/"
            f"{quote(f'videos/{JOB_ID}.mp4', safe='')}?alt=media"
        )
        with peers.gunicorn("wsgi:app", env, "/api/health") as (app_url, master):
            raw, served, serve_rss = measure_serving(app_url, master, raw_url, size)
    print(f"video: {args.mib} MiB, {peers.describe_gunicorn()}")
    print(
        f"(a) served through the app {served:.0f} MiB/s, raw emulator GET {raw:.0f} MiB/s "
        f"-> ratio {served / raw:.2f} (target >= 0.8)"
    )
    print(
        f"(b) app RSS over baseline, 4 full downloads + 1 mid-file range: "
        f"{serve_rss / MIB:.1f} MiB (target <= 64)"
    )
    print(
        f"(c) ingest RSS over baseline: {(ingest['peak'] - ingest['baseline']) / MIB:.1f} MiB "
        f"(target <= 64); {size / ingest['seconds'] / MIB:.0f} MiB/s"
    )


if __name__ == "__main__":
    main()
