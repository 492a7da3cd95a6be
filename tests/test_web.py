"""The browser UI through Flask's test client: pages, the status fragment, history, errors.

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
from flask import session

from dreamweb import create_app, web
from dreamweb.jobs import new_job_id
from dreamweb.security import content_security_policy
from dreamweb.services import services
from dreamweb.storage import layout
from dreamweb.storage.layout import is_job_id

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "A quiet dream of a lighthouse that hums to the whales"
XSS_PROMPTS = [
    "<script>alert(1)</script> dream of cats",
    '"><img src=x onerror=alert(1)> a dream',
]
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
NONCE_INPUT = re.compile(r'name="nonce" value="([^"]+)"')
STATUS_ATTR = re.compile(r'data-status="(\w+)"')
VALUENOW = re.compile(r'aria-valuenow="(\d+)"')
HTMX = {"HX-Request": "true"}


@pytest.fixture
def app_config(app_config, simulator):
    """Fast renders, a provider check on every poll and a 1 s poll interval."""
    simulator.configure(render_seconds=0.5)
    return {**app_config, "STATUS_TTL_SECONDS": "0", "POLL_INTERVAL_SECONDS": "1"}


# --- helpers ------------------------------------------------------------------------------------


def form_fields(client) -> dict[str, str]:
    """The hidden fields of a freshly rendered dream form (CSRF token and nonce)."""
    page = client.get("/").get_data(as_text=True)
    return {"csrf_token": CSRF_INPUT.search(page)[1], "nonce": NONCE_INPUT.search(page)[1]}


def post_dream(client, prompt=PROMPT, *, headers=None, fields=None, **choices):
    """Submit the dream form as a browser would (CSRF token included unless ``fields``)."""
    data = dict(form_fields(client) if fields is None else fields)
    data.update(prompt=prompt, seconds=choices.get("seconds", "4"))
    data["size"] = choices.get("size", "1280x720")
    return client.post("/dreams", data=data, headers=headers or {})


def start_dream(client, prompt=PROMPT, **choices) -> str:
    """Start a dream through the no-JS form post; its job id."""
    response = post_dream(client, prompt, **choices)
    assert response.status_code == 303, response.get_data(as_text=True)
    job_id = response.headers["Location"].rsplit("/", 1)[-1]
    assert is_job_id(job_id)
    return job_id


def status_of(fragment: str) -> str:
    return STATUS_ATTR.search(fragment)[1]


def poll_until_final(client, job_id, timeout=20.0) -> tuple[str, list[str]]:
    """Poll the status fragment like htmx does; the final fragment and every one seen."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        response = client.get(f"/dreams/{job_id}/status", headers=HTMX)
        assert response.status_code == 200
        fragment = response.get_data(as_text=True)
        seen.append(fragment)
        if status_of(fragment) in ("completed", "failed"):
            return fragment, seen
        assert time.monotonic() < deadline, f"still {status_of(fragment)} after {timeout} s"
        time.sleep(0.1)


