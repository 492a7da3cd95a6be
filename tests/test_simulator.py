"""The Videos API simulator, driven over real loopback HTTP with ``requests`` and ``api.client``.

Each test gets a reset simulator (``tests/fixtures/simulator.py``) rendering in 1 s unless it
configures otherwise. Tests that need different constructor options serve their own instance.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection, HTTPResponse, IncompleteRead
from typing import Any
from urllib.parse import urlsplit

import av
import pytest
import requests
from PIL import Image

from dreamweb.simulator import VideoSimulator, make_simulator_server, root_url
from dreamweb.simulator.media import CHUNK_SIZE, MediaLibrary, free_box_tag
from tests.fixtures.simulator import SimulatorHandle

VIDEO_KEYS = {
    "id",
    "object",
    "model",
    "status",
    "progress",
    "created_at",
    "completed_at",
    "expires_at",
    "prompt",
    "size",
    "seconds",
    "remixed_from_video_id",
    "error",
}
VIDEO_ID = re.compile(r"^video_[0-9a-f]{48}$")
AUTH = {"Authorization": "Bearer sk-test"}
MIB = 1024 * 1024


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture
def api(simulator: SimulatorHandle) -> Iterator[requests.Session]:
    """A ``requests`` session that sends an API key."""
    with requests.Session() as session:
        session.headers.update(AUTH)
        yield session


def create(api: requests.Session, simulator: SimulatorHandle, **fields: Any) -> dict[str, Any]:
    """Create a job with a JSON body and return the Video object."""
    fields.setdefault("prompt", "a lighthouse that breathes")
    response = api.post(f"{simulator.base_url}/videos", json=fields)
    assert response.status_code == 200, response.text
    return response.json()


def completed_video(api: requests.Session, simulator: SimulatorHandle, **fields: Any) -> str:
    """Create a job, finish it through the control API and return its id."""
    video_id = create(api, simulator, **fields)["id"]
    simulator.complete(video_id)
    return video_id


def download(api: requests.Session, simulator: SimulatorHandle, video_id: str, **params: str):
    """GET the content of a job."""
    return api.get(f"{simulator.base_url}/videos/{video_id}/content", params=params)


def error_of(response: requests.Response) -> dict[str, Any]:
    """The ``error`` object of an OpenAI envelope, checking the envelope's shape on the way."""
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def top_level_boxes(data: bytes) -> list[tuple[str, int, int]]:
    """``(type, offset, size)`` of each top-level MP4 box; fails on a malformed layout."""
    boxes, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        assert size >= 8, f"bad box size {size} at {offset}"
        boxes.append((kind.decode("ascii"), offset, size))
        offset += size
    assert offset == len(data), "boxes do not add up to the file size"
    return boxes


