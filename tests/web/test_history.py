"""The per-browser history ("Your dreams", ``dreamweb.web.history``)."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from flask import session

from dreamweb import create_app
from dreamweb.jobs import new_job_id
from dreamweb.storage import layout
from dreamweb.web.history import history_ids, remember
from tests.web.conftest import (
    PROMPT,
    form_fields,
    history_section,
    poll_until_final,
    start_dream,
)


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
            remember(new_job_id())
        assert len(history_ids()) == 100
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


def test_an_unreadable_history_record_still_shows_the_form(client, app_config):
    healthy = start_dream(client, "A dream of a healthy record that reads fine")
    broken = start_dream(client, "A dream whose record the disk cannot read")
    root = Path(app_config["STORAGE_URL"].removeprefix("file://"))
    key = layout.job_key(broken)
    data = next(path for path in (root / key).parent.glob(f"{broken}.json@[0-9]*"))
    data.unlink()
    data.mkdir()  # a real read failure (EISDIR) for this one record only
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<form id="dream-form"' in page
    history = history_section(client)
    assert "A dream of a healthy record that reads fine" in history
    assert f'id="history-{broken}"' in history and "Unavailable right now" in history
    assert history.count('class="history-item"') == 2
    assert healthy in history


@pytest.mark.emulator
def test_a_storage_outage_still_shows_the_form_and_the_history_ids(app_config, gcs_config):
    # A real outage: the emulator answers, but the configured bucket is not there.
    broken = {**app_config, **gcs_config, "STORAGE_URL": "gs://no-such-bucket-anywhere"}
    client = create_app(broken).test_client()
    ids = ["video_storeIsDown1", "video_storeIsDown2"]
    with client.session_transaction() as session:
        session["dreams"] = ids
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<form id="dream-form"' in page
    assert all(f'id="history-{job_id}"' in page for job_id in ids)
    assert page.count("Unavailable right now") == 2