def history_section(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return page[page.index('id="history"') :]


# --- the form -----------------------------------------------------------------------------------


def test_form_has_labels_rules_choices_and_a_no_js_fallback(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<label for="prompt">' in page and 'id="prompt" name="prompt"' in page
    # No maxlength: browsers count UTF-16 units, the server code points after sanitizing.
    assert 'minlength="10"' in page and "maxlength=" not in page
    assert "10 to 500 characters" in page and 'id="prompt-count"' in page
    # One form: hx-post for htmx, a plain POST action without JavaScript, one submit button.
    assert 'method="post" action="/dreams"' in page and 'hx-post="/dreams"' in page
    assert "hx-disabled-elt=\"find button[type='submit']\"" in page
    assert page.count('type="submit"') == 1
    assert CSRF_INPUT.search(page) and "X-CSRFToken" in page
    # Orientation from VIDEO_ALLOWED_SIZES, length from VIDEO_ALLOWED_SECONDS; defaults checked.
    assert re.search(r'value="1280x720" checked>\s*<span>Landscape</span>', page)
    assert re.search(r'value="720x1280">\s*<span>Portrait</span>', page)
    for seconds in ("4", "8", "12"):
        assert f'name="seconds" value="{seconds}"' in page
    assert re.search(r'name="seconds" value="8" checked', page)
    assert "Your dreams" in page and "appear here" in page


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


def test_dream_again_link_prefills_the_form(client):
    page = client.get("/?prompt=a+dream+of+glass+rain&seconds=12&size=720x1280").get_data(
        as_text=True
    )
    assert ">a dream of glass rain</textarea>" in page
    assert re.search(r'value="720x1280" checked', page)
    assert re.search(r'name="seconds" value="12" checked', page)


# --- create: the no-JS flow and htmx ------------------------------------------------------------


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


def test_status_fragment_polls_itself_and_stops_when_final(client):
    job_id = start_dream(client)
    first = client.get(f"/dreams/{job_id}/status", headers=HTMX).get_data(as_text=True)
    assert first.lstrip().startswith('<div id="dream-status"') and "<html" not in first
    assert f'hx-get="/dreams/{job_id}/status"' in first
    assert 'hx-trigger="load delay:1s"' in first and 'hx-swap="outerHTML"' in first
    assert 'role="progressbar"' in first
    assert 'aria-valuemin="0"' in first and 'aria-valuemax="100"' in first

    final, seen = poll_until_final(client, job_id)
    assert status_of(final) == "completed"
    assert "hx-get" not in final and "hx-trigger" not in final, "a final state must not poll"
    progress = [int(VALUENOW.search(fragment)[1]) for fragment in seen if VALUENOW.search(fragment)]
    assert progress == sorted(progress), "progress never goes backwards"
    stages = {re.search(r'class="stage"[^>]*>([^<]+)<', f)[1] for f in seen if 'class="stage"' in f}
    assert stages <= {"Queued", "Rendering", "Saving your video"} and stages


def test_running_state_shows_stage_percent_and_progressbar(client, simulator):
    simulator.configure(render_seconds=30)
    job_id = start_dream(client)
    time.sleep(0.3)
    fragment = ""
    for _ in range(30):  # past the queued share (10 %) of the render
        fragment = client.get(f"/dreams/{job_id}/status", headers=HTMX).get_data(as_text=True)
        if 'class="stage"' in fragment and ">Rendering<" in fragment:
            break
        time.sleep(0.2)
    value = int(VALUENOW.search(fragment)[1])
    assert f'aria-valuetext="{value}% — rendering"' in fragment
    assert f'<progress max="100" value="{value}" aria-hidden="true">' in fragment
    assert f'<p class="percent">{value}%</p>' in fragment


def test_failed_dream_explains_and_offers_try_again(client):
    job_id = start_dream(client, "A recurring nightmare about stairs that never end")
    final, _ = poll_until_final(client, job_id)
    assert status_of(final) == "failed"
    assert "content rules" in final and "Try describing it differently" in final
    again = re.search(r'href="([^"]+)">Try again', final)[1]
    query = parse_qs(urlsplit(html.unescape(again)).query)
    assert query["prompt"] == ["A recurring nightmare about stairs that never end"]
    assert "hx-trigger" not in final


def test_completed_dream_offers_dream_again_with_the_prompt(client):
    job_id = start_dream(client, size="720x1280", seconds="8")
    final, _ = poll_until_final(client, job_id)
    again = re.search(r'href="([^"]+)">Dream again', final)[1]
    query = parse_qs(urlsplit(html.unescape(again)).query)
    assert query == {"prompt": [PROMPT], "seconds": ["8"], "size": ["720x1280"]}
    assert '<video class="portrait"' in final


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


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("too short", "at least 10 characters (it has 9)"),
        ("            a     b       ", "at least 10 characters (it has 3)"),
        ("", "Tell us your dream first."),
        ("x" * 501, "at most 500 characters (it has 501)"),
    ],
)
def test_invalid_prompt_is_422_and_keeps_the_typed_text(client, simulator, typed, expected):
    response = post_dream(client, typed, size="720x1280", seconds="12")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "<html" in page, "without JavaScript the whole form page comes back"
    assert expected in page
    assert f">{typed}</textarea>" in page
    assert 'aria-invalid="true"' in page and 'id="prompt-error"' in page
    assert re.search(r'value="720x1280" checked', page)
    assert re.search(r'name="seconds" value="12" checked', page)
    assert simulator.counters().get("create", 0) == 0


def test_invalid_prompt_with_htmx_returns_the_form_fragment(client):
    response = post_dream(client, "tiny", headers=HTMX)
    assert response.status_code == 422
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith("{#") is False
    assert "<html" not in fragment and '<form id="dream-form"' in fragment
    assert ">tiny</textarea>" in fragment and "at least 10 characters" in fragment
    # htmx 2 swaps this 422 only because base.html's htmx-config says so.
    page = client.get("/").get_data(as_text=True)
    assert '"code":"^(400|409|422|429|502|503)$","swap":true' in page


def test_unknown_choices_are_rejected_inline(client, simulator):
    response = post_dream(client, size="9999x9999", seconds="7")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Choose one of the orientations shown." in page
    assert "Choose one of the lengths shown." in page
    assert f">{PROMPT}</textarea>" in page
    assert simulator.counters().get("create", 0) == 0


# --- XSS ----------------------------------------------------------------------------------------


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


# --- history and delete -------------------------------------------------------------------------


