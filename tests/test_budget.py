"""The daily video budget: reserved before the paid call, shared by every process, given back
when the provider refuses. Real peers: the simulator over HTTP, redis-server, the local store
and fake-gcs-server, and gunicorn with two workers."""

from __future__ import annotations

import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from dreamweb import create_app
from dreamweb.budget import (
    Limits,
    RedisBudget,
    StoreBudget,
    budget_spent_text,
    seconds_to_midnight,
    utc_day,
)
from dreamweb.errors import BudgetExhaustedError
from dreamweb.processes import (
    LOOPBACK,
    NotReadyError,
    free_port,
    gunicorn_command,
    start,
    stop,
    wait_until_up,
)
from dreamweb.services import services
from dreamweb.storage.local import LocalVideoStore
from tests.concurrency import run_at_once
from tests.fixtures.peers import missing_peer

PROMPT = "A serene dream of flying over mountains at sunset"
SPENT = "Today's video budget is used up; try again after 00:00 UTC"
BUDGET = {"DAILY_VIDEO_SECONDS_BUDGET": "16", "VIDEO_SECONDS": "8"}


def create(client, **kw):
    return client.post("/api/create-video", json={"prompt": PROMPT, "seconds": "8"}, **kw)


def assert_spent(response) -> None:
    """A refused create: 503, the documented text, Retry-After = seconds to midnight UTC."""
    assert response.status_code == 503
    assert response.get_json()["error"] == SPENT
    retry = int(response.headers["Retry-After"])
    assert abs(retry - seconds_to_midnight(time.time())) <= 5


# --- pure helpers ---------------------------------------------------------------------------


def test_day_and_seconds_to_midnight_are_utc():
    moment = datetime(2026, 3, 1, 23, 59, 30, tzinfo=UTC).timestamp()
    assert utc_day(moment) == "2026-03-01"
    assert seconds_to_midnight(moment) == 30
    assert seconds_to_midnight(datetime(2026, 3, 1, tzinfo=UTC).timestamp()) == 24 * 3600


def test_the_friendly_text_says_when_it_starts_again():
    assert "in about 2 h 05 min" in budget_spent_text(2 * 3600 + 5 * 60)
    assert "in about 3 min" in budget_spent_text(170)


# --- the two counters, many threads at once -------------------------------------------------


@pytest.fixture(params=["store", "redis"])
def counter(request, tmp_path):
    """A budget of 16 s total, 8 s per client, on the store or on redis-server."""
    limits = Limits(total=16, per_client=None)
    if request.param == "store":
        return lambda limits=limits: StoreBudget(LocalVideoStore(str(tmp_path)), limits)
    url = request.getfixturevalue("redis_url")
    return lambda limits=limits: RedisBudget.from_url(url, limits)


def test_concurrent_reservations_never_pass_the_budget(counter):
    budget = counter()
    taken: list[object] = []
    refused: list[object] = []

    def reserve() -> None:
        try:
            taken.append(budget.reserve(8, "client"))
        except BudgetExhaustedError as error:
            refused.append(error)

    run_at_once(reserve, 8)
    assert len(taken) == 2 and len(refused) == 6
    assert budget.usage().used == 16
    budget.give_back(taken[0])
    assert budget.usage().used == 8
    budget.reserve(8, "another client")  # the given-back seconds are usable again
    assert budget.usage().used == 16


def test_the_per_client_cap_counts_each_client_apart(counter):
    budget = counter(Limits(total=None, per_client=8))
    budget.reserve(8, "token:a")
    with pytest.raises(BudgetExhaustedError):
        budget.reserve(4, "token:a")
    budget.reserve(8, "token:b")
    assert budget.usage().used == 16


# --- through the app: 2 accepted, the 3rd refused with zero provider calls ------------------


@pytest.mark.parametrize("backend", ["store", "redis"])
def test_third_create_is_refused_without_calling_the_provider(
    app_config, simulator, backend, request
):
    config = {**app_config, **BUDGET}
    if backend == "redis":
        config["REDIS_URL"] = request.getfixturevalue("redis_url")
    client = create_app(config).test_client()
    assert create(client).status_code == 202
    assert create(client).status_code == 202
    assert_spent(create(client))
    assert simulator.counters()["create"] == 2, "the refused create never reached the provider"


def test_a_create_the_provider_refuses_gives_its_seconds_back(app_config, simulator):
    app = create_app({**app_config, **BUDGET})
    client = app.test_client()
    simulator.inject("create", "quota", count=1)  # refused: the provider started nothing
    assert create(client).status_code == 503
    with app.app_context():
        assert services().budget.usage().used == 0
    assert create(client).status_code == 202
    assert create(client).status_code == 202
    assert_spent(create(client))
    assert simulator.counters()["create"] == 3


