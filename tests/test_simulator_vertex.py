"""The Vertex (Veo) dialect and the OAuth2 token endpoint, over real HTTP.

Calls carry tokens google-auth fetched from the simulator's ``/token`` with a throwaway
service-account key; outputs land in fake-gcs-server and are decoded with PyAV.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator

import av
import google.auth.exceptions
import google.auth.transport.requests
import pytest
import requests
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

from tests.fixtures.gcs import TEST_PROJECT, create_bucket, emulator_client
from tests.fixtures.simulator import CLOUD_PLATFORM_SCOPE, SimulatorHandle

MODEL = "veo-3.1-fast-generate-001"
OPERATION = re.compile(
    rf"^projects/{TEST_PROJECT}/locations/us-central1/publishers/google/models/{MODEL}/"
    r"operations/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
OUTPUT_NAME = re.compile(r"^veo/job-1/(\d{20})/sample_(\d)\.mp4$")
AUDIO = {"generateAudio": True}


@pytest.fixture
def session(simulator, service_account_info) -> Iterator[AuthorizedSession]:
    """An AuthorizedSession: google-auth's real refresh against the simulator's /token."""
    credentials = service_account.Credentials.from_service_account_info(
        service_account_info, scopes=[CLOUD_PLATFORM_SCOPE]
    )
    # No refresh-and-retry on 401: tests must see the simulator's 401 answers as they are.
    with AuthorizedSession(credentials, refresh_status_codes=()) as authorized:
        yield authorized


def model_url(simulator: SimulatorHandle, model: str = MODEL, version: str = "v1") -> str:
    """The model resource URL the calls are made on."""
    return (
        f"{simulator.url}/{version}/projects/{TEST_PROJECT}/locations/us-central1/"
        f"publishers/google/models/{model}"
    )


def start(session, simulator, *, model: str = MODEL, prompt: str = "a tide of stars", **params):
    """``predictLongRunning``; returns the raw response."""
    body = {"instances": [{"prompt": prompt}], "parameters": {**AUDIO, **params}}
    return session.post(f"{model_url(simulator, model)}:predictLongRunning", json=body)


def poll(session, simulator, name: str, version: str = "v1") -> requests.Response:
    """``fetchPredictOperation`` for an operation name."""
    resource = name.rpartition("/operations/")[0]
    url = f"{simulator.url}/{version}/{resource}:fetchPredictOperation"
    return session.post(url, json={"operationName": name})


def google_error(response: requests.Response, code: int, status: str) -> str:
    """Check Google's envelope and return its message."""
    assert response.status_code == code, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "status"}
    assert (body["error"]["code"], body["error"]["status"]) == (code, status)
    return body["error"]["message"]


