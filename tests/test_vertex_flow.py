"""VIDEO_PROVIDER=vertex-veo end to end: the form's choices, estimated progress, faults, and
zero-copy ingest — a Veo output already in our bucket becomes ``videos/<jobId>.mp4`` by a GCS
rewrite, checked against its source, and the source is deleted; no video byte crosses dreamweb.

Peers: fake-gcs-server over HTTP, here one started for this module with its access log on, so
the tests can read which requests the app made (a media GET of the source would show there),
and the simulator's Vertex dialect with a real token refresh.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dreamweb import create_app
from dreamweb.errors import ObjectNotFoundError, PreconditionFailedError
from dreamweb.jobs import FailureCode
from dreamweb.services import services
from dreamweb.storage.gcs import GCSVideoStore
from dreamweb.storage.ingest import IngestOutcome, ingest_video
from tests.concurrency import run_at_once
from tests.fixtures.gcs import (
    TEST_RETRY_DEADLINE,
    TEST_TIMEOUT,
    create_bucket,
    emulator_client,
    running_emulator,
)
from tests.fixtures.providers import ProviderCase, vertex_case, vertex_settings

PROMPT = "A dream of a glass whale drifting above a night city"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def logged_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A fake-gcs-server of this module's own, logging every request (``-log-level info``)."""
    folder = tmp_path_factory.mktemp("gcs-logged")
    with running_emulator(folder, "-log-level", "info") as url:
        yield url, folder / "fake-gcs-server.log"


@pytest.fixture
def bucket(logged_gcs: tuple[str, Path]) -> str:
    return create_bucket(logged_gcs[0])


@pytest.fixture
def store(logged_gcs: tuple[str, Path], bucket: str) -> GCSVideoStore:
    return GCSVideoStore(
        bucket,
        "dw/",
        emulator_client(logged_gcs[0]),
        timeout=TEST_TIMEOUT,
        retry_deadline=TEST_RETRY_DEADLINE,
    )


@pytest.fixture
def vertex(app_config, simulator, service_account_info, logged_gcs, bucket) -> ProviderCase:
    simulator.configure(render_seconds=1.0, video_bytes=3 * MIB)
    settings = vertex_settings(simulator, logged_gcs[0], service_account_info, bucket)
    return vertex_case(simulator, {**app_config, **settings, "STATUS_TTL_SECONDS": "0.2"})


def requests_logged(log: Path, since: int) -> list[str]:
    """The emulator's access-log lines written after byte offset ``since``."""
    with log.open("rb") as handle:
        handle.seek(since)
        return [line for line in handle.read().decode(errors="replace").splitlines() if '"' in line]


def objects(logged_gcs: tuple[str, Path], bucket: str) -> list[str]:
    return [blob.name for blob in emulator_client(logged_gcs[0]).list_blobs(bucket)]


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def put_source(store: GCSVideoStore, data: bytes, name: str = "dw/provider-output/x/1/s.mp4"):
    blob = store.bucket.blob(name)
    blob.upload_from_string(data, content_type="video/mp4")
    return f"gs://{store.bucket.name}/{name}", blob


# --- the store's server-side copy -----------------------------------------------------------


def test_copy_from_is_a_verified_create_only_rewrite(store, logged_gcs):
    data = bytes(range(256)) * 4096 * 3  # 3 MiB
    uri, source = put_source(store, data)
    assert store.can_copy_from(uri)
    since = logged_gcs[1].stat().st_size
    stored = store.copy_from(uri, "videos/video_copyTest0001.mp4")
    assert stored.size == len(data) and stored.content_type == "video/mp4"
    assert store.bucket.get_blob("dw/videos/video_copyTest0001.mp4").md5_hash == md5_b64(data)
    lines = requests_logged(logged_gcs[1], since)
    assert any("/rewriteTo/" in line for line in lines)
    assert not any("alt=media" in line for line in lines), "no byte came through the client"
    with pytest.raises(PreconditionFailedError):
        store.copy_from(uri, "videos/video_copyTest0001.mp4")
    assert store.delete_uri(uri) and not source.exists() and not store.delete_uri(uri)
    with pytest.raises(ObjectNotFoundError):
        store.copy_from(uri, "videos/video_copyTest0002.mp4")
    assert not store.exists("videos/video_copyTest0002.mp4")


def test_only_objects_of_its_own_bucket_are_copied(store):
    for uri in ("gs://another-bucket/dw/x.mp4", "https://example.com/x.mp4", "gs://b"):
        assert not store.can_copy_from(uri)


# --- the API flow with VIDEO_PROVIDER=vertex-veo --------------------------------------------


