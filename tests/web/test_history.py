"""The per-browser history ("Your dreams", ``dreamweb.web.history``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dreamweb import create_app
from dreamweb.storage import layout
from tests.web.conftest import history_section, start_dream


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
