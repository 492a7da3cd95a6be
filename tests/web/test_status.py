"""A dream's status page and polling fragment (``dreamweb.web.status``)."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import parse_qs, urlsplit

from dreamweb import create_app
from tests.web.conftest import (
    HTMX,
    PROMPT,
    VALUENOW,
    poll_until_final,
    start_dream,
    status_of,
)


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


def test_status_keeps_polling_through_a_provider_outage(app_config, simulator):
    # One failed check is not an outage; with the breaker open (here after one failure) the
    # fragment shows the last state with a notice and keeps polling until the provider is back.
    client = create_app(
        {**app_config, "BREAKER_FAILURES": "1", "BREAKER_RESET_SECONDS": "1"}
    ).test_client()
    job_id = start_dream(client)
    simulator.inject("retrieve", "500", count=2)  # the first attempt and its one retry
    deadline = time.monotonic() + 5
    text = ""
    while "trouble reaching" not in text and time.monotonic() < deadline:
        fragment = client.get(f"/dreams/{job_id}/status", headers=HTMX)
        assert fragment.status_code == 200
        text = fragment.get_data(as_text=True)
        time.sleep(0.05)
    assert "trouble reaching the dream machine" in text and "hx-trigger" in text
    assert status_of(text) == "pending"
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
