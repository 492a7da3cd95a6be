"""VertexVeoClient: pure wire parsing, then the simulator's Vertex dialect over real HTTP, with a
real token refresh (a throwaway service-account key whose token_uri is the simulator) and real
MP4 outputs in the GCS emulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dreamweb.errors import ProviderNotConfiguredError, RateLimitedError, UpstreamUnavailableError
from dreamweb.providers import build_provider
from dreamweb.providers.base import COMPLETED, CONTENT_POLICY, FAILED, PENDING, PROCESSING
from dreamweb.providers.vertex_veo import VertexVeoClient
from dreamweb.providers.vertex_veo.wire import operation_model_path, parse_operation, predict_body
from tests.fixtures.gcs import create_bucket, emulator_client
from tests.fixtures.google_key import service_account_key
from tests.fixtures.simulator import SimulatorHandle

OP = "projects/p/locations/us-central1/publishers/google/models/veo-3.1-fast-generate-001/operations/9d2f"  # noqa: E501


class TestWire:
    def test_predict_body_matches_what_the_sdk_sends(self) -> None:
        body = predict_body(
            "a lake", seconds="6", size="1080x1920", storage_uri="gs://b/x/", generate_audio=False
        )
        assert body == {
            "instances": [{"prompt": "a lake"}],
            "parameters": {
                "sampleCount": 1,
                "durationSeconds": 6,
                "aspectRatio": "9:16",
                "resolution": "1080p",
                "generateAudio": False,
                "storageUri": "gs://b/x/",
            },
        }
        with pytest.raises(ValueError):
            predict_body("a", seconds="8", size="640x480", storage_uri=None, generate_audio=True)

    def test_operation_path(self) -> None:
        assert operation_model_path(OP).endswith("/models/veo-3.1-fast-generate-001")
        for bad in ("video_x", "projects/p/operations/1", OP + "?x"):
            with pytest.raises(ValueError):
                operation_model_path(bad)

    def test_running_and_done(self) -> None:
        running = parse_operation({"name": OP, "metadata": {"createTime": "2026-01-01T00:00:00Z"}})
        assert (running.status, running.progress, running.created_at) == (
            PROCESSING,
            None,
            1767225600,
        )
        done = parse_operation(
            {
                "name": OP,
                "done": True,
                "response": {"videos": [{"gcsUri": "gs://b/o/sample_0.mp4"}]},
            }
        )
        assert (done.status, done.output_uri) == (COMPLETED, "gs://b/o/sample_0.mp4")
        inline = parse_operation(
            {"name": OP, "done": True, "response": {"videos": [{"bytesBase64Encoded": "AAAA"}]}}
        )
        assert (inline.status, inline.output_uri) == (COMPLETED, None)
        legacy = parse_operation(
            {
                "name": OP,
                "done": True,
                "response": {"generatedSamples": [{"video": {"uri": "gs://b/l.mp4"}}]},
            }
        )
        assert legacy.output_uri == "gs://b/l.mp4"

    def test_failures(self) -> None:
        error = parse_operation(
            {"name": OP, "done": True, "error": {"code": 3, "message": "too large"}}
        )
        assert (error.status, error.error_code, error.error_message) == (FAILED, None, "too large")
        filtered = parse_operation(
            {
                "name": OP,
                "done": True,
                "response": {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": ["x"]},
            }
        )
        assert (filtered.status, filtered.error_code) == (FAILED, CONTENT_POLICY)
        empty = parse_operation({"name": OP, "done": True, "response": {}})
        assert empty.status == FAILED and empty.error_code is None
        with pytest.raises(UpstreamUnavailableError):
            parse_operation({"done": True})


# --- against the simulator -------------------------------------------------------------------


@pytest.fixture
def vertex(simulator: SimulatorHandle, gcs_emulator: str) -> Iterator[tuple[VertexVeoClient, str]]:
    """A client with a trusted throwaway key, writing into a fresh emulator bucket."""
    bucket = create_bucket(gcs_emulator)
    simulator.configure(gcs_endpoint=gcs_emulator)
    key = service_account_key(simulator.url + "/token")
    simulator.app.trust_service_account(json.loads(key))
    client = build_provider(config(simulator, gcs_emulator, bucket, key))
    yield client, bucket  # type: ignore[misc]
    client.close()


def config(simulator: SimulatorHandle, gcs: str, bucket: str, key: str) -> dict[str, Any]:
    return {
        "VIDEO_PROVIDER": "vertex-veo",
        "GCS_CREDENTIALS_JSON": key,
        "VERTEX_PROJECT": "p",
        "VERTEX_BASE_URL": simulator.url,
        "STORAGE_URL": f"gs://{bucket}/dw",
        "STORAGE_EMULATOR_HOST": gcs,
        "PROVIDER_READ_TIMEOUT": 3,
        "PROVIDER_RETRY_DEADLINE": 8,
    }


def create(client: VertexVeoClient, prompt: str = "a quiet lake at dawn", **more: Any) -> Any:
    return client.create(
        prompt,
        job_id="video_abc",
        model=more.pop("model", "veo-3.1-fast-generate-001"),
        seconds="8",
        size="1280x720",
    )


def test_full_flow_into_the_bucket(
    vertex: tuple[VertexVeoClient, str], simulator: SimulatorHandle, gcs_emulator: str
) -> None:
    client, bucket = vertex
    job = create(client)
    assert job.status == PENDING and "/operations/" in job.id and job.progress is None
    assert client.retrieve(job.id).status in (PENDING, PROCESSING)
    simulator.complete(job.id)
    done = client.retrieve(job.id)
    assert done.status == COMPLETED
    assert done.output_uri.startswith(f"gs://{bucket}/dw/provider-output/video_abc/")
    name = done.output_uri.split("/", 3)[3]
    stored = emulator_client(gcs_emulator).bucket(bucket).blob(name).download_as_bytes()
    with client.download(job.id) as stream:
        assert b"".join(stream) == stored and stream.content_length == len(stored)
    assert stored[4:8] == b"ftyp"
    client.delete(job.id)
    assert not emulator_client(gcs_emulator).bucket(bucket).blob(name).exists()
    assert simulator.counters()["token"] == 1, "one token, refreshed by google-auth, reused"


def test_untrusted_key_is_not_configured(simulator: SimulatorHandle, gcs_emulator: str) -> None:
    key = service_account_key(simulator.url + "/token")  # never trusted by the simulator
    client = build_provider(config(simulator, gcs_emulator, "b", key))
    try:
        with pytest.raises(ProviderNotConfiguredError):
            create(client)
    finally:
        client.close()
    assert simulator.counters().get("vertex.create", 0) == 0


@pytest.mark.parametrize(("fault", "calls"), [("429", 2), ("500", 1), ("drop", 1), ("hang", 1)])
def test_create_retried_only_when_surely_refused(
    vertex: tuple[VertexVeoClient, str], simulator: SimulatorHandle, fault: str, calls: int
) -> None:
    simulator.inject("vertex.create", fault, retry_after=0.05, hang_seconds=5)
    client, _ = vertex
    if calls == 2:
        assert create(client).status == PENDING
    else:
        with pytest.raises(UpstreamUnavailableError):
            create(client)
    assert simulator.counters()["vertex.create"] == calls


def test_quota_is_rate_limited(
    vertex: tuple[VertexVeoClient, str], simulator: SimulatorHandle
) -> None:
    simulator.inject("vertex.create", "quota", count=5, retry_after=0.05)
    with pytest.raises(RateLimitedError):
        create(vertex[0])


def test_poll_retried_on_server_error(
    vertex: tuple[VertexVeoClient, str], simulator: SimulatorHandle
) -> None:
    client, _ = vertex
    job = create(client)
    simulator.inject("vertex.poll", "500")
    assert client.retrieve(job.id).id == job.id
    assert simulator.counters()["vertex.poll"] == 2


@pytest.mark.parametrize(
    ("fault", "code"), [("filtered", CONTENT_POLICY), ("operation_error", None)]
)
def test_failed_renders(
    vertex: tuple[VertexVeoClient, str], simulator: SimulatorHandle, fault: str, code: str | None
) -> None:
    client, _ = vertex
    simulator.inject("vertex.create", fault)
    job = create(client)
    simulator.complete(job.id)
    failed = client.retrieve(job.id)
    assert (failed.status, failed.error_code) == (FAILED, code) and failed.error_message


def test_retired_model_is_not_configured(
    vertex: tuple[VertexVeoClient, str], simulator: SimulatorHandle
) -> None:
    with pytest.raises(ProviderNotConfiguredError):
        create(vertex[0], model="veo-2.0-generate-001")
    assert simulator.counters()["vertex.create"] == 1
