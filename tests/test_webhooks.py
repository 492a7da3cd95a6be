"""Completion webhooks: a real receiver on loopback, the simulator as provider, real storage."""

from __future__ import annotations

import time

import pytest

from dreamweb import create_app
from dreamweb.errors import ValidationError
from dreamweb.jobs.sweep import Sweeper
from dreamweb.services import services
from dreamweb.webhooks.addresses import CallbackPolicy, check_callback_url, is_public_address
from dreamweb.webhooks.outbox import retry_span

PROMPT = "A serene dream of flying over mountains at sunset"


@pytest.fixture
def app_config(app_config, simulator, webhook_receiver):
    simulator.configure(render_seconds=0.3)
    return {
        **app_config,
        "STATUS_TTL_SECONDS": "0.1",
        "WEBHOOK_SECRET": webhook_receiver.secret,
        "WEBHOOK_ALLOW_PRIVATE_HOSTS": "true",  # the receiver is on loopback
        "WEBHOOK_RETRY_FIRST_SECONDS": "0.2",
        "WEBHOOK_TIMEOUT_SECONDS": "2",
    }


def create(client, prompt=PROMPT, **body):
    return client.post("/api/create-video", json={"prompt": prompt, **body})


def finish(app, client, job_id, timeout=20.0):
    """Poll and sweep until the job ended; its final status answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(f"/api/video-status/{job_id}").get_json()
        if answer["status"] in ("completed", "failed"):
            return answer
        with app.app_context():
            Sweeper(services().inline_jobs()).sweep()
        time.sleep(0.05)
    raise AssertionError(f"{job_id} did not finish")


def settle(app, client, job_id, timeout=15.0):
    """Sweep until the job's callback is delivered or failed; the last status answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            Sweeper(services().inline_jobs()).sweep()
        answer = client.get(f"/api/video-status/{job_id}").get_json()
        if answer["callback"]["status"] != "pending":
            return answer
        time.sleep(0.05)
    raise AssertionError(f"{job_id}'s callback never settled")


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [(PROMPT, "completed"), ("a nightmare of a house with no doors", "failed")],
)
def test_an_ended_job_is_delivered_once_signed(app, client, webhook_receiver, prompt, expected):
    created = create(client, prompt, callbackUrl=webhook_receiver.url)
    assert created.status_code == 202
    job_id = created.get_json()["jobId"]
    assert finish(app, client, job_id)["status"] == expected
    answer = settle(app, client, job_id)
    for _ in range(3):  # more sweeps and polls send nothing more
        with app.app_context():
            Sweeper(services().inline_jobs()).sweep()
    [delivery] = webhook_receiver.wait_for(1)
    time.sleep(0.3)
    assert len(webhook_receiver.deliveries) == 1
    assert delivery.verified and delivery.path == "/hooks/dreamweb"
    assert delivery.headers["webhook-id"].startswith("msg_")
    assert answer["callback"] == {"status": "delivered", "attempts": 1}
    assert delivery.json() == {k: v for k, v in answer.items() if k != "callback"}
    if expected == "failed":
        assert delivery.json()["errorCode"] == "content_policy"
    else:
        assert delivery.json()["videoUrl"] == f"http://localhost/api/get-video/{job_id}"


def test_retries_keep_the_webhook_id(app, client, webhook_receiver):
    webhook_receiver.fail_next(2)
    job_id = create(client, callbackUrl=webhook_receiver.url).get_json()["jobId"]
    finish(app, client, job_id)
    answer = settle(app, client, job_id)
    deliveries = webhook_receiver.deliveries
    assert [d.status for d in deliveries] == [500, 500, 200]
    assert len({d.headers["webhook-id"] for d in deliveries}) == 1
    assert all(d.verified for d in deliveries)
    assert answer["callback"] == {"status": "delivered", "attempts": 3}