def wait_for(client, job_id, statuses=("completed", "failed"), timeout=30.0) -> list[dict]:
    """Every status answer until one of ``statuses`` (a 502/503 while the provider is faulted
    is an answer too: the client just polls again)."""
    seen, deadline = [], time.monotonic() + timeout
    while True:
        response = client.get(f"/api/video-status/{job_id}")
        assert response.status_code in (200, 502, 503), response.status_code
        if response.status_code == 200:
            seen.append(response.get_json())
            if seen[-1]["status"] in statuses:
                return seen
        assert time.monotonic() < deadline, seen[-1:]
        time.sleep(0.1)


def test_full_flow_estimates_progress_and_never_downloads_the_video(vertex, logged_gcs, bucket):
    client = create_app(vertex.config).test_client()
    since = logged_gcs[1].stat().st_size
    job_id = client.post("/api/create-video", json={"prompt": PROMPT}).get_json()["jobId"]
    answers = wait_for(client, job_id)
    assert answers[-1]["status"] == "completed", answers[-1]
    rendering = [a for a in answers if a.get("stage") in ("queued", "rendering")]
    assert rendering and all(a["progressEstimated"] is True for a in rendering)
    figures = [a["progress"] for a in rendering]
    assert figures == sorted(figures) and figures[-1] < 100 and figures[-1] > 0
    [provider_id] = vertex.provider_ids()
    expected = vertex.video_bytes(provider_id)
    assert client.get(f"/api/get-video/{job_id}").data == expected
    assert emulator_client(logged_gcs[0]).bucket(bucket).get_blob(
        f"dw/videos/{job_id}.mp4"
    ).md5_hash == md5_b64(expected)
    # The provider's output object is gone, and nothing else is left of it.
    assert not [name for name in objects(logged_gcs, bucket) if "provider-output" in name]
    lines = requests_logged(logged_gcs[1], since)
    source_lines = [line for line in lines if "provider-output" in line]
    assert any("/rewriteTo/" in line for line in source_lines), "the copy ran in GCS"
    assert any("DELETE" in line for line in source_lines), "the output object was deleted"
    downloads = [line for line in source_lines if "alt=media" in line]
    assert downloads == [], "the app never downloaded the video"
    assert vertex.paid() == 1


def test_concurrent_pollers_and_the_sweeper_copy_once(vertex, logged_gcs, bucket):
    app = create_app(vertex.config)
    with app.app_context():
        jobs = services().inline_jobs()
        store, provider = services().store, services().provider
        job, _ = jobs.create(PROMPT, seconds="4", size="1280x720")
        vertex.simulator.complete(job.provider_job_id)
        upstream = provider.retrieve(job.provider_job_id)  # what every poller/sweeper sees
        assert upstream.output_uri and store.can_copy_from(upstream.output_uri)
        since = logged_gcs[1].stat().st_size
        outcomes: list[IngestOutcome] = []
        run_at_once(
            lambda: outcomes.append(
                ingest_video(
                    store,
                    provider,
                    job_id=job.id,
                    provider_job_id=upstream.id,
                    source_uri=upstream.output_uri,
                ).outcome
            ),
            6,
        )
        assert outcomes.count(IngestOutcome.STORED) == 1, outcomes
        assert set(outcomes) <= {
            IngestOutcome.STORED,
            IngestOutcome.IN_PROGRESS,
            IngestOutcome.ALREADY_STORED,
        }
        assert jobs.refresh(job.id, force=True).status == "completed"
    rewrites = [line for line in requests_logged(logged_gcs[1], since) if "/rewriteTo/" in line]
    assert len(rewrites) == 1
    assert not [name for name in objects(logged_gcs, bucket) if "provider-output" in name]


FAULTS = [
    # (route, fault, options, outcome): every one ends completed byte-exact or failed with a reason
    ("vertex.create", "429", {"count": 5, "retry_after": 0.05}, "refused"),
    ("vertex.create", "quota", {"count": 5, "retry_after": 0.05}, "refused"),
    ("vertex.create", "500", {}, "unconfirmed"),
    ("vertex.create", "operation_error", {}, FailureCode.RENDER_FAILED),
    ("vertex.create", "filtered", {}, FailureCode.MODERATION_BLOCKED),
    ("vertex.poll", "429", {"count": 2, "retry_after": 0.05}, "completed"),
    ("vertex.poll", "500", {"count": 3}, "completed"),
    ("vertex.poll", "hang", {"count": 1, "hang_seconds": 3}, "completed"),
]


