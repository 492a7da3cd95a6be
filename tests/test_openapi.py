"""The OpenAPI document: valid 3.1, and real responses conform to it (examples and fuzzing)."""

from __future__ import annotations

import json
import string
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT_URI = "urn:dreamweb:openapi"


@pytest.fixture
def document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def check_response(document: dict, path: str, method: str, response) -> None:
    """Fail unless ``response`` is a documented status whose JSON body matches its schema."""
    operation = document["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], (
        f"{method.upper()} {path} answered undocumented {status}"
    )
    documented = operation["responses"][status]
    content = documented.get("content", {})
    if "application/json" in content:
        registry = Registry().with_resource(
            DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
        )
        schema = {"$ref": DOCUMENT_URI + "#" + _pointer(content["application/json"]["schema"])}
        Draft202012Validator(schema, registry=registry).validate(response.get_json())
    for header in documented.get("headers", {}):
        if header in ("Location", "Retry-After", "Content-Range"):
            assert header in response.headers, f"{status} should carry {header}"


def _pointer(schema: dict) -> str:
    return schema["$ref"].lstrip("#")


def test_document_is_valid_openapi_31(document):
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/api/create-video",
        "/api/video-status/{jobId}",
        "/api/get-video/{jobId}",
        "/api/videos/{jobId}",
    }
    delete = document["paths"]["/api/videos/{jobId}"]["delete"]
    assert {"204", "401", "404", "405"} <= set(delete["responses"])


def test_real_responses_conform(client, document, simulator):
    simulator.configure(render_seconds=0.3)
    create = "/api/create-video"
    status = "/api/video-status/{jobId}"
    video = "/api/get-video/{jobId}"
    created = client.post(create, json={"prompt": "a dream of a paper boat at sea"})
    check_response(document, create, "post", created)
    check_response(document, create, "post", client.post(create, data="nope"))
    job_id = created.get_json()["jobId"]
    check_response(document, video, "get", client.get(f"/api/get-video/{job_id}"))
    deadline = time.monotonic() + 15
    while True:
        answer = client.get(f"/api/video-status/{job_id}")
        check_response(document, status, "get", answer)
        if answer.get_json()["status"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert answer.get_json()["status"] == "completed"
    check_response(document, video, "get", client.get(f"/api/get-video/{job_id}"))
    failed = client.post(create, json={"prompt": "a nightmare of endless stairs"}).get_json()
    deadline = time.monotonic() + 15
    while (answer := client.get(f"/api/video-status/{failed['jobId']}")).get_json()[
        "status"
    ] != "failed" and time.monotonic() < deadline:
        time.sleep(0.1)
    check_response(document, status, "get", answer)
    assert answer.get_json()["status"] == "failed"
    check_response(document, status, "get", client.get("/api/video-status/bad"))
    check_response(document, status, "get", client.get("/api/video-status/video_unknownJob1"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
create_bodies = st.one_of(
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"prompt": st.text(max_size=600)},
        optional={
            "seconds": json_values | st.sampled_from(["4", "8", "12", 4]),
            "size": json_values | st.sampled_from(["1280x720", "720x1280"]),
        },
    ).map(json.dumps),
    st.binary(max_size=200).map(lambda raw: raw.decode("latin-1")),
)
job_ids = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "_-.%/é", max_size=60),
    st.text(alphabet=string.ascii_letters + string.digits, min_size=0, max_size=50).map(
        lambda tail: "video_" + tail
    ),
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(body=create_bodies)
def test_fuzzed_create_bodies_never_5xx_and_conform(client, document, simulator, body):
    response = client.post("/api/create-video", data=body, content_type="application/json")
    assert response.status_code < 500
    check_response(document, "/api/create-video", "post", response)


@FUZZ
@given(job_id=job_ids)
def test_fuzzed_job_ids_never_5xx_and_conform(client, document, job_id):
    for path, url in (
        ("/api/video-status/{jobId}", f"/api/video-status/{job_id}"),
        ("/api/get-video/{jobId}", f"/api/get-video/{job_id}"),
    ):
        response = client.get(url)
        if response.status_code in (308, 301):  # werkzeug's slash/merge redirects
            continue
        assert response.status_code < 500
        if response.status_code == 404 and response.get_json()["error"] == "Not found":
            continue  # the path did not reach the route at all (e.g. an empty id)
        check_response(document, path, "get", response)


def test_token_and_delete_responses_conform(app_config, document, simulator):
    from dreamweb import create_app

    token = "conformance-token-0123456789"
    client = create_app({**app_config, "API_TOKENS": token}).test_client()
    create, delete = "/api/create-video", "/api/videos/{jobId}"
    body = {"prompt": "a dream of a paper boat at sea"}
    check_response(document, create, "post", client.post(create, json=body))
    auth = {"Authorization": f"Bearer {token}"}
    job_id = client.post(create, json=body, headers=auth).get_json()["jobId"]
    check_response(document, delete, "delete", client.delete(f"/api/videos/{job_id}"))
    check_response(document, delete, "delete", client.delete(f"/api/videos/{job_id}", headers=auth))
    check_response(document, delete, "delete", client.delete(f"/api/videos/{job_id}", headers=auth))
    untokened = create_app(app_config).test_client()
    check_response(document, delete, "delete", untokened.delete(f"/api/videos/{job_id}"))
