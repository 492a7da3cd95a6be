"""Ingest benchmark (issue 9): a Veo output copied in server-side vs the streamed Videos-API path.

    .venv/bin/python bench/ingest_bench.py [--mib 256]

In one run, against the same GCS emulator and the same simulator, each path ingests a video of
the same size into the GCS store, in a fresh process that measures itself:

(a) zero-copy: Vertex (Veo) wrote the MP4 into our bucket (``storageUri``); ingest is a GCS
    rewrite into ``videos/<jobId>.mp4``, verified, then the output object deleted;
(b) streamed: the Videos API's ``/content`` streamed through the app into the store.

Printed: wall time of each ingest, the ratio, and each process's peak RSS over its baseline
(targets: zero-copy RSS <= 16 MiB over baseline and >= 10x faster than the streamed path).
"""

from __future__ import annotations

import argparse
import json
import sys

import peers  # bench/ is on sys.path: the script's own folder
import requests

MIB = 1024 * 1024
BUCKET = "dreamweb-ingest-bench"


def child(mode: str, simulator: str, emulator: str, key_json: str) -> None:
    """Run in a fresh process: start and finish one render, ingest it, print figures as JSON."""
    from dreamweb.providers import build_provider
    from dreamweb.storage.gcs import GCSVideoStore
    from dreamweb.storage.ingest import ingest_video

    store_config = {
        "STORAGE_URL": f"gs://{BUCKET}/{mode}",
        "STORAGE_EMULATOR_HOST": emulator,
        "GCS_PROJECT": "bench",
    }
    store = GCSVideoStore.from_config(store_config)
    if mode == "zero-copy":
        provider = build_provider(
            {
                **store_config,
                "VIDEO_PROVIDER": "vertex-veo",
                "GCS_CREDENTIALS_JSON": key_json,
                "VERTEX_PROJECT": "bench",
                "VERTEX_BASE_URL": simulator,
            }
        )
        model = "veo-3.1-fast-generate-001"
    else:
        provider = build_provider({"OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": f"{simulator}/v1"})
        model = "sora-2"
    job_id = f"video_ingestBench{mode.replace('-', '')}"
    job = provider.create(
        "a benchmark dream", job_id=job_id, model=model, seconds="4", size="1280x720"
    )
    operation = job.id.rpartition("/operations/")[2]
    # Completing writes the Veo output into the bucket (the simulator uploads it): not timed.
    requests.post(f"{simulator}/_sim/jobs/{operation}/complete", timeout=600).raise_for_status()
    finished = provider.retrieve(job.id)
    store.exists("videos/warmup.mp4")  # warm the client's connection and imports
    figures = peers.measured(
        lambda: ingest_video(
            store, provider, job_id=job_id, provider_job_id=job.id, source_uri=finished.output_uri
        )
    )
    print(json.dumps({**figures, "source_left": source_left(store, finished.output_uri)}))


def source_left(store, uri: str | None) -> bool:
    """Whether the provider's output object is still in the bucket."""
    from dreamweb.storage.base import GcsObject

    return uri is not None and store.bucket.blob(GcsObject.parse(uri).name).exists()


def measure(mode: str, simulator: str, emulator: str, key_json: str) -> dict:
    return peers.child_figures(__file__, "--child", mode, simulator, emulator, key_json)


def main() -> None:
    """Start the peers, then ingest the same size both ways, each in its own process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--child", nargs=4, metavar=("MODE", "SIMULATOR", "EMULATOR", "KEY"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sys.path.insert(0, str(peers.ROOT))
    from tests.fixtures.google_key import throwaway_key

    size = args.mib * MIB
    with (
        peers.fake_gcs() as emulator,
        peers.simulator(render_seconds=0, video_bytes=size, gcs_endpoint=emulator) as simulator,
    ):
        peers.create_bucket(emulator, BUCKET)
        _, key = throwaway_key(f"{simulator}/token", "bench")
        requests.post(f"{simulator}/_sim/service-accounts", json=key, timeout=10).raise_for_status()
        results = {
            mode: measure(mode, simulator, emulator, json.dumps(key))
            for mode in ("zero-copy", "streamed")
        }
    for mode, result in results.items():
        assert result["bytes"] == size and result["outcome"] == "stored", (mode, result)
    zero, streamed = results["zero-copy"], results["streamed"]
    assert not zero["source_left"], "the Veo output object should be deleted"
    print(f"video: {args.mib} MiB into the GCS store (fake-gcs-server), one process per path")
    for mode, result in results.items():
        print(
            f"{mode:>9}: {result['seconds']:.3f} s ({size / result['seconds'] / MIB:.0f} MiB/s), "
            f"RSS over baseline {(result['peak'] - result['baseline']) / MIB:.1f} MiB"
        )
    print(
        f"zero-copy is {streamed['seconds'] / zero['seconds']:.1f}x faster (target >= 10x); "
        f"its RSS over baseline {(zero['peak'] - zero['baseline']) / MIB:.1f} MiB (target <= 16)"
    )


if __name__ == "__main__":
    main()