def test_a_callback_that_never_succeeds_is_given_up(app_config, webhook_receiver, simulator):
    app = create_app({**app_config, "WEBHOOK_MAX_ATTEMPTS": "2"})
    client = app.test_client()
    webhook_receiver.fail_next(100)
    job_id = create(client, callbackUrl=webhook_receiver.url).get_json()["jobId"]
    finish(app, client, job_id)
    assert settle(app, client, job_id)["callback"] == {"status": "failed", "attempts": 2}


def test_a_hanging_receiver_slows_neither_polls_nor_creates(app, client, webhook_receiver):
    webhook_receiver.hang()
    job_id = create(client, callbackUrl=webhook_receiver.url).get_json()["jobId"]
    deadline = time.monotonic() + 20
    while client.get(f"/api/video-status/{job_id}").get_json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    webhook_receiver.wait_for(1)  # the background attempt is now hanging in the receiver
    slowest = 0.0
    for _ in range(10):
        started = time.monotonic()
        assert client.get(f"/api/video-status/{job_id}").status_code == 200
        assert create(client, callbackUrl=webhook_receiver.url).status_code == 202
        slowest = max(slowest, time.monotonic() - started)
    assert slowest < 1.0, slowest  # the receiver hangs for WEBHOOK_TIMEOUT_SECONDS=2


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "http://[::1]/hook",
        "http://localhost/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
    ],
)
def test_private_callback_hosts_are_refused(app_config, simulator, url):
    client = create_app({**app_config, "WEBHOOK_ALLOW_PRIVATE_HOSTS": "false"}).test_client()
    response = create(client, callbackUrl=url)
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_callback_url"
    assert simulator.counters()["create"] == 0


@pytest.mark.parametrize("value", [None, 42, "", "not a url", "ftp://example.com/x"])
def test_malformed_callback_urls_are_refused(client, simulator, value):
    response = create(client, callbackUrl=value)
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_callback_url"
    assert simulator.counters()["create"] == 0


def test_the_address_is_checked_again_when_sending(app, client, webhook_receiver):
    job_id = create(client, callbackUrl=webhook_receiver.url).get_json()["jobId"]
    # The name now leads somewhere private (as after a DNS rebinding): nothing may be sent.
    app.config["WEBHOOK_ALLOW_PRIVATE_HOSTS"] = False
    finish(app, client, job_id)
    with app.app_context():
        Sweeper(services().inline_jobs()).sweep()
        record = services().jobs.get(job_id, fresh=True).callback
    assert webhook_receiver.deliveries == []
    assert record["attempts"] >= 1 and "public" in record["last_result"]


def test_without_a_secret_callbacks_are_not_configured(app_config, simulator, webhook_receiver):
    client = create_app({**app_config, "WEBHOOK_SECRET": ""}).test_client()
    response = create(client, callbackUrl=webhook_receiver.url)
    assert response.status_code == 503 and response.get_json()["code"] == "not_configured"


def test_production_takes_https_only_and_the_allowlist():
    production = CallbackPolicy(https_only=True)
    with pytest.raises(ValidationError, match="https"):
        check_callback_url("http://93.184.215.14/hook", production)
    target = check_callback_url("https://93.184.215.14:8443/hook?x=1", production)
    assert (target.port, target.path, target.addresses) == (8443, "/hook?x=1", ("93.184.215.14",))
    listed = CallbackPolicy(https_only=True, allowed_hosts=("*.example.com", "hooks.test"))
    with pytest.raises(ValidationError, match="WEBHOOK_ALLOWED_HOSTS"):
        check_callback_url("https://93.184.215.14/hook", listed)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("100.64.0.1", False),
        ("192.168.1.1", False),
        ("fd00::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:10.0.0.1", False),
        ("224.0.0.1", False),
    ],
)
def test_public_addresses(address, public):
    assert is_public_address(address) is public


def test_the_default_schedule_retries_for_over_an_hour():
    assert retry_span(10, 30) >= 3600
