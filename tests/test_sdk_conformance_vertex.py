"""google-genai (the official SDK) drives the Vertex dialect and parses every answer.

As in the reference: ``generate_videos`` (with ``source=``: the ``prompt=`` form is deprecated
in 3.6.1 and warns) then ``operations.get`` (which posts
``:fetchPredictOperation``), once writing into the GCS emulator and once inline. Credentials
are a real service account whose token comes from the simulator's ``/token``.
"""

from __future__ import annotations

import io

import av
import pytest
from google import genai
from google.genai import errors
from google.genai.types import GenerateVideosConfig, GenerateVideosSource, HttpOptions
from google.oauth2 import service_account

from tests.fixtures.gcs import TEST_PROJECT, create_bucket, emulator_client
from tests.fixtures.simulator import CLOUD_PLATFORM_SCOPE, SimulatorHandle

MODEL = "veo-3.1-fast-generate-001"


def sdk_client(simulator: SimulatorHandle, info: dict[str, str], version: str) -> genai.Client:
    """A Vertex-mode client pointed at the simulator."""
    credentials = service_account.Credentials.from_service_account_info(
        info, scopes=[CLOUD_PLATFORM_SCOPE]
    )
    return genai.Client(
        vertexai=True,
        project=TEST_PROJECT,
        location="us-central1",
        credentials=credentials,
        http_options=HttpOptions(base_url=simulator.vertex_base_url, api_version=version),
    )


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_generate_videos_into_the_bucket_and_poll(vertex_simulator, service_account_info, version):
    """The SDK's operation parses; its videos' URIs name real MP4s in the emulator."""
    simulator = vertex_simulator
    endpoint = simulator.app.settings()["gcs_endpoint"]
    bucket = create_bucket(endpoint)
    client = sdk_client(simulator, service_account_info, version)
    operation = client.models.generate_videos(
        model=MODEL,
        source=GenerateVideosSource(prompt="a paper boat on a storm"),
        config=GenerateVideosConfig(
            output_gcs_uri=f"gs://{bucket}/dreamweb/provider-output/job-1/",
            duration_seconds=8,
            aspect_ratio="16:9",
            resolution="1080p",
            generate_audio=True,
            number_of_videos=1,
        ),
    )
    assert operation.name.startswith(f"projects/{TEST_PROJECT}/locations/us-central1/")
    assert not operation.done
    operation = client.operations.get(operation)
    assert not operation.done
    simulator.complete(operation.name)
    operation = client.operations.get(operation)
    assert operation.done and operation.error is None
    assert operation.response.rai_media_filtered_count == 0
    video = operation.response.generated_videos[0].video
    assert video.mime_type == "video/mp4"
    prefix = f"gs://{bucket}/dreamweb/provider-output/job-1/"
    assert video.uri.startswith(prefix) and video.uri.endswith("/sample_0.mp4")
    data = emulator_client(endpoint).bucket(bucket).blob(video.uri.removeprefix(f"gs://{bucket}/"))
    with av.open(io.BytesIO(data.download_as_bytes())) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    assert simulator.counters()["vertex.poll"] == 2 and simulator.counters()["token"] >= 1


def test_inline_video_bytes_parse(simulator, service_account_info):
    """Without an output URI the SDK gets ``video_bytes``."""
    simulator.configure(render_seconds=0)
    client = sdk_client(simulator, service_account_info, "v1")
    operation = client.models.generate_videos(
        model=MODEL,
        source=GenerateVideosSource(prompt="fireflies"),
        config=GenerateVideosConfig(generate_audio=False),
    )
    operation = client.operations.get(operation)
    video = operation.response.generated_videos[0].video
    assert video.uri is None and video.video_bytes[4:8] == b"ftyp"


def test_filtered_and_failed_operations_parse(simulator, service_account_info):
    """A filtered result and an operation error both parse into the SDK's types."""
    simulator.configure(render_seconds=0)
    client = sdk_client(simulator, service_account_info, "v1")
    config = GenerateVideosConfig(generate_audio=True)
    filtered = client.operations.get(
        client.models.generate_videos(
            model=MODEL, source=GenerateVideosSource(prompt="a nightmare"), config=config
        )
    )
    assert filtered.response.rai_media_filtered_count == 1
    assert filtered.response.rai_media_filtered_reasons
    assert not filtered.response.generated_videos
    simulator.inject("vertex.create", "operation_error")
    failed = client.operations.get(
        client.models.generate_videos(
            model=MODEL, source=GenerateVideosSource(prompt="x"), config=config
        )
    )
    assert failed.done and failed.error["code"] == 13


def test_error_envelopes_become_sdk_errors(simulator, service_account_info):
    """429 RESOURCE_EXHAUSTED and a 400 out-of-range duration are typed SDK errors."""
    client = sdk_client(simulator, service_account_info, "v1")
    simulator.inject("vertex.create", "429")
    with pytest.raises(errors.ClientError) as limited:
        client.models.generate_videos(
            model=MODEL,
            source=GenerateVideosSource(prompt="x"),
            config=GenerateVideosConfig(generate_audio=True),
        )
    assert (limited.value.code, limited.value.status) == (429, "RESOURCE_EXHAUSTED")
    with pytest.raises(errors.ClientError) as invalid:
        client.models.generate_videos(
            model=MODEL,
            source=GenerateVideosSource(prompt="x"),
            config=GenerateVideosConfig(generate_audio=True, duration_seconds=10),
        )
    assert invalid.value.code == 400 and "between 4 and 8" in invalid.value.message