def decodes_as_h264(data: bytes) -> bool:
    """Whether the bytes demux and decode as an H.264 video with at least one frame."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.codec_context.name == "h264" and frames > 0


# --- the token endpoint -----------------------------------------------------------------------


def test_google_auth_refresh_gets_a_token_from_the_simulator(simulator, service_account_info):
    """service_account.Credentials.refresh posts its signed JWT to our /token."""
    credentials = service_account.Credentials.from_service_account_info(
        service_account_info, scopes=[CLOUD_PLATFORM_SCOPE]
    )
    credentials.refresh(google.auth.transport.requests.Request())
    assert credentials.valid and credentials.token.startswith("ya29.sim.")
    assert simulator.counters()["token"] == 1


def test_token_endpoint_rejects_unknown_accounts_forged_signatures_and_bad_grants(
    simulator, service_account_info
):
    """An untrusted issuer, a tampered signature and a wrong grant type are 400s."""
    other = dict(service_account_info, client_email="stranger@x.iam.gserviceaccount.com")
    credentials = service_account.Credentials.from_service_account_info(
        other, scopes=[CLOUD_PLATFORM_SCOPE]
    )
    with pytest.raises(google.auth.exceptions.RefreshError, match="account not found"):
        credentials.refresh(google.auth.transport.requests.Request())
    genuine = service_account.Credentials.from_service_account_info(
        service_account_info, scopes=[CLOUD_PLATFORM_SCOPE]
    )
    assertion = genuine._make_authorization_grant_assertion().decode()
    head, claims, signature = assertion.split(".")
    forged = f"{head}.{claims}.{signature[:-4]}AAAA"
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    answer = requests.post(simulator.token_url, data={"grant_type": grant, "assertion": forged})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    wrong = requests.post(simulator.token_url, data={"grant_type": "password"})
    assert wrong.json()["error"] == "unsupported_grant_type"
    good = requests.post(simulator.token_url, data={"grant_type": grant, "assertion": assertion})
    assert good.status_code == 200 and good.json()["token_type"] == "Bearer"


def test_calls_without_a_simulator_token_get_401_unauthenticated(simulator):
    """No header, a made-up token, and an expired one are all refused."""
    body = {"instances": [{"prompt": "x"}], "parameters": AUDIO}
    url = f"{model_url(simulator)}:predictLongRunning"
    assert "missing" in google_error(requests.post(url, json=body), 401, "UNAUTHENTICATED")
    made_up = requests.post(url, json=body, headers={"Authorization": "Bearer ya29.fake"})
    assert "invalid" in google_error(made_up, 401, "UNAUTHENTICATED")
    expired = simulator.app.tokens.issue("sa", lifetime=-1)
    late = requests.post(url, json=body, headers={"Authorization": f"Bearer {expired}"})
    google_error(late, 401, "UNAUTHENTICATED")
    assert simulator.counters()["vertex.create"] == 3
    assert simulator.app.core.jobs_of("vertex") == []


def test_short_token_lifetimes_make_google_auth_refresh_again(simulator, session):
    """With tokens that expire at once, every call refreshes: the token route counts them."""
    simulator.configure(token_seconds=60)  # inside google-auth's refresh margin
    for _ in range(2):
        assert start(session, simulator).status_code == 200
    assert simulator.counters()["token"] == 2


# --- create, poll, outputs --------------------------------------------------------------------


def test_operation_runs_then_writes_real_mp4s_into_the_bucket(vertex_simulator, session):
    """``done: false`` while rendering; then videos at <prefix>/<20 digits>/sample_i.mp4."""
    simulator = vertex_simulator
    bucket = create_bucket(simulator.app.settings()["gcs_endpoint"])
    created = start(session, simulator, storageUri=f"gs://{bucket}/veo/job-1/", sampleCount=2)
    assert created.status_code == 200 and set(created.json()) == {"name"}
    name = created.json()["name"]
    assert OPERATION.match(name)
    assert poll(session, simulator, name).json() == {"name": name, "done": False}
    simulator.complete(name)
    operation = poll(session, simulator, name, version="v1beta1").json()
    assert operation["done"] is True and "error" not in operation
    response = operation["response"]
    assert response["raiMediaFilteredCount"] == 0
    client = emulator_client(simulator.app.settings()["gcs_endpoint"])
    uris = [video["gcsUri"] for video in response["videos"]]
    assert [video["mimeType"] for video in response["videos"]] == ["video/mp4"] * 2
    names = [uri.removeprefix(f"gs://{bucket}/") for uri in uris]
    assert [OUTPUT_NAME.match(item)[2] for item in names] == ["0", "1"]
    assert len({OUTPUT_NAME.match(item)[1] for item in names}) == 1
    blobs = [client.bucket(bucket).blob(item).download_as_bytes() for item in names]
    assert blobs[0] != blobs[1]
    assert all(decodes_as_h264(data) for data in blobs)


def test_video_bytes_sets_the_size_of_written_objects(vertex_simulator, session):
    """A configured size is written exactly (streamed, with a Content-Length)."""
    simulator = vertex_simulator
    simulator.configure(render_seconds=0, video_bytes=3 * 1024 * 1024)
    bucket = create_bucket(simulator.app.settings()["gcs_endpoint"])
    name = start(session, simulator, storageUri=f"gs://{bucket}/out").json()["name"]
    uri = poll(session, simulator, name).json()["response"]["videos"][0]["gcsUri"]
    blob = emulator_client(simulator.app.settings()["gcs_endpoint"]).bucket(bucket)
    blob = blob.get_blob(uri.removeprefix(f"gs://{bucket}/"))
    assert blob.size == 3 * 1024 * 1024 and blob.content_type == "video/mp4"


def test_without_storage_uri_the_video_comes_back_inline(simulator, session):
    """``bytesBase64Encoded`` holds a decodable MP4."""
    simulator.configure(render_seconds=0)
    name = start(session, simulator).json()["name"]
    video = poll(session, simulator, name).json()["response"]["videos"][0]
    assert set(video) == {"bytesBase64Encoded", "mimeType"}
    assert decodes_as_h264(base64.b64decode(video["bytesBase64Encoded"]))


def test_a_large_inline_output_fails_asking_for_a_storage_uri(simulator, session):
    """Above the inline limit: done + error code 3, as the real service answers."""
    simulator.configure(render_seconds=0, video_bytes=200_000, inline_limit_bytes=100_000)
    name = start(session, simulator).json()["name"]
    operation = poll(session, simulator, name).json()
    assert operation["done"] is True and "response" not in operation
    assert operation["error"] == {
        "code": 3,
        "message": "Generated video is large, an output storage uri is required.",
    }


def test_an_unwritable_bucket_fails_the_operation(vertex_simulator, session):
    """A bucket the emulator does not have: done + error naming the write."""
    vertex_simulator.configure(render_seconds=0)
    name = start(session, vertex_simulator, storageUri="gs://no-such-bucket/x/").json()["name"]
    error = poll(session, vertex_simulator, name).json()["error"]
    assert error["code"] == 7 and "gs://no-such-bucket/x/" in error["message"]


def test_storage_uri_without_a_configured_gcs_endpoint_is_refused(simulator, session):
    """The simulator says what to configure instead of pretending to write."""
    answer = start(session, simulator, storageUri="gs://b/p/")
    assert "gcs_endpoint" in google_error(answer, 400, "FAILED_PRECONDITION")


def test_a_get_on_the_operation_is_the_real_400(simulator, session):
    """Veo's UUID operation ids cannot be read with GET."""
    name = start(session, simulator).json()["name"]
    message = google_error(session.get(f"{simulator.url}/v1/{name}"), 400, "INVALID_ARGUMENT")
    assert message == f"The Operation ID must be a Long, but was instead: {name.rpartition('/')[2]}"
    assert simulator.counters()["vertex.get_operation"] == 1


