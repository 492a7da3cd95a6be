"""The smaller holes of issue 11, item 4: each test here fails without its fix."""

from __future__ import annotations

import logging
import time

import pytest

from dreamweb import create_app
from dreamweb.config import load_settings
from dreamweb.errors import ConfigError, VideoTooLargeError
from dreamweb.logs import TextFormatter
from dreamweb.services import services
from dreamweb.storage import layout
from dreamweb.storage.ingest import capped
from tests.test_api import create, wait_for

TOKEN = "hardening-token-0123456789"


# CORS_ORIGINS=* only with API tokens -----------------------------------------------------------


def test_cors_wildcard_is_refused_without_api_tokens():
    with pytest.raises(ConfigError) as caught:
        load_settings({"DREAMWEB_ENV": "development", "CORS_ORIGINS": "*"})
    assert caught.value.variable == "CORS_ORIGINS"
    settings = load_settings(
        {"DREAMWEB_ENV": "development", "CORS_ORIGINS": "*", "API_TOKENS": TOKEN}
    )
    assert settings["CORS_ORIGINS"] == ["*"]


def test_cors_with_tokens_lets_browsers_send_authorization(app_config, simulator):
    client = create_app({**app_config, "CORS_ORIGINS": "*", "API_TOKENS": TOKEN}).test_client()
    preflight = client.options(
        "/api/create-video",
        headers={
            "Origin": "https://elsewhere.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()


# MAX_VIDEO_BYTES -------------------------------------------------------------------------------


def test_capped_stops_past_the_limit():
    assert b"".join(capped([b"ab", b"cd"], 4)) == b"abcd"
    with pytest.raises(VideoTooLargeError):
        b"".join(capped([b"ab", b"cd", b"e"], 4))


def test_a_video_over_max_video_bytes_fails_the_job_after_one_download(app_config, simulator):
    simulator.configure(video_bytes=256 * 1024)
    app = create_app({**app_config, "MAX_VIDEO_BYTES": str(64 * 1024)})
    client = app.test_client()
    job_id = create(client).get_json()["jobId"]
    final = wait_for(client, job_id)
    assert final["status"] == "failed"
    assert final["error"] == "Video generation failed: the finished video is too large to keep"
    with app.app_context():
        assert not services().store.exists(layout.video_key(job_id))
    time.sleep(0.3)  # no retry is scheduled: the download count stays at one
    assert simulator.counters()["content"] == 1


def test_max_video_bytes_defaults_to_one_gib():
    assert load_settings({"DREAMWEB_ENV": "development"})["MAX_VIDEO_BYTES"] == 1024**3


# an accepted create's provider id, and retries ---------------------------------------------------


def test_a_retry_after_the_creator_died_mid_submit_never_pays_again(app, client, simulator):
    """The creator claimed the key and wrote the record, then died: a retry finds that job."""
    first = create(client, headers={"Idempotency-Key": "crash-1"}).get_json()["jobId"]
    with app.app_context():
        store = services().store
        key = layout.idempotency_record_key("crash-1", scope="127.0.0.1")
        claim = store.get_record(key)
        stale = dict(claim.data, state="in_flight", created_at=time.time() - 600)
        store.put_record(key, stale, generation=claim.generation)
    again = create(client, headers={"Idempotency-Key": "crash-1"})
    assert again.status_code == 202
    assert again.get_json()["jobId"] == first
    assert simulator.counters()["create"] == 1


# text logs escape control characters ------------------------------------------------------------


def test_text_log_lines_cannot_be_forged():
    record = logging.makeLogRecord(
        {
            "name": "dreamweb",
            "levelname": "INFO",
            "msg": "request\n2026-01-01 INFO dreamweb: forged",
            "path": "/x\r\nforged=1\x1b[2J\u2028",
        }
    )
    line = TextFormatter().format(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\u2028" not in line
    assert "\\n2026-01-01" in line and "\\x1b[2J" in line


def test_a_request_path_with_a_newline_logs_one_line(client, caplog):
    with caplog.at_level("INFO", logger="dreamweb"):
        client.get("/dreams/x%0Aforged")
    [request] = [record for record in caplog.records if record.getMessage() == "request"]
    assert "\n" in request.path  # what the client sent, decoded
    line = TextFormatter().format(request)
    assert "\n" not in line and "path=/dreams/x\\nforged" in line


# PUBLIC_URL, never the client's Host in production ------------------------------------------------


def test_absolute_urls_come_from_public_url(app_config, simulator):
    client = create_app({**app_config, "PUBLIC_URL": "https://dreams.example/"}).test_client()
    response = create(client, headers={"Host": "evil.example"})
    job_id = response.get_json()["jobId"]
    assert response.headers["Location"] == f"https://dreams.example/api/video-status/{job_id}"
    final = wait_for(client, job_id)
    assert final["videoUrl"] == f"https://dreams.example/api/get-video/{job_id}"


def test_production_without_public_url_never_uses_the_host_header(app_config, simulator):
    config = {**app_config, "DREAMWEB_ENV": "production", "SESSION_COOKIE_SECURE": "false"}
    client = create_app(config).test_client()
    response = create(client, headers={"Host": "evil.example"})
    assert "evil.example" not in response.headers["Location"]
    assert response.headers["Location"].startswith("/api/video-status/")


# the secret key outside production ------------------------------------------------------------


def test_secret_key_is_random_per_boot_when_unset():
    keys = {load_settings({"DREAMWEB_ENV": "development"})["SECRET_KEY"] for _ in range(2)}
    assert len(keys) == 2 and all(len(key) == 64 for key in keys)


# Vary: Accept ---------------------------------------------------------------------------------


def test_negotiated_error_pages_vary_on_accept(client):
    html = client.get("/dreams/video_nope0000000")
    as_json = client.get("/dreams/video_nope0000000", headers={"Accept": "application/json"})
    assert html.mimetype == "text/html" and as_json.mimetype == "application/json"
    for response in (html, as_json):
        assert "Accept" in response.headers.get("Vary", "")