def test_history_lists_this_browsers_dreams_newest_first(client):
    first = start_dream(client, "A first dream about an orange moon")
    second = start_dream(client, "A second dream about a paper boat")
    history = history_section(client)
    assert history.index(second) < history.index(first)
    assert "A second dream about a paper boat" in history
    assert history.count('class="history-item"') == 2
    poll_until_final(client, first)
    history = history_section(client)
    assert f'src="/dreams/{first}/thumbnail"' in history and "Ready" in history


def test_history_is_bounded(app_config, simulator):
    client = create_app({**app_config, "HISTORY_SIZE": "2"}).test_client()
    ids = [start_dream(client, f"Dream number {n} of a long night") for n in range(3)]
    history = history_section(client)
    assert ids[0] not in history and ids[1] in history and ids[2] in history


def test_history_cookie_stays_small_at_the_largest_history_size(app_config):
    app = create_app({**app_config, "HISTORY_SIZE": "100"})
    with app.test_request_context("/"):
        for _ in range(150):
            web.remember(new_job_id())
        assert len(web.history_ids()) == 100
        cookie = app.session_interface.get_signing_serializer(app).dumps(dict(session))
        assert len(cookie) < 4000, "browsers drop cookies over 4 KB"


def test_history_and_delete_are_per_browser(app):
    mine, theirs = app.test_client(), app.test_client()
    job_id = start_dream(mine)
    assert job_id in history_section(mine)
    assert job_id not in history_section(theirs)
    # The page itself is shareable by its link, but without the delete control.
    shared = theirs.get(f"/dreams/{job_id}").get_data(as_text=True)
    assert html.escape(PROMPT) in shared and "/delete" not in shared
    token = form_fields(theirs)["csrf_token"]
    refused = theirs.post(f"/dreams/{job_id}/delete", data={"csrf_token": token})
    assert refused.status_code == 404
    assert mine.get(f"/dreams/{job_id}").status_code == 200


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


# --- CSRF ---------------------------------------------------------------------------------------


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


# --- media --------------------------------------------------------------------------------------


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


# --- errors -------------------------------------------------------------------------------------


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


def test_status_keeps_polling_through_a_provider_outage(client, simulator):
    job_id = start_dream(client)
    simulator.inject("retrieve", "500", count=2)  # the first attempt and its one retry
    fragment = client.get(f"/dreams/{job_id}/status", headers=HTMX)
    assert fragment.status_code == 200
    text = fragment.get_data(as_text=True)
    assert "trouble reaching the dream machine" in text and "hx-trigger" in text
    final, _ = poll_until_final(client, job_id)
    assert status_of(final) == "completed"


def test_status_keeps_polling_when_even_the_store_is_unreadable(app_config, gcs_config):
    # A real outage: the emulator answers, but the configured bucket is not there.
    broken = {**app_config, **gcs_config, "STORAGE_URL": "gs://no-such-bucket-anywhere"}
    client = create_app(broken).test_client()
    job_id = "video_storeIsDown1"
    response = client.get(f"/dreams/{job_id}/status", headers=HTMX)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "Checking on your dream" in fragment and 'hx-trigger="load delay:1s"' in fragment
    assert client.get(f"/dreams/{job_id}").status_code == 503  # the page says so plainly


# --- security headers ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/no/such/page", "/static/css/dreamweb.css"])
def test_security_headers_on_every_response(client, path):
    with client.get(path) as response:
        headers = response.headers
    csp = headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


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


def test_signed_url_mode_allows_media_from_the_storage_origin():
    policy = content_security_policy({"VIDEO_DELIVERY": "signed-url"})
    assert "media-src 'self' https://storage.googleapis.com" in policy
    emulated = content_security_policy(
        {"VIDEO_DELIVERY": "signed-url", "STORAGE_EMULATOR_HOST": "http://127.0.0.1:4443"}
    )
    assert "media-src 'self' http://127.0.0.1:4443;" in emulated
    assert "media-src 'self';" in content_security_policy({"VIDEO_DELIVERY": "proxy"})


def test_session_cookie_is_httponly_lax_and_secure_in_production(client, app_config):
    cookie = client.get("/").headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "; HttpOnly" in cookie and "; SameSite=Lax" in cookie
    assert "; Secure" not in cookie  # development over plain http
    production = create_app(
        {**app_config, "DREAMWEB_ENV": "production", "SECRET_KEY": "a-production-secret"}
    ).test_client()
    secure = production.get("/", base_url="https://dreamweb.example").headers["Set-Cookie"]
    assert "; Secure" in secure and "; HttpOnly" in secure and "; SameSite=Lax" in secure


def test_every_failure_code_has_a_human_explanation():
    from dreamweb.jobs import FAILURE_TEXT

    assert set(FAILURE_TEXT) <= set(web.FAILURE_EXPLANATIONS)


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