def test_a_moderated_prompt_ends_with_every_sample_filtered(simulator, session):
    """done, no error, no videos, raiMediaFilteredCount = sampleCount with a reason."""
    simulator.configure(render_seconds=0)
    name = start(session, simulator, prompt="a nightmare", sampleCount=2).json()["name"]
    response = poll(session, simulator, name).json()["response"]
    assert response["raiMediaFilteredCount"] == 2 and "videos" not in response
    assert "Support codes" in response["raiMediaFilteredReasons"][0]


@pytest.mark.parametrize(
    ("model", "params", "needle"),
    [
        (MODEL, {"durationSeconds": 10}, "between 4 and 8, inclusive"),
        (MODEL, {"durationSeconds": 5}, "durationSeconds"),
        (MODEL, {"aspectRatio": "1:1"}, "aspectRatio"),
        ("veo-3.1-lite-generate-001", {"resolution": "4k"}, "resolution"),
        (MODEL, {"sampleCount": 5}, "sampleCount"),
        (MODEL, {"generateAudio": None}, "generateAudio"),
        (MODEL, {"storageUri": "s3://bucket/x"}, "storageUri"),
    ],
)
def test_out_of_range_parameters_are_invalid_argument(simulator, session, model, params, needle):
    """Each model's durations, ratios and resolutions are enforced."""
    body = {"instances": [{"prompt": "x"}], "parameters": {**AUDIO, **params}}
    body["parameters"] = {k: v for k, v in body["parameters"].items() if v is not None}
    answer = session.post(f"{model_url(simulator, model)}:predictLongRunning", json=body)
    assert needle in google_error(answer, 400, "INVALID_ARGUMENT")