def test_a_refused_create_frees_its_idempotency_key(app_config, simulator):
    client = create_app({**app_config, **BUDGET, "DAILY_VIDEO_SECONDS_BUDGET": "4"}).test_client()
    assert_spent(create(client, headers={"Idempotency-Key": "k-1"}))
    assert_spent(create(client, headers={"Idempotency-Key": "k-1"}))  # not 409 "in progress"


def test_replays_cost_nothing(app_config, simulator):
    client = create_app({**app_config, **BUDGET, "DAILY_VIDEO_SECONDS_BUDGET": "8"}).test_client()
    first = create(client, headers={"Idempotency-Key": "same"})
    again = create(client, headers={"Idempotency-Key": "same"})
    assert first.status_code == again.status_code == 202
    assert first.get_json()["jobId"] == again.get_json()["jobId"]
    assert_spent(create(client))


def test_web_form_shows_a_friendly_page_with_retry_after(app_config, simulator):
    from tests.web.conftest import post_dream

    client = create_app({**app_config, **BUDGET, "DAILY_VIDEO_SECONDS_BUDGET": "4"}).test_client()
    response = post_dream(client, seconds="8")
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "dreams are all used up" in page and "00:00 UTC" in page
    assert "try again in a few moments" not in page  # not the "busy" page
    assert response.mimetype == "text/html"
    assert int(response.headers["Retry-After"]) > 0
    assert simulator.counters()["create"] == 0


def test_job_record_keeps_its_seconds(app, client, simulator):
    job_id = create(client).get_json()["jobId"]
    with app.app_context():
        job = services().jobs.get(job_id)
    assert job.seconds == "8" and job.cost is None  # the simulator reports no price


def test_usage_command_prints_used_and_budget(app_config, simulator):
    app = create_app({**app_config, **BUDGET})
    create(app.test_client())
    result = app.test_cli_runner().invoke(args=["usage"])
    assert result.exit_code == 0, result.output
    assert f"{utc_day(time.time())} UTC: 8 of 16 video seconds used (50%), 8 left" in result.output


def test_usage_without_a_budget_says_unlimited(app):
    result = app.test_cli_runner().invoke(args=["usage"])
    assert "no DAILY_VIDEO_SECONDS_BUDGET set" in result.output


# --- across processes -----------------------------------------------------------------------


def start_gunicorn(env: dict[str, str], tmp_path: Path) -> tuple[subprocess.Popen, str]:
    """dreamweb under gunicorn with 2 sync workers on a free port; its base URL."""
    port = free_port()
    log = tmp_path / "gunicorn.log"
    options = ["--workers", "2", "--worker-class", "sync", "--timeout", "60"]
    process = start(gunicorn_command("wsgi:app", port=port, options=options), env=env, log=log)
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_until_up(f"{url}/api/health", process, timeout=60)  # a busy machine starts slowly
    except NotReadyError as error:
        stop(process)
        missing_peer(f"gunicorn did not start: {error}: " + log.read_text()[-800:])
    return process, url


def worker_env(app_config: dict, **more: str) -> dict[str, str]:
    keys = ("SECRET_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "STORAGE_URL", "LOG_FORMAT")
    env = {key: str(app_config[key]) for key in keys}
    env.update(DREAMWEB_ENV="development", RATELIMIT_ENABLED="false", **BUDGET, **more)
    return env


def creates_at_once(url: str, count: int) -> list[requests.Response]:
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def post() -> None:
        answer = requests.post(
            f"{url}/api/create-video", json={"prompt": PROMPT, "seconds": "8"}, timeout=30
        )
        with lock:
            answers.append(answer)

    run_at_once(post, count)
    return answers


@pytest.mark.parametrize("backend", ["redis", "store:local", "store:gcs"])
def test_two_workers_share_one_budget(app_config, simulator, backend, request, tmp_path):
    """Each create holds its worker for 1 s at the provider, so both workers take creates."""
    extra: dict[str, str] = {}
    if backend == "redis":
        extra["REDIS_URL"] = request.getfixturevalue("redis_url")
    elif backend == "store:gcs":
        extra.update(request.getfixturevalue("gcs_config"))
    process, url = start_gunicorn(worker_env(app_config, **extra), tmp_path)
    try:
        simulator.inject("create", "hang", count=6, hang_seconds=1.0)
        answers = creates_at_once(url, 6)
    finally:
        stop(process)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [202, 202, 503, 503, 503, 503], statuses
    for answer in answers:
        if answer.status_code == 503:
            assert answer.json()["error"] == SPENT and int(answer.headers["Retry-After"]) > 0
    assert simulator.counters()["create"] == 2