@pytest.mark.parametrize(("route", "fault", "options", "outcome"), FAULTS)
def test_every_vertex_fault_ends_completed_or_failed(
    vertex, logged_gcs, bucket, route, fault, options, outcome
):
    client = create_app({**vertex.config, "PROVIDER_READ_TIMEOUT": "1"}).test_client()
    vertex.simulator.inject(route, fault, **options)
    response = client.post("/api/create-video", json={"prompt": PROMPT})
    if outcome == "refused":
        assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
        assert vertex.provider_ids() == [], "nothing was started, nothing paid"
        return
    if outcome == "unconfirmed":
        assert response.status_code == 502
        assert len(vertex.provider_ids()) <= 1
        return
    assert response.status_code == 202
    job_id = response.get_json()["jobId"]
    final = wait_for(client, job_id)[-1]
    assert len(vertex.provider_ids()) == 1, "one paid operation per job"
    names = objects(logged_gcs, bucket)
    assert not [name for name in names if "provider-output" in name], "nothing left behind"
    if outcome == "completed":
        assert final["status"] == "completed"
        expected = vertex.video_bytes(vertex.provider_ids()[0])
        assert client.get(f"/api/get-video/{job_id}").data == expected
    else:
        assert final == {
            "jobId": job_id,
            "status": "failed",
            "error": outcome.text,
            "errorCode": outcome.api_code,
        }
        assert f"dw/videos/{job_id}.mp4" not in names
        page = client.get(f"/dreams/{job_id}").get_data(as_text=True)
        assert outcome.explanation.split(".")[0] in page.replace("&#39;", "'")


def test_upstream_error_text_goes_to_the_log_not_to_clients(vertex, caplog):
    client = create_app(vertex.config).test_client()
    vertex.simulator.inject("vertex.create", "operation_error")
    job_id = client.post("/api/create-video", json={"prompt": PROMPT}).get_json()["jobId"]
    final = wait_for(client, job_id)[-1]
    raw = [r for r in caplog.records if r.getMessage() == "vertex render failed"]
    assert raw and raw[0].upstream_message  # type: ignore[attr-defined]
    assert raw[0].upstream_message not in final["error"]  # type: ignore[attr-defined]


def test_local_store_streams_the_output_down_then_deletes_it(
    app_config, simulator, service_account_info, logged_gcs, bucket, tmp_path
):
    simulator.configure(render_seconds=0.5, video_bytes=2 * MIB)
    settings = vertex_settings(simulator, logged_gcs[0], service_account_info, bucket)
    settings.update(
        STORAGE_URL=(tmp_path / "store").as_uri(), VERTEX_OUTPUT_URI=f"gs://{bucket}/veo"
    )
    case = vertex_case(simulator, settings)
    client = create_app({**app_config, **settings, "STATUS_TTL_SECONDS": "0.2"}).test_client()
    since = logged_gcs[1].stat().st_size
    job_id = client.post("/api/create-video", json={"prompt": PROMPT}).get_json()["jobId"]
    assert wait_for(client, job_id)[-1]["status"] == "completed"
    expected = case.video_bytes(case.provider_ids()[0])
    assert client.get(f"/api/get-video/{job_id}").data == expected
    lines = [line for line in requests_logged(logged_gcs[1], since) if "veo%2Fprovider" in line]
    assert any(re.search(r"GET [^ ]*alt=media", line) for line in lines), "streamed via GCS"
    assert objects(logged_gcs, bucket) == [], "the output object was deleted"


def test_the_form_offers_what_veo_renders(vertex):
    page = create_app(vertex.config).test_client().get("/").get_data(as_text=True)
    assert re.findall(r'name="seconds" value="(\d+)"', page) == ["4", "6", "8"]
    sizes = re.findall(r'name="size" value="(\d+x\d+)"', page)
    assert sizes == ["1280x720", "720x1280", "1920x1080", "1080x1920"]


def test_refused_credentials_are_not_configured_with_an_operator_log_line(
    app_config, simulator, logged_gcs, bucket, caplog
):
    from tests.fixtures.google_key import throwaway_key

    _, untrusted = throwaway_key(simulator.token_url, "dreamweb-test")  # never trusted
    settings = vertex_settings(simulator, logged_gcs[0], untrusted, bucket)
    client = create_app({**app_config, **settings}).test_client()
    response = client.post("/api/create-video", json={"prompt": PROMPT})
    assert response.status_code == 503 and "not configured" in response.get_json()["error"]
    assert simulator.counters().get("vertex.create", 0) == 0
    assert any("vertex credentials refused" in r.getMessage() for r in caplog.records)