def test_4k_is_accepted_on_the_full_model_and_unknown_models_are_404(simulator, session):
    """Full and fast take 4k; a retired model id is NOT_FOUND."""
    assert start(session, simulator, model="veo-3.1-generate-001", resolution="4k").ok
    retired = start(session, simulator, model="veo-3.0-generate-001")
    assert "veo-3.0-generate-001" in google_error(retired, 404, "NOT_FOUND")


def test_polling_unknown_or_malformed_operations(simulator, session):
    """A well-formed unknown name is 404, a malformed one 400."""
    name = start(session, simulator).json()["name"]
    other = name[:-12] + "000000000000"
    google_error(poll(session, simulator, other), 404, "NOT_FOUND")
    malformed = session.post(
        f"{model_url(simulator)}:fetchPredictOperation", json={"operationName": "op-1"}
    )
    google_error(malformed, 400, "INVALID_ARGUMENT")


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code", "status"),
    [("429", 429, "RESOURCE_EXHAUSTED"), ("quota", 429, "RESOURCE_EXHAUSTED"),
     ("500", 500, "INTERNAL"), ("503", 503, "UNAVAILABLE"), ("401", 401, "UNAUTHENTICATED")],
)  # fmt: skip
def test_answering_faults_use_google_envelopes_and_start_nothing(
    simulator, session, fault, code, status
):
    """A faulted create answers the envelope; no operation exists afterwards."""
    simulator.inject("vertex.create", fault)
    google_error(start(session, simulator), code, status)
    assert simulator.app.core.jobs_of("vertex") == []
    simulator.inject("vertex.poll", fault)
    name = start(session, simulator).json()["name"]
    google_error(poll(session, simulator, name), code, status)


def test_operation_error_fault_ends_done_with_an_error(simulator, session):
    """``operation_error`` on create: the operation ends done + error (INTERNAL)."""
    simulator.configure(render_seconds=0)
    simulator.inject("vertex.create", "operation_error")
    name = start(session, simulator).json()["name"]
    operation = poll(session, simulator, name).json()
    assert operation["done"] is True and operation["error"]["code"] == 13


def test_filtered_fault_filters_an_innocent_prompt(simulator, session):
    """``filtered`` on create: all samples filtered although the prompt is fine."""
    simulator.configure(render_seconds=0)
    simulator.inject("vertex.create", "filtered")
    name = start(session, simulator).json()["name"]
    assert poll(session, simulator, name).json()["response"]["raiMediaFilteredCount"] == 1


def test_hang_and_truncate_faults_on_poll(simulator, session):
    """A hung poll times a client out; a truncated one is unparsable JSON."""
    name = start(session, simulator).json()["name"]
    resource = name.rpartition("/operations/")[0]
    url = f"{simulator.url}/v1/{resource}:fetchPredictOperation"
    simulator.inject("vertex.poll", "truncate", after_bytes=10)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session.post(url, json={"operationName": name})
    simulator.inject("vertex.poll", "hang", hang_seconds=5)
    with pytest.raises(requests.Timeout):
        session.post(url, json={"operationName": name}, timeout=0.3)
    assert simulator.counters()["vertex.poll"] == 2


def test_outcome_faults_are_refused_on_other_routes(simulator):
    """``filtered`` only makes sense on create."""
    with pytest.raises(ValueError, match="fault must be one of"):
        simulator.inject("vertex.poll", "filtered")
