"""The browser UI's routes (``dreamweb.web.views``) through Flask's test client: the no-JS and htmx
flows, media, CSRF, errors that keep the typed dream.

The app talks to the simulator over real HTTP and stores on local disk; ingest runs in the
app's background pool, so tests poll the status fragment (bounded) until a job is final.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from dreamweb import create_app
from dreamweb.services import services
from dreamweb.storage import layout
from tests.web.conftest import (
    HTMX,
    PROMPT,
    XSS_PROMPTS,
    form_fields,
    history_section,
    poll_until_final,
    post_dream,
    start_dream,
)

ROOT = Path(__file__).resolve().parent.parent.parent


def test_form_assets_are_local_and_nothing_is_inline(client):
    page = client.get("/").get_data(as_text=True)
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts and all('src="/static/' in tag for tag in scripts)
    assert "<style" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page), "no inline event handlers"
    assert '"includeIndicatorStyles":false' in page
    for tag in scripts:
        path = re.search(r'src="/static/([^"]+)"', tag)[1]
        with client.get(f"/static/{path}") as response:  # closes the streamed file
            assert response.status_code == 200


def test_vendored_htmx_matches_its_recorded_sha256():
    vendor = ROOT / "static" / "vendor"
    record = dict(
        line.split(": ", 1) for line in (vendor / "htmx.VERSION").read_text().splitlines()
    )
    script = vendor / f"htmx-{record['version']}.min.js"
    assert hashlib.sha256(script.read_bytes()).hexdigest() == record["sha256"]
    assert "npm pack htmx.org@" in record["source"]


def test_no_js_flow_posts_redirects_and_refreshes_until_completed(client, simulator):
    response = post_dream(client)
    assert response.status_code == 303
    dream_url = response.headers["Location"]
    assert re.fullmatch(r"/dreams/video_[A-Za-z0-9]+", dream_url)
    assert simulator.counters()["create"] == 1

    page = client.get(dream_url).get_data(as_text=True)
    assert html.escape(PROMPT) in page
    assert '<noscript><meta http-equiv="refresh" content="1"></noscript>' in page
    assert 'role="progressbar"' in page and 'aria-live="polite"' in page

    deadline = time.monotonic() + 20
    while "noscript" in page:  # what the meta refresh does: reload the page
        assert time.monotonic() < deadline, "the page never reached a final state"
        time.sleep(0.2)
        response = client.get(dream_url)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
        page = response.get_data(as_text=True)
    job_id = dream_url.rsplit("/", 1)[-1]
    assert 'data-status="completed"' in page
    assert '<video class="landscape" controls playsinline preload="metadata"' in page
    assert f'src="/dreams/{job_id}/video"' in page
    assert f'poster="/dreams/{job_id}/thumbnail"' in page
    assert f'href="/api/get-video/{job_id}" download' in page
    assert "hx-trigger" not in page  # nothing polls any more


def test_htmx_create_redirects_with_hx_redirect(client, simulator):
    response = post_dream(client, headers=HTMX)
    assert response.status_code == 201
    location = response.headers["HX-Redirect"]
    assert re.fullmatch(r"/dreams/video_[A-Za-z0-9]+", location)
    assert response.headers["Location"] == location
    assert client.get(location).status_code == 200


def test_double_submit_without_js_starts_one_generation(client, simulator):
    fields = form_fields(client)
    first = post_dream(client, fields=fields)
    second = post_dream(client, fields=fields)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert simulator.counters()["create"] == 1
    # The same form page with an edited dream is a new dream, not a conflict.
    third = post_dream(client, PROMPT + " and a storm", fields=fields)
    assert third.status_code == 303 and third.headers["Location"] != first.headers["Location"]


@pytest.mark.parametrize("prompt", XSS_PROMPTS)
def test_prompts_with_markup_are_shown_as_text_everywhere(client, prompt):
    job_id = start_dream(client, prompt)
    escaped = html.escape(prompt, quote=False)
    raw_fragments = ("<script>alert", "<img src=x")
    pages = [
        client.get(f"/dreams/{job_id}").get_data(as_text=True),
        client.get(f"/dreams/{job_id}/status", headers=HTMX).get_data(as_text=True),
        client.get("/").get_data(as_text=True),
        client.get(f"/?prompt={prompt}").get_data(as_text=True),
    ]
    for page in pages:
        assert not any(raw in page for raw in raw_fragments)
    assert escaped.replace('"', "&#34;") in pages[0]  # the prompt as typed, as text
    final, _ = poll_until_final(client, job_id)
    assert not any(raw in final for raw in raw_fragments)
    # Too short to be valid, still shown back as text in the form.
    short = post_dream(client, "<b>x</b>").get_data(as_text=True)
    assert "&lt;b&gt;x&lt;/b&gt;</textarea>" in short


def test_delete_removes_video_record_and_provider_copy(client, app, simulator):
    job_id = start_dream(client)
    poll_until_final(client, job_id)
    with app.app_context():
        store = services().store
        assert store.exists(layout.video_key(job_id))
    page = client.get(f"/dreams/{job_id}").get_data(as_text=True)
    assert f'action="/dreams/{job_id}/delete"' in page
    assert '<details class="delete">' in page and "Yes, delete it" in page

    token = form_fields(client)["csrf_token"]
    response = client.post(f"/dreams/{job_id}/delete", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/#history"
    index = client.get("/").get_data(as_text=True)
    assert "Your dream was deleted." in index and job_id not in index
    assert client.get(f"/dreams/{job_id}").status_code == 404
    assert client.get(f"/dreams/{job_id}/video").status_code == 404
    with app.app_context():
        assert not store.exists(layout.video_key(job_id))
        assert not store.exists(layout.job_key(job_id))
    assert simulator.counters()["delete"] == 1
    # Deleting again: it is no longer in this browser's history.
    assert client.post(f"/dreams/{job_id}/delete", data={"csrf_token": token}).status_code == 404


def test_create_without_csrf_token_is_refused(client, simulator):
    response = post_dream(client, fields={})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "This form expired" in page and f">{PROMPT}</textarea>" in page
    assert simulator.counters().get("create", 0) == 0
    wrong = post_dream(client, fields={"csrf_token": "forged"}, headers=HTMX)
    assert wrong.status_code == 400 and '<form id="dream-form"' in wrong.get_data(as_text=True)


def test_delete_without_csrf_token_is_refused(client):
    job_id = start_dream(client)
    response = client.post(f"/dreams/{job_id}/delete")
    assert response.status_code == 400
    assert "This form expired" in response.get_data(as_text=True)
    assert job_id in history_section(client)


def test_htmx_requests_carry_the_token_in_a_header(client, simulator):
    token = form_fields(client)["csrf_token"]
    response = client.post(
        "/dreams",
        data={"prompt": PROMPT, "seconds": "4", "size": "1280x720"},
        headers={**HTMX, "X-CSRFToken": token},
    )
    assert response.status_code == 201


def test_video_is_inline_and_range_served_and_thumbnail_is_an_image(client):
    job_id = start_dream(client)
    poll_until_final(client, job_id)
    with client.get(f"/dreams/{job_id}/video") as whole:
        assert whole.status_code == 200 and whole.mimetype == "video/mp4"
        assert whole.headers["Content-Disposition"].startswith("inline")
        assert whole.headers["Accept-Ranges"] == "bytes"
        with client.get(f"/dreams/{job_id}/video", headers={"Range": "bytes=0-99"}) as part:
            assert part.status_code == 206 and len(part.data) == 100
            assert part.data == whole.data[:100]
    with client.head(f"/dreams/{job_id}/video") as head:
        assert head.status_code == 200
    with client.get(f"/dreams/{job_id}/thumbnail") as thumbnail:
        assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/webp"
    with client.get(f"/api/get-video/{job_id}") as download:
        assert download.headers["Content-Disposition"].startswith("attachment")


def test_video_of_an_unfinished_dream_is_404(client):
    job_id = start_dream(client)
    assert client.get(f"/dreams/{job_id}/video").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/dreams/video_doesnotexist123456",
        "/dreams/not-a-job-id",
        "/dreams/video_doesnotexist123456/status",
        "/dreams/video_doesnotexist123456/thumbnail",
        "/no/such/page",
    ],
)
def test_not_found_pages_are_friendly(client, path):
    response = client.get(path)
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "We couldn&#39;t find that dream" in page and "Back to the dream form" in page
    assert response.mimetype == "text/html"


def test_rate_limited_create_says_slow_down_and_keeps_the_dream(app_config, simulator):
    client = create_app(
        {**app_config, "RATELIMIT_ENABLED": "true", "RATELIMIT_CREATE": "1/minute"}
    ).test_client()
    assert post_dream(client).status_code == 303
    limited = post_dream(client, "A dream I typed a second time")
    assert limited.status_code == 429
    page = limited.get_data(as_text=True)
    assert "Slow down a little" in page and int(limited.headers["Retry-After"]) > 0
    retry = re.search(r'href="([^"]+)">Try again', page)[1]
    assert parse_qs(urlsplit(html.unescape(retry)).query)["prompt"] == [
        "A dream I typed a second time"
    ]
    with_htmx = post_dream(client, "A dream I typed a third time", headers=HTMX)
    assert with_htmx.status_code == 429
    fragment = with_htmx.get_data(as_text=True)
    assert '<form id="dream-form"' in fragment and ">A dream I typed a third time<" in fragment
    assert "several dreams in a short time" in fragment
    assert simulator.counters()["create"] == 1


def test_web_and_api_creations_share_one_budget(app_config, simulator):
    client = create_app(
        {**app_config, "RATELIMIT_ENABLED": "true", "RATELIMIT_CREATE": "1/minute"}
    ).test_client()
    assert client.post("/api/create-video", json={"prompt": PROMPT}).status_code == 202
    assert post_dream(client).status_code == 429
    assert simulator.counters()["create"] == 1


def test_busy_provider_is_503_dream_machine_busy(client, simulator):
    simulator.inject("create", "429", count=5, retry_after=1)
    response = post_dream(client)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    page = response.get_data(as_text=True)
    assert "The dream machine is busy" in page and "Try again" in page
    with_htmx = post_dream(client, headers=HTMX)
    assert with_htmx.status_code == 503
    fragment = with_htmx.get_data(as_text=True)
    assert 'class="form-error"' in fragment and f">{PROMPT}</textarea>" in fragment


def test_unconfigured_server_is_503_with_the_form_kept(app_config, simulator):
    client = create_app({**app_config, "OPENAI_API_KEY": ""}).test_client()
    response = post_dream(client, headers=HTMX)
    assert response.status_code == 503
    assert "not configured" in response.get_data(as_text=True)


@pytest.fixture
def signed_url_config(app_config, gcs_config, signing_key):
    """The app storing on the GCS emulator and handing browsers signed URLs."""
    return {
        **app_config,
        **gcs_config,
        "VIDEO_DELIVERY": "signed-url",
        "GCS_CREDENTIALS_JSON": json.dumps(signing_key[1]),
    }


@pytest.mark.emulator
def test_signed_url_mode_plays_from_the_storage_origin(signed_url_config):
    client = create_app(signed_url_config).test_client()
    origin = signed_url_config["STORAGE_EMULATOR_HOST"]
    job_id = start_dream(client)
    final, _ = poll_until_final(client, job_id)
    # The player asks our route, which signs afresh on every request: an open page never
    # holds a URL that expires under it.
    src = html.unescape(re.search(r'<video[^>]*\ssrc="([^"]+)"', final)[1])
    assert src == f"/dreams/{job_id}/video"
    redirect = client.get(src)
    assert redirect.status_code == 302
    signed = redirect.headers["Location"]
    assert signed.startswith(f"{origin}/") and "X-Goog-Signature=" in signed
    assert parse_qs(urlsplit(signed).query)["response-content-disposition"][0].startswith("inline")
    part = requests.get(signed, headers={"Range": "bytes=0-99"}, timeout=5)
    assert part.status_code == 206 and len(part.content) == 100
    page = client.get(f"/dreams/{job_id}")
    assert f"media-src 'self' {origin};" in page.headers["Content-Security-Policy"]
    assert f'poster="/dreams/{job_id}/thumbnail"' in final
    with client.get(f"/dreams/{job_id}/thumbnail") as thumbnail:
        assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/webp"


def test_a_double_submit_racing_the_first_says_it_is_on_its_way(client, simulator):
    fields = form_fields(client)
    simulator.inject("create", "hang", count=1, hang_seconds=1.5)
    first: list = []
    racer = threading.Thread(target=lambda: first.append(post_dream(client, fields=fields)))
    racer.start()
    time.sleep(0.5)  # the first submit is now waiting on the provider
    second = post_dream(client, fields=fields, headers=HTMX)
    racer.join(timeout=30)
    assert second.status_code == 409 and int(second.headers["Retry-After"]) >= 1
    assert "already being started" in second.get_data(as_text=True)
    assert first[0].status_code == 303
    assert simulator.counters()["create"] == 1


def test_a_busy_providers_wait_is_rounded_up_alike_on_the_web_and_the_api(client, simulator):
    simulator.inject("create", "429", count=10, retry_after=1.4)
    page = post_dream(client)
    api = client.post("/api/create-video", json={"prompt": PROMPT})
    assert (page.status_code, api.status_code) == (503, 503)
    assert page.headers["Retry-After"] == api.headers["Retry-After"] == "2"
