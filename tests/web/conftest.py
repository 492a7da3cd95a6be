"""Helpers for the browser-UI tests: submit the form as a browser would, poll like htmx.

The app talks to the simulator over real HTTP and stores on local disk; ingest runs in the
app's background pool, so tests poll the status fragment (bounded) until a job is final.
"""

from __future__ import annotations

import re
import time

import pytest

from dreamweb.storage.layout import is_job_id

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
    """The ``data-status`` of a status fragment."""
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
    """The "Your dreams" part of the form page."""
    page = client.get("/").get_data(as_text=True)
    return page[page.index('id="history"') :]