@contextlib.contextmanager
def served(app: VideoSimulator) -> Iterator[str]:
    """Serve a separately configured simulator on loopback; yield its API base URL."""
    server = make_simulator_server(app, access_log=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{root_url(server)}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def raw_get(url: str, headers: dict[str, str]) -> HTTPResponse:
    """Start a GET with ``api.client`` (no retries, no body handling) and return the response."""
    parts = urlsplit(url)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request(
        "GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers
    )
    return connection.getresponse()


# --- create and the Video object --------------------------------------------------------------


def test_create_from_multipart_form_returns_a_full_queued_video(simulator, api):
    """The SDK's way: multipart fields, no file. Defaults fill model, seconds and size."""
    before = int(time.time())
    response = api.post(f"{simulator.base_url}/videos", files={"prompt": (None, "a cat on a moon")})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    video = response.json()
    assert set(video) == VIDEO_KEYS
    assert VIDEO_ID.match(video["id"])
    assert video["object"] == "video"
    assert (video["model"], video["seconds"], video["size"]) == ("sora-2", "4", "720x1280")
    assert (video["status"], video["progress"]) == ("queued", 0)
    assert video["prompt"] == "a cat on a moon"
    assert before <= video["created_at"] <= int(time.time())
    for nullable in ("completed_at", "expires_at", "remixed_from_video_id", "error"):
        assert video[nullable] is None


def test_create_from_json_uses_every_given_field(simulator, api):
    """A JSON body with a pro model, a pro-only size and a long duration."""
    video = create(api, simulator, model="sora-2-pro", seconds="12", size="1792x1024")
    assert (video["model"], video["seconds"], video["size"]) == ("sora-2-pro", "12", "1792x1024")


def test_create_from_urlencoded_form(simulator, api):
    """Plain HTML-form encoding is a form body too."""
    response = api.post(f"{simulator.base_url}/videos", data={"prompt": "tide", "seconds": "8"})
    assert response.status_code == 200
    assert response.json()["seconds"] == "8"


def test_input_reference_is_accepted_and_ignored(simulator, api):
    """Both shapes of ``input_reference`` (an upload, a JSON object) are accepted, unused."""
    upload = api.post(
        f"{simulator.base_url}/videos",
        data={"prompt": "from a still"},
        files={"input_reference": ("first.png", b"\x89PNG not really", "image/png")},
    )
    assert upload.status_code == 200, upload.text
    as_json = create(api, simulator, input_reference={"image_url": "https://example.com/a.png"})
    assert as_json["status"] == "queued"


@pytest.mark.parametrize(
    ("fields", "param", "message"),
    [
        (
            {"seconds": "15"},
            "seconds",
            "Invalid value: '15'. Supported values are: '4', '8', and '12'.",
        ),
        (
            {"seconds": 15},
            "seconds",
            "Invalid type for 'seconds': expected one of '4', '8', or '12', "
            "but got an integer instead.",
        ),
        ({"width": 640}, "width", "Unknown parameter: 'width'."),
        (
            {"model": "sora-3"},
            "model",
            "Invalid value: 'sora-3'. Supported values are: 'sora-2' and 'sora-2-pro'.",
        ),
        (
            {"size": "1792x1024"},  # a pro size, asked of sora-2
            "size",
            "Invalid value: '1792x1024'. Supported values are: '720x1280' and '1280x720'.",
        ),
        ({"prompt": None}, "prompt", "Missing required parameter: 'prompt'."),
        (
            {"prompt": 7},
            "prompt",
            "Invalid type for 'prompt': expected a string, but got an integer instead.",
        ),
        ({"prompt": ""}, "prompt", None),
        ({"prompt": "x" * 32001}, "prompt", None),
    ],
)
def test_create_rejects_bad_fields_with_openai_envelopes(simulator, api, fields, param, message):
    """Each invalid field gets a 400 ``invalid_request_error`` naming it, with OpenAI's wording."""
    body = {"prompt": "a dream", **fields}
    if body["prompt"] is None:
        del body["prompt"]
    response = api.post(f"{simulator.base_url}/videos", json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    if message is not None:
        assert error["message"] == message
    assert api.get(f"{simulator.base_url}/videos").json()["data"] == []


def test_create_rejects_a_body_that_is_not_json(simulator, api):
    """A JSON content type with a broken body is a 400, not a crash."""
    response = api.post(
        f"{simulator.base_url}/videos",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "could not parse the JSON body" in error_of(response)["message"]


def test_allowed_values_and_trigger_word_are_constructor_options():
    """A gateway-like configuration: other models, durations, sizes and moderation word."""
    gateway = VideoSimulator(
        render_seconds=0,
        allowed_models=("veo-3",),
        allowed_seconds=("5", "10"),
        allowed_sizes=("1920x1080",),
        trigger_word="forbidden",
    )
    with served(gateway) as base_url, requests.Session() as session:
        session.headers.update(AUTH)
        video = session.post(f"{base_url}/videos", json={"prompt": "ok"}).json()
        assert (video["model"], video["seconds"], video["size"]) == ("veo-3", "5", "1920x1080")
        refused = session.post(f"{base_url}/videos", json={"prompt": "ok", "seconds": "4"})
        assert error_of(refused)["message"] == (
            "Invalid value: '4'. Supported values are: '5' and '10'."
        )
        blocked = session.post(f"{base_url}/videos", json={"prompt": "a FORBIDDEN dream"}).json()
        assert blocked["status"] == "failed"
        nightmare = session.post(f"{base_url}/videos", json={"prompt": "a nightmare"}).json()
        assert nightmare["status"] == "completed"


# --- auth, ids, request ids -------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "", "Bearer ", "Basic abc"])
def test_requests_without_a_bearer_key_get_401(simulator, authorization):
    """No key, an empty key or another scheme: 401 in OpenAI's envelope."""
    headers = {} if authorization is None else {"Authorization": authorization}
    response = requests.post(f"{simulator.base_url}/videos", json={"prompt": "x"}, headers=headers)
    assert response.status_code == 401
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert "API key" in error["message"]
    assert simulator.counters()["create"] == 1


def test_require_key_can_be_switched_off(simulator):
    """``require_key=False`` accepts anonymous calls (e.g. for a demo)."""
    simulator.configure(require_key=False)
    response = requests.post(f"{simulator.base_url}/videos", json={"prompt": "x"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("DELETE", ""), ("GET", "/content"), ("POST", "/remix")],
)
def test_unknown_video_ids_get_404(simulator, api, method, suffix):
    """Every per-video route answers 404 ``video_not_found`` for an id it never issued."""
    unknown = "video_" + "0" * 48
    response = api.request(
        method, f"{simulator.base_url}/videos/{unknown}{suffix}", json={"prompt": "x"}
    )
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "video_not_found"
    assert unknown in error["message"]


def test_unknown_paths_get_an_invalid_url_404(simulator, api):
    """Routes the API does not have answer like OpenAI's ``Invalid URL``."""
    response = api.put(f"{simulator.base_url}/videos")
    assert response.status_code == 404
    assert error_of(response)["message"] == "Invalid URL (PUT /v1/videos)"


def test_every_response_carries_a_request_id(simulator, api):
    """Success, API error, unknown path, fault and control answers all have ``x-request-id``."""
    simulator.inject("list", "500")
    responses = [
        api.post(f"{simulator.base_url}/videos", json={"prompt": "x"}),
        api.post(f"{simulator.base_url}/videos", json={"prompt": "x", "seconds": "3"}),
        api.get(f"{simulator.url}/nowhere"),
        api.get(f"{simulator.base_url}/videos"),
        api.get(f"{simulator.url}/_sim/health"),
    ]
    ids = [response.headers["x-request-id"] for response in responses]
    assert all(re.fullmatch(r"req_[0-9a-f]{32}", request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)


# --- the state machine ------------------------------------------------------------------------


def test_status_moves_from_queued_through_in_progress_to_completed(simulator, api):
    """Polling sees queued, then rising progress, then completed with both timestamps set."""
    simulator.configure(render_seconds=0.8, expires_seconds=600)
    video = create(api, simulator)
    assert video["status"] == "queued"
    seen, progress = [video["status"]], [video["progress"]]
    deadline = time.monotonic() + 10
    while video["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)
        video = api.get(f"{simulator.base_url}/videos/{video['id']}").json()
        seen.append(video["status"])
        progress.append(video["progress"])
    statuses = list(dict.fromkeys(seen))
    assert statuses == ["queued", "in_progress", "completed"]
    assert progress == sorted(progress), "progress went backwards"
    in_progress = [p for s, p in zip(seen, progress, strict=True) if s == "in_progress"]
    assert all(1 <= p <= 99 for p in in_progress)
    assert len(set(in_progress)) > 1, "progress did not rise while rendering"
    assert video["progress"] == 100
    assert video["completed_at"] >= video["created_at"]
    assert video["expires_at"] == video["completed_at"] + 600
    assert video["error"] is None
    assert simulator.video(video["id"]) == video


def test_zero_render_seconds_completes_at_once(simulator, api):
    """``render_seconds=0``: the create answer is already final."""
    simulator.configure(render_seconds=0)
    video = create(api, simulator)
    assert (video["status"], video["progress"]) == ("completed", 100)
    assert video["expires_at"] == video["completed_at"] + 3600


def test_render_seconds_applies_to_jobs_created_after_the_change(simulator, api):
    """A job keeps the render time it started with."""
    slow = create(api, simulator)
    simulator.configure(render_seconds=0)
    fast = create(api, simulator)
    assert fast["status"] == "completed"
    assert api.get(f"{simulator.base_url}/videos/{slow['id']}").json()["status"] != "completed"


def test_a_trigger_word_prompt_ends_failed_with_moderation_blocked(simulator, api):
    """The trigger word matches case-insensitively, inside other words too."""
    video = create(api, simulator, prompt="My recurring NightMares about teeth")
    assert video["status"] == "queued"  # moderation strikes at the end, not at create
    final = simulator.complete(video["id"])
    assert final["status"] == "failed"
    assert final["error"] == {
        "code": "moderation_blocked",
        "message": "Your request was blocked by our moderation system.",
    }
    assert final["expires_at"] is None
    fetched = api.get(f"{simulator.base_url}/videos/{video['id']}").json()
    assert fetched == final


def test_moderation_also_fails_jobs_that_finish_on_their_own(simulator, api):
    """Without the control API: a blocked job reports failed once its render time is over."""
    simulator.configure(render_seconds=0.2)
    video = create(api, simulator, prompt="a nightmare")
    time.sleep(0.3)
    assert api.get(f"{simulator.base_url}/videos/{video['id']}").json()["status"] == "failed"


# --- list -------------------------------------------------------------------------------------


def test_list_paginates_newest_first_with_cursors(simulator, api):
    """Default order is desc; ``after`` continues from a page's ``last_id``."""
    ids = [create(api, simulator, prompt=f"dream {n}")["id"] for n in range(5)]
    newest_first = ids[::-1]
    page = api.get(f"{simulator.base_url}/videos", params={"limit": 2}).json()
    assert set(page) == {"object", "data", "first_id", "last_id", "has_more"}
    assert page["object"] == "list"
    assert [video["id"] for video in page["data"]] == newest_first[:2]
    assert (page["first_id"], page["last_id"], page["has_more"]) == (ids[4], ids[3], True)
    assert all(set(video) == VIDEO_KEYS for video in page["data"])
    collected = [video["id"] for video in page["data"]]
    while page["has_more"]:
        page = api.get(
            f"{simulator.base_url}/videos", params={"limit": 2, "after": page["last_id"]}
        ).json()
        collected += [video["id"] for video in page["data"]]
    assert collected == newest_first
    assert page["has_more"] is False


def test_list_ascending_and_exact_final_page(simulator, api):
    """``order=asc`` lists oldest first; a page that ends the list says ``has_more`` false."""
    ids = [create(api, simulator)["id"] for _ in range(3)]
    page = api.get(f"{simulator.base_url}/videos", params={"order": "asc", "limit": 3}).json()
    assert [video["id"] for video in page["data"]] == ids
    assert page["has_more"] is False
    rest = api.get(f"{simulator.base_url}/videos", params={"order": "asc", "after": ids[0]}).json()
    assert [video["id"] for video in rest["data"]] == ids[1:]


def test_list_when_empty_and_with_limit_zero(simulator, api):
    """No jobs: empty data with null ids. ``limit=0``: no data, but ``has_more`` tells."""
    empty = api.get(f"{simulator.base_url}/videos").json()
    assert empty == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
    create(api, simulator)
    zero = api.get(f"{simulator.base_url}/videos", params={"limit": 0}).json()
    assert (zero["data"], zero["has_more"]) == ([], True)


def test_list_skips_deleted_jobs_but_accepts_their_ids_as_cursors(simulator, api):
    """Deleting the job a client is paging from must not break its next page."""
    ids = [create(api, simulator)["id"] for _ in range(3)]
    api.delete(f"{simulator.base_url}/videos/{ids[1]}").raise_for_status()
    listed = api.get(f"{simulator.base_url}/videos").json()
    assert [video["id"] for video in listed["data"]] == [ids[2], ids[0]]
    after_deleted = api.get(f"{simulator.base_url}/videos", params={"after": ids[1]}).json()
    assert [video["id"] for video in after_deleted["data"]] == [ids[0]]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": "101"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "sideways"}, "order"),
        ({"after": "video_" + "f" * 48}, "after"),
    ],
)
def test_list_rejects_bad_query_parameters(simulator, api, params, param):
    """Out-of-range limits, unknown orders and unknown cursors are 400s naming the parameter."""
    response = api.get(f"{simulator.base_url}/videos", params=params)
    assert response.status_code == 400
    assert error_of(response)["param"] == param


# --- delete -----------------------------------------------------------------------------------


def test_delete_answers_the_deleted_object_and_forgets_the_job(simulator, api):
    """After delete: retrieve, content and a second delete are 404s."""
    video_id = completed_video(api, simulator)
    response = api.delete(f"{simulator.base_url}/videos/{video_id}")
    assert response.status_code == 200
    assert response.json() == {"id": video_id, "object": "video.deleted", "deleted": True}
    assert api.get(f"{simulator.base_url}/videos/{video_id}").status_code == 404
    assert download(api, simulator, video_id).status_code == 404
    assert api.delete(f"{simulator.base_url}/videos/{video_id}").status_code == 404


# --- content ----------------------------------------------------------------------------------


def test_content_before_completion_is_a_400_not_ready(simulator, api):
    """A queued job has nothing to download yet."""
    video_id = create(api, simulator)["id"]
    response = download(api, simulator, video_id)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "video_not_ready"
    assert error["message"].startswith("Video is not ready yet")


def test_content_of_a_failed_job_is_a_400(simulator, api):
    """A moderated job never has content."""
    video_id = create(api, simulator, prompt="nightmare fuel")["id"]
    simulator.complete(video_id)
    response = download(api, simulator, video_id)
    assert response.status_code == 400
    assert error_of(response)["code"] == "video_generation_failed"
    # Nothing to expire either: the control API refuses rather than inventing content.
    assert requests.post(f"{simulator.url}/_sim/jobs/{video_id}/expire").status_code == 400


def test_content_after_expiry_is_a_404_expired(simulator, api):
    """The expire control (over HTTP) moves ``expires_at`` into the past; content is gone."""
    video_id = completed_video(api, simulator)
    assert download(api, simulator, video_id).status_code == 200
    expired = api.post(f"{simulator.url}/_sim/jobs/{video_id}/expire")
    assert expired.status_code == 200
    assert expired.json()["expires_at"] < time.time()
    response = download(api, simulator, video_id)
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "video_expired"
    assert "expired" in error["message"]
    # The job itself is still there; only its assets are gone.
    assert api.get(f"{simulator.base_url}/videos/{video_id}").json()["status"] == "completed"


def test_expiring_a_rendering_job_completes_it_first(simulator, api):
    """``expire`` on a queued job makes it completed-and-expired, not a job without a date."""
    video_id = create(api, simulator)["id"]
    video = simulator.expire(video_id)
    assert video["status"] == "completed"
    assert video["expires_at"] < time.time()
    assert download(api, simulator, video_id).status_code == 404


def test_expires_seconds_zero_expires_content_at_completion(simulator, api):
    """A configured lifetime of 0 s: completed content is expired at once."""
    simulator.configure(expires_seconds=0)
    video_id = completed_video(api, simulator)
    assert download(api, simulator, video_id).status_code == 404


def test_content_rejects_an_unknown_variant(simulator, api):
    """``variant`` must be video, thumbnail or spritesheet."""
    video_id = completed_video(api, simulator)
    response = download(api, simulator, video_id, variant="gif")
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == "variant"
    assert error["message"] == (
        "Invalid value: 'gif'. Supported values are: 'video', 'thumbnail', and 'spritesheet'."
    )


def test_video_is_a_faststart_h264_mp4_tagged_with_its_job(simulator, api):
    """Decodes with PyAV as H.264; moov precedes mdat; a trailing free box names the job."""
    video_id = completed_video(api, simulator)
    response = download(api, simulator, video_id)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    data = response.content
    assert int(response.headers["content-length"]) == len(data)
    kinds = [kind for kind, _, _ in top_level_boxes(data)]
    assert kinds[0] == "ftyp"
    assert kinds.index("moov") < kinds.index("mdat"), "not faststart"
    last_kind, last_offset, _ = top_level_boxes(data)[-1]
    assert last_kind == "free"
    assert data[last_offset + 8 :].startswith(free_box_tag(video_id))
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = list(container.decode(stream))
    assert len(frames) >= 12
    assert (frames[0].width, frames[0].height) == (320, 180)


def test_two_jobs_get_different_video_bytes(simulator, api):
    """Even when both jobs happen to use the same base clip, their bytes differ."""
    first, second = completed_video(api, simulator), completed_video(api, simulator)
    assert download(api, simulator, first).content != download(api, simulator, second).content


def test_video_bytes_pads_the_video_to_an_exact_size_that_still_decodes(simulator, api):
    """``video_bytes`` sets the exact length; the padded file is still a valid H.264 MP4."""
    target = 3 * MIB + 7
    simulator.configure(video_bytes=target)
    video_id = completed_video(api, simulator)
    response = download(api, simulator, video_id)
    assert int(response.headers["content-length"]) == target
    assert len(response.content) == target
    assert [kind for kind, _, _ in top_level_boxes(response.content)][-1] == "free"
    with av.open(io.BytesIO(response.content)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert next(container.decode(video=0)).width == 320


def test_a_64_mib_video_streams_with_an_exact_length(simulator, api):
    """A benchmark-sized video: exact Content-Length, every byte arrives, the tail is padding."""
    target = 64 * MIB
    simulator.configure(video_bytes=target)
    video_id = completed_video(api, simulator)
    received, head, tail = 0, b"", b""
    with api.get(f"{simulator.base_url}/videos/{video_id}/content", stream=True) as response:
        assert int(response.headers["content-length"]) == target
        for chunk in response.iter_content(chunk_size=MIB):
            if len(head) < 64 * 1024:
                head += chunk[: 64 * 1024]
            received += len(chunk)
            tail = (tail + chunk)[-16:]
    assert received == target
    assert tail == bytes(16)
    _, offset, size = [box for box in _boxes_in_head(head) if box[0] == "free"][-1]
    assert offset + size == target
    assert head[offset + 8 :].startswith(free_box_tag(video_id))


def _boxes_in_head(head: bytes) -> list[tuple[str, int, int]]:
    """Top-level boxes whose headers lie in the first bytes of a (long) file."""
    boxes, offset = [], 0
    while offset + 8 <= len(head):
        size, kind = struct.unpack(">I4s", head[offset : offset + 8])
        boxes.append((kind.decode("ascii"), offset, size))
        offset += size
    return boxes


def test_video_chunks_never_exceed_one_mib_even_for_huge_videos():
    """The streamed plan yields pieces of at most 1 MiB that add up exactly; above 4 GiB the
    ``free`` box switches to the 64-bit size form so the file stays a valid MP4."""
    library = MediaLibrary()
    video_id = "video_" + "a" * 48
    plan = library.plan_video(video_id, 500 * MIB)
    sizes = [len(chunk) for chunk in plan.chunks()]
    assert plan.length == sum(sizes) == 500 * MIB
    assert max(sizes) <= CHUNK_SIZE
    huge = library.plan_video(video_id, 5 * 1024 * MIB)
    assert huge.length == 5 * 1024 * MIB
    chunks = huge.chunks()
    base = next(chunks)
    size_field, kind, large_size = struct.unpack(">I4sQ", next(chunks)[:16])
    assert (size_field, kind) == (1, b"free")
    assert large_size == 5 * 1024 * MIB - len(base)


def test_thumbnail_is_webp_and_spritesheet_is_jpeg(simulator, api):
    """Both previews are real images that Pillow opens."""
    video_id = completed_video(api, simulator)
    for variant, content_type, image_format in (
        ("thumbnail", "image/webp", "WEBP"),
        ("spritesheet", "image/jpeg", "JPEG"),
    ):
        response = download(api, simulator, video_id, variant=variant)
        assert response.status_code == 200
        assert response.headers["content-type"] == content_type
        with Image.open(io.BytesIO(response.content)) as image:
            assert image.format == image_format
            image.load()
            assert image.width > 0


# --- remix ------------------------------------------------------------------------------------


def test_remix_starts_a_new_job_from_a_completed_one(simulator, api):
    """The remix gets a new id, the source's model/seconds/size and ``remixed_from_video_id``."""
    source = completed_video(api, simulator, model="sora-2-pro", seconds="8", size="1280x720")
    response = api.post(
        f"{simulator.base_url}/videos/{source}/remix", json={"prompt": "now in winter"}
    )
    assert response.status_code == 200
    remix = response.json()
    assert set(remix) == VIDEO_KEYS
    assert remix["id"] != source and VIDEO_ID.match(remix["id"])
    assert remix["remixed_from_video_id"] == source
    assert (remix["model"], remix["seconds"], remix["size"]) == ("sora-2-pro", "8", "1280x720")
    assert (remix["prompt"], remix["status"]) == ("now in winter", "queued")


def test_remix_needs_a_completed_source_and_a_valid_body(simulator, api):
    """A rendering source, a missing prompt or an extra field are 400s."""
    rendering = create(api, simulator)["id"]
    url = f"{simulator.base_url}/videos/{rendering}/remix"
    assert error_of(api.post(url, json={"prompt": "x"}))["code"] == "video_not_completed"
    done = completed_video(api, simulator)
    url = f"{simulator.base_url}/videos/{done}/remix"
    assert error_of(api.post(url, json={}))["param"] == "prompt"
    assert error_of(api.post(url, json={"prompt": "x", "seconds": "8"}))["message"] == (
        "Unknown parameter: 'seconds'."
    )


def test_a_remix_prompt_with_the_trigger_word_fails(simulator, api):
    """Moderation applies to remixes too."""
    source = completed_video(api, simulator)
    remix = api.post(
        f"{simulator.base_url}/videos/{source}/remix", json={"prompt": "make it a nightmare"}
    ).json()
    assert simulator.complete(remix["id"])["error"]["code"] == "moderation_blocked"


# --- faults -----------------------------------------------------------------------------------


def test_429_fault_answers_a_rate_limit_envelope_with_retry_headers(simulator, api):
    """The retry and rate-limit headers a client needs to back off, then normal service."""
    simulator.inject("create", "429", retry_after=1.5)
    response = api.post(f"{simulator.base_url}/videos", json={"prompt": "x"})
    assert response.status_code == 429
    error = error_of(response)
    assert error["code"] == "rate_limit_exceeded"
    assert error["message"].startswith("Rate limit reached for requests")
    assert response.headers["retry-after"] == "1.5"
    assert response.headers["retry-after-ms"] == "1500"
    assert response.headers["x-ratelimit-limit-requests"] == "5"
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert response.headers["x-ratelimit-reset-requests"] == "1.5s"
    assert api.get(f"{simulator.base_url}/videos").json()["data"] == [], "a 429 made a job"
    assert api.post(f"{simulator.base_url}/videos", json={"prompt": "x"}).status_code == 200


def test_quota_fault_answers_insufficient_quota(simulator, api):
    """Quota exhaustion is a 429 too, but with its own type and code (do not retry)."""
    simulator.inject("create", "quota")
    response = api.post(f"{simulator.base_url}/videos", json={"prompt": "x"})
    assert response.status_code == 429
    error = error_of(response)
    assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_quota")
    assert error["message"].startswith("You exceeded your current quota")
    assert "retry-after" not in response.headers


@pytest.mark.parametrize(
    ("fault", "status", "error_type"),
    [("500", 500, "server_error"), ("401", 401, "invalid_request_error")],
)
def test_500_and_401_faults(simulator, api, fault, status, error_type):
    """Server error and rejected-key envelopes, on any route, for exactly ``count`` calls."""
    video_id = create(api, simulator)["id"]
    simulator.inject("retrieve", fault, count=2)
    url = f"{simulator.base_url}/videos/{video_id}"
    for _ in range(2):
        response = api.get(url)
        assert response.status_code == status
        assert error_of(response)["type"] == error_type
    assert api.get(url).status_code == 200
    assert simulator.counters()["retrieve"] == 3


def test_faults_for_one_route_queue_in_order(simulator, api):
    """Two injections on the same route hit the next two calls in the order given."""
    simulator.inject("list", "500")
    simulator.inject("list", "quota")
    statuses = [api.get(f"{simulator.base_url}/videos").status_code for _ in range(3)]
    assert statuses == [500, 429, 200]


def test_hang_fault_stalls_one_call_without_blocking_others(simulator, api):
    """A hung retrieve lets other requests through, then answers normally."""
    video_id = create(api, simulator)["id"]
    simulator.inject("retrieve", "hang", hang_seconds=1.0)
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        hung = pool.submit(api.get, f"{simulator.base_url}/videos/{video_id}")
        time.sleep(0.1)
        # While the first retrieve hangs, another one (and the rest of the API) answers.
        assert requests.get(f"{simulator.base_url}/videos/{video_id}", headers=AUTH).ok
        assert requests.get(f"{simulator.base_url}/videos", headers=AUTH).ok
        assert not hung.done(), "the hung request answered early"
        response = hung.result(timeout=10)
    assert time.monotonic() - started >= 1.0
    assert response.status_code == 200 and response.json()["id"] == video_id


def test_hang_fault_makes_a_client_time_out_and_reset_releases_it(simulator, api):
    """A client read timeout fires; ``reset`` frees the stalled server thread at once."""
    simulator.inject("list", "hang", hang_seconds=30)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.get(f"{simulator.base_url}/videos", timeout=0.3)
    simulator.inject("list", "hang", hang_seconds=30)
    with ThreadPoolExecutor(max_workers=1) as pool:
        hung = pool.submit(requests.get, f"{simulator.base_url}/videos", headers=AUTH)
        time.sleep(0.2)
        simulator.reset()
        assert hung.result(timeout=5).status_code == 200


def test_drop_fault_resets_the_connection_after_the_given_bytes(simulator, api):
    """``drop``: full Content-Length, ``after_bytes`` of body, then a TCP reset."""
    video_id = completed_video(api, simulator)
    full_length = len(download(api, simulator, video_id).content)
    simulator.inject("content", "drop", after_bytes=1000)
    response = raw_get(f"{simulator.base_url}/videos/{video_id}/content", AUTH)
    assert response.status == 200
    assert int(response.getheader("content-length")) == full_length
    received = b""
    with pytest.raises(ConnectionResetError):
        while chunk := response.read1(65536):
            received += chunk
    assert len(received) == 1000


def test_drop_fault_delivers_every_byte_before_the_reset_even_for_large_prefixes(simulator, api):
    """A reset discards unsent data, so the server drains its send queue first: a slow reader
    still gets exactly ``after_bytes`` (more than the socket buffers hold) before the reset."""
    simulator.configure(video_bytes=24 * MIB)
    video_id = completed_video(api, simulator)
    simulator.inject("content", "drop", after_bytes=16 * MIB)
    response = raw_get(f"{simulator.base_url}/videos/{video_id}/content", AUTH)
    received, paused = 0, False
    with pytest.raises(ConnectionResetError):
        while chunk := response.read1(MIB):
            received += len(chunk)
            if received > 8 * MIB and not paused:
                # Stall while the server finishes writing: its send queue is full at the moment
                # it decides to reset.
                time.sleep(0.3)
                paused = True
    assert received == 16 * MIB


def test_drop_fault_seen_through_requests(simulator, api):
    """``requests`` reports the dropped body as a broken connection, never as success."""
    video_id = completed_video(api, simulator)
    simulator.inject("content", "drop", after_bytes=100)
    with (
        pytest.raises(requests.exceptions.ChunkedEncodingError),
        api.get(f"{simulator.base_url}/videos/{video_id}/content", stream=True) as response,
    ):
        for _ in response.iter_content(1024):
            pass


def test_truncate_fault_sends_a_short_body_then_closes_cleanly(simulator, api):
    """``truncate``: full Content-Length, ``after_bytes`` of body, orderly close (short read)."""
    video_id = completed_video(api, simulator)
    expected = download(api, simulator, video_id).content
    simulator.inject("content", "truncate", after_bytes=2048)
    response = raw_get(f"{simulator.base_url}/videos/{video_id}/content", AUTH)
    assert int(response.getheader("content-length")) == len(expected)
    with pytest.raises(IncompleteRead) as short_read:
        response.read()
    assert short_read.value.partial == expected[:2048]
    simulator.inject("content", "truncate", after_bytes=2048)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        download(api, simulator, video_id)


def test_drop_on_create_still_starts_the_job(simulator, api):
    """The dangerous case for clients: the job exists although its create answer was lost."""
    simulator.inject("create", "drop")
    with pytest.raises(requests.exceptions.RequestException):
        api.post(f"{simulator.base_url}/videos", json={"prompt": "x"})
    assert len(api.get(f"{simulator.base_url}/videos").json()["data"]) == 1


def test_truncate_on_a_json_route_sends_unparsable_json(simulator, api):
    """A truncated JSON body is shorter than its Content-Length and is not valid JSON."""
    video_id = create(api, simulator)["id"]
    simulator.inject("retrieve", "truncate", after_bytes=40)
    response = raw_get(f"{simulator.base_url}/videos/{video_id}", AUTH)
    with pytest.raises(IncompleteRead) as short_read:
        response.read()
    assert len(short_read.value.partial) == 40
    with pytest.raises(json.JSONDecodeError):
        json.loads(short_read.value.partial)


def test_faults_can_be_injected_over_http(simulator, api):
    """``POST /_sim/faults`` is the same as ``inject`` and validates its input."""
    answer = requests.post(
        f"{simulator.url}/_sim/faults",
        json={"route": "delete", "fault": "429", "count": 1, "retry_after": 2},
    )
    assert answer.status_code == 200
    assert answer.json()["fault"] == "429"
    assert requests.get(f"{simulator.url}/_sim/faults").json()["faults"][0]["route"] == "delete"
    video_id = create(api, simulator)["id"]
    response = api.delete(f"{simulator.base_url}/videos/{video_id}")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    for bad in (
        {"route": "upload", "fault": "500"},
        {"route": "create", "fault": "explode"},
        {"route": "create", "fault": "500", "count": 0},
        {"route": "create", "fault": "500", "colour": "red"},
    ):
        refused = requests.post(f"{simulator.url}/_sim/faults", json=bad)
        assert refused.status_code == 400, bad
        assert error_of(refused)["message"]


def test_inject_rejects_bad_faults_in_python(simulator):
    """The Python API raises ``ValueError`` for the same mistakes."""
    with pytest.raises(ValueError, match="route"):
        simulator.inject("upload", "500")
    with pytest.raises(ValueError, match="fault"):
        simulator.inject("create", "teapot")


# --- counters and control ---------------------------------------------------------------------


def test_counters_count_every_call_faulted_or_not(simulator, api):
    """Successes, 4xx answers and injected faults all count, per route."""
    simulator.configure(render_seconds=0)
    simulator.inject("create", "500")
    api.post(f"{simulator.base_url}/videos", json={"prompt": "x"})  # faulted
    api.post(f"{simulator.base_url}/videos", json={"prompt": "x", "seconds": "3"})  # 400
    video_id = create(api, simulator)["id"]
    api.get(f"{simulator.base_url}/videos/{video_id}")
    api.get(f"{simulator.base_url}/videos")
    api.get(f"{simulator.base_url}/videos/{video_id}/content")
    api.post(f"{simulator.base_url}/videos/{video_id}/remix", json={"prompt": "again"})
    api.delete(f"{simulator.base_url}/videos/{video_id}")
    expected = {"create": 3, "retrieve": 1, "list": 1, "delete": 1, "content": 1, "remix": 1}
    over_http = requests.get(f"{simulator.url}/_sim/counters").json()
    assert {route: over_http[route] for route in expected} == expected
    assert simulator.counters() == over_http
    assert sum(over_http.values()) == sum(expected.values())  # no other dialect's route moved


def test_reset_over_http_clears_jobs_faults_and_counters(simulator, api):
    """After ``POST /_sim/reset`` the simulator is as new."""
    create(api, simulator)
    simulator.inject("list", "500")
    assert requests.post(f"{simulator.url}/_sim/reset").status_code == 200
    assert simulator.counters() == dict.fromkeys(simulator.counters(), 0)
    listed = api.get(f"{simulator.base_url}/videos")
    assert listed.status_code == 200 and listed.json()["data"] == []


def test_config_over_http_changes_settings_at_run_time(simulator, api):
    """``POST /_sim/config`` changes render time, video size and lifetime; bad input is a 400."""
    answer = requests.post(
        f"{simulator.url}/_sim/config",
        json={"render_seconds": 0, "video_bytes": 100_000, "expires_seconds": 60},
    )
    assert answer.status_code == 200
    assert (
        answer.json()
        | {
            "render_seconds": 0.0,
            "video_bytes": 100_000,
            "expires_seconds": 60.0,
            "require_key": True,
        }
        == answer.json()
    )
    assert requests.get(f"{simulator.url}/_sim/config").json() == answer.json()
    video = create(api, simulator)
    assert video["expires_at"] == video["completed_at"] + 60
    assert len(download(api, simulator, video["id"]).content) == 100_000
    for bad in ({"render_seconds": -1}, {"video_bytes": "big"}, {"speed": 2}):
        assert requests.post(f"{simulator.url}/_sim/config", json=bad).status_code == 400


def test_complete_over_http_and_control_404s(simulator, api):
    """``/_sim/jobs/<id>/complete`` finishes a job; unknown ids are 404; health is 200."""
    video_id = create(api, simulator)["id"]
    done = requests.post(f"{simulator.url}/_sim/jobs/{video_id}/complete")
    assert done.status_code == 200 and done.json()["status"] == "completed"
    assert download(api, simulator, video_id).status_code == 200
    unknown = "video_" + "1" * 48
    assert requests.post(f"{simulator.url}/_sim/jobs/{unknown}/expire").status_code == 404
    assert requests.post(f"{simulator.url}/_sim/jobs/{unknown}/complete").status_code == 404
    assert requests.get(f"{simulator.url}/_sim/health").status_code == 200


def test_concurrent_creates_are_all_recorded(simulator):
    """Many threads creating at once: unique ids, exact counters, a consistent list."""
    simulator.configure(render_seconds=0)

    def create_some(_: int) -> list[str]:
        with requests.Session() as session:
            session.headers.update(AUTH)
            return [
                session.post(f"{simulator.base_url}/videos", json={"prompt": "p"}).json()["id"]
                for _ in range(8)
            ]

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = [video_id for batch in pool.map(create_some, range(6)) for video_id in batch]
    assert len(set(ids)) == 48
    assert simulator.counters()["create"] == 48
    listed = requests.get(f"{simulator.base_url}/videos", params={"limit": 100}, headers=AUTH)
    assert {video["id"] for video in listed.json()["data"]} == set(ids)


def test_command_line_server_prints_its_base_url_and_serves(tmp_path):
    """``python -m dreamweb.simulator --port 0`` prints the base URL, then answers on it."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dreamweb.simulator",
            "--port",
            "0",
            "--render-seconds",
            "0",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", base_url)
        video = requests.post(f"{base_url}/videos", json={"prompt": "x"}, headers=AUTH).json()
        assert video["status"] == "completed"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
