"""dreamweb under gunicorn with the repository's gunicorn.conf.py, over real loopback sockets."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from dreamweb.processes import LOOPBACK, free_port, gunicorn_command, running

PROMPT = "A staircase that climbs into a warm sea"


@dataclass(frozen=True)
class Served:
    """A running gunicorn: its root URL and the file its output goes to."""

    url: str
    log: Path

    def fetch(self, path: str, body: dict | None = None, timeout: float = 30) -> tuple[int, bytes]:
        """GET ``path``, or POST ``body`` as JSON; (status, body) also for error statuses."""
        data = None if body is None else json.dumps(body).encode()
        headers = {} if data is None else {"Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read()

    def post_json(self, path: str, body: dict, timeout: float = 30) -> tuple[int, dict]:
        """POST ``body`` as JSON; (status, parsed body) also for error statuses."""
        status, content = self.fetch(path, body, timeout)
        return status, json.loads(content)

    def get_json(self, path: str, timeout: float = 30) -> dict:
        """GET ``path`` and parse its JSON body."""
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            return json.load(response)

    def create(self) -> tuple[int, dict]:
        """One ``POST /api/create-video``."""
        return self.post_json("/api/create-video", {"prompt": PROMPT})

    def stored_job(self, timeout: float = 60) -> str:
        """Create a job and wait until its video is stored; its id."""
        status, body = self.create()
        assert status == 202, body
        job_id = body["jobId"]
        deadline = time.monotonic() + timeout
        while self.get_json(f"/api/video-status/{job_id}")["status"] != "completed":
            assert time.monotonic() < deadline, "the video was not stored in time"
            time.sleep(0.2)
        return job_id


@contextlib.contextmanager
def gunicorn_app(env: Mapping[str, str], log: Path, workers: int = 2) -> Iterator[Served]:
    """``wsgi:app`` under gunicorn.conf.py with ``workers`` workers and ``env``."""
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    options = ["--workers", str(workers)]
    with running(gunicorn_command("wsgi:app", port=port, options=options), url + "/api/health",
                 env=env, log=log):  # fmt: skip
        yield Served(url, log)


def app_env(simulator_url: str, storage: Path, **settings: str) -> dict[str, str]:
    """The environment of a development app on the simulator and a local store."""
    return {
        "DREAMWEB_ENV": "development",
        "OPENAI_API_KEY": "sim-test-key",
        "OPENAI_BASE_URL": simulator_url,
        "STORAGE_URL": storage.as_uri(),
        "LOG_FORMAT": "json",
        "RATELIMIT_READ": "100000/minute",
        "RATELIMIT_CREATE": "100000/minute",
        **settings,
    }
