"""What a rate limit costs per request, in process (issue 10): flask-limiter's generic path
against dreamweb's short path for polled endpoints.

    .venv/bin/python bench/limiter_cost.py

Calls each WSGI app directly (no server, no sockets) and prints the best of 3 x 3,000 requests:
(1) a trivial Flask view, alone, with flask-limiter and no limit, and with one default limit;
(2) dreamweb's status poll of a running job, limits on, through flask-limiter's generic path and
through ``PollingLimiter``'s short path (same counter, see dreamweb/ratelimits.py), and with
limits off.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable

import peers  # bench/ is on sys.path: the script's own folder
from flask import Blueprint, Flask, request
from flask_limiter import Limiter
from werkzeug.test import EnvironBuilder

REQUESTS = 3000
ROUNDS = 3


def caller(app: Callable, path: str, method: str = "GET", **options: object) -> Callable[[], bytes]:
    """A function that sends one request to the WSGI ``app`` and returns its body."""
    environ = EnvironBuilder(path=path, method=method, **options).get_environ()

    def call() -> bytes:
        return b"".join(app(dict(environ), lambda status, headers, exc_info=None: None))

    return call


def microseconds(call: Callable[[], object]) -> float:
    """Best mean time per call over ``ROUNDS`` runs of ``REQUESTS`` calls, in µs."""
    for _ in range(300):
        call()  # warm caches
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(REQUESTS):
            call()
        best = min(best, (time.perf_counter() - started) / REQUESTS)
    return best * 1e6


def trivial_app(limits: list[str] | None) -> Flask:
    """A one-view app under a blueprint; ``limits`` None: no flask-limiter at all."""
    app = Flask("trivial")
    blueprint = Blueprint("api", __name__, url_prefix="/api")
    blueprint.get("/status/<job>")(lambda job: "ok")
    app.register_blueprint(blueprint)
    if limits is not None:
        Limiter(
            lambda: request.remote_addr or "",
            app=app,
            default_limits=limits,
            storage_uri="memory://",
        )
    return app


def status_poll_figures(simulator_url: str, folder: str) -> dict[str, float]:
    """The status poll's cost through each limiter path (and with limits off)."""
    os.environ.update(peers.app_env(simulator_url, folder, LOG_LEVEL="WARNING"))
    from dreamweb import create_app
    from dreamweb.extensions import limiter

    figures = {}
    for label, enabled, polled in [
        ("limits on, flask-limiter's generic path", "true", frozenset()),
        ("limits on, PollingLimiter's short path", "true", limiter.polled_endpoints),
        ("limits off", "false", limiter.polled_endpoints),
    ]:
        os.environ["RATELIMIT_ENABLED"] = enabled
        app = create_app()
        created = caller(app, "/api/create-video", "POST", json={"prompt": "a bench of dreams"})
        job_id = json.loads(created())["jobId"]
        limiter.polled_endpoints = polled
        figures[label] = microseconds(caller(app, f"/api/video-status/{job_id}"))
    return figures


def main() -> None:
    """Print both sets of figures."""
    print(f"per request, best of {ROUNDS} x {REQUESTS:,} in-process calls:")
    for label, limits in [
        ("trivial view", None),
        ("trivial view + flask-limiter, no limit", []),
        ("trivial view + flask-limiter, one default limit", ["100000000/minute"]),
    ]:
        print(f"(1) {label}: {microseconds(caller(trivial_app(limits), '/api/status/x')):.0f} µs")
    with tempfile.TemporaryDirectory() as folder, peers.simulator(render_seconds=600) as url:
        for label, cost in status_poll_figures(url, folder).items():
            print(f"(2) dreamweb status poll, {label}: {cost:.0f} µs")


if __name__ == "__main__":
    main()
