"""End to end in Debian's Chromium: type a dream, watch it render, play it, keep it, delete it.

The app runs on a loopback port against the simulator (real HTTP both ways). Screenshots of the
form, a running dream and a finished one, at desktop and phone sizes, go to
``artifacts/screenshots/``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from dreamweb.providers.openrouter import CATALOG
from dreamweb.validators import prompt_length_problem
from tests.fixtures.browser import DESKTOP, PHONE, serve_app
from tests.fixtures.gcs import create_bucket, emulator_client
from tests.fixtures.providers import openrouter_settings, vertex_settings

pytestmark = pytest.mark.browser

PROMPT = "A slow dream of paper lanterns drifting over a dark, quiet lake"
DREAM_URL = re.compile(r"/dreams/(video_[A-Za-z0-9]+)$")


@pytest.fixture
def app_config(app_config, simulator):
    """Renders long enough to watch (3 s), a provider check on every poll, 1 s polling."""
    simulator.configure(render_seconds=3.0)
    return {**app_config, "STATUS_TTL_SECONDS": "0", "POLL_INTERVAL_SECONDS": "1"}


@contextmanager
def open_page(
    chromium, *, viewport=DESKTOP, javascript=True, color_scheme="light"
) -> Iterator[tuple[Any, list[str]]]:
    """A page in a fresh context, with the console errors and page errors it produced."""
    context = chromium.new_context(
        viewport=viewport, java_script_enabled=javascript, color_scheme=color_scheme
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        yield page, problems
    finally:
        context.close()


def wait_until(page, condition: str, timeout: float = 15.0) -> Any:
    """Poll ``condition`` (a JavaScript function) until it returns something truthy.

    ``page.wait_for_function`` evaluates its predicate with ``eval``, which the app's CSP
    (rightly) forbids; ``page.evaluate`` goes through the DevTools protocol instead.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = page.evaluate(condition)
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        page.wait_for_timeout(50)


def progress_snapshot(page) -> dict[str, Any]:
    """What the status fragment shows right now."""
    return page.evaluate(
        """() => {
            const status = document.querySelector('#dream-status');
            const bar = document.querySelector('[role=progressbar]');
            const stage = document.querySelector('#dream-status .stage');
            return {
                status: status && status.dataset.status,
                value: bar ? Number(bar.getAttribute('aria-valuenow')) : null,
                stage: stage ? stage.textContent.trim() : null,
            };
        }"""
    )


def test_dream_renders_plays_is_kept_and_deleted(chromium, live_server, simulator, screenshot_dir):
    with open_page(chromium) as (page, problems):
        page.goto(live_server.url + "/")
        page.screenshot(path=screenshot_dir / "form-desktop.png", full_page=True)

        page.get_by_label("Your dream", exact=True).fill(PROMPT)
        counter = page.locator("#prompt-count")
        assert counter.text_content() == f"{len(PROMPT)} / 500 characters"
        page.get_by_label("Portrait").check()

        # A slow create: the button must be disabled while it runs, so a double click
        # cannot start two paid generations.
        simulator.inject("create", "hang", hang_seconds=1.0)
        button = page.get_by_role("button", name="Dream it")
        button.click()
        wait_until(page, "() => document.querySelector('#dream-form button').disabled")
        button.click(force=True, no_wait_after=True)
        page.wait_for_url(DREAM_URL)
        job_id = DREAM_URL.search(page.url)[1]
        assert simulator.counters()["create"] == 1
        assert page.locator("blockquote.prompt-quote").text_content() == PROMPT

        # The progress bar advances through the simulator's states, then the video appears.
        seen: list[dict[str, Any]] = []
        running_shot = False
        deadline = time.monotonic() + 20
        while True:
            snapshot = progress_snapshot(page)
            if not seen or snapshot != seen[-1]:
                seen.append(snapshot)
            if snapshot["status"] == "completed":
                break
            if snapshot["stage"] == "Rendering" and snapshot["value"] and not running_shot:
                page.screenshot(path=screenshot_dir / "running-desktop.png", full_page=True)
                with open_page(chromium, viewport=PHONE) as (phone, _):
                    phone.goto(page.url)
                    phone.screenshot(path=screenshot_dir / "running-phone.png", full_page=True)
                running_shot = True
            assert time.monotonic() < deadline, f"never completed: {seen}"
            page.wait_for_timeout(100)
        values = [s["value"] for s in seen if s["value"] is not None]
        assert len(set(values)) >= 2 and values == sorted(values), seen
        assert "Rendering" in {s["stage"] for s in seen}, seen
        assert running_shot

        video = page.locator("#dream-status video")
        assert video.get_attribute("poster") == f"/dreams/{job_id}/thumbnail"
        wait_until(page, "() => document.querySelector('video').readyState >= 2")
        page.evaluate(
            "() => { const v = document.querySelector('video'); v.muted = true; v.play(); }"
        )
        wait_until(page, "() => document.querySelector('video').currentTime > 0")
        media = live_server.media_requests(f"/dreams/{job_id}/video")
        assert media and all(header and header.startswith("bytes=") for header in media), media
        page.screenshot(path=screenshot_dir / "finished-desktop.png", full_page=True)
        with open_page(chromium, viewport=PHONE) as (phone, _):
            phone.goto(page.url)
            wait_until(phone, "() => document.querySelector('video').readyState >= 1")
            phone.screenshot(path=screenshot_dir / "finished-phone.png", full_page=True)

        # The dream is in this browser's history, and stays there after a reload.
        page.goto(live_server.url + "/")
        item = page.locator(f"#history-{job_id}")
        assert PROMPT[:40] in item.text_content()
        assert "Ready" in item.text_content()
        page.screenshot(path=screenshot_dir / "history-desktop.png", full_page=True)
        page.set_viewport_size(PHONE)
        page.screenshot(path=screenshot_dir / "history-phone.png", full_page=True)
        page.set_viewport_size(DESKTOP)
        page.reload()
        assert page.locator(f"#history-{job_id}").count() == 1

        # Delete: open the confirmation, confirm.
        item.locator("summary").click()
        item.get_by_role("button", name="Yes, delete it").click()
        page.wait_for_url(re.compile(r"/#history$"))
        assert page.locator(".flash").text_content().strip() == "Your dream was deleted."
        assert page.locator(f"#history-{job_id}").count() == 0
        assert simulator.counters()["delete"] == 1
        assert problems == [], problems  # no CSP violation, no script error


def test_invalid_dream_comes_back_inline_with_the_text_kept(
    chromium, live_server, simulator, screenshot_dir
):
    with open_page(chromium) as (page, problems):
        page.goto(live_server.url + "/")
        typed = "             a      b      "  # passes minlength; too short once cleaned
        page.get_by_label("Your dream", exact=True).fill(typed)
        page.get_by_role("button", name="Dream it").click()
        error = page.locator("#prompt-error")
        error.wait_for()
        assert "at least 10 characters" in error.text_content()
        page.screenshot(path=screenshot_dir / "invalid-desktop.png", full_page=True)
        assert page.get_by_label("Your dream", exact=True).input_value() == typed
        assert page.get_by_role("button", name="Dream it").is_enabled()
        assert page.url == live_server.url + "/"
        assert simulator.counters().get("create", 0) == 0
        # Chromium logs every 4xx fetch to the console; that one is the point of this test.
        unexpected = [p for p in problems if "status of 422" not in p]
        assert unexpected == [], problems


def test_without_javascript_the_form_posts_and_the_page_refreshes(
    chromium, live_server, simulator, screenshot_dir
):
    simulator.configure(render_seconds=1.0)
    with open_page(chromium, javascript=False) as (page, _):
        page.goto(live_server.url + "/")
        page.get_by_label("Your dream", exact=True).fill(PROMPT)
        page.get_by_role("button", name="Dream it").click()
        page.wait_for_url(DREAM_URL)
        job_id = DREAM_URL.search(page.url)[1]
        # Nothing but the <noscript> meta refresh reloads this page until the dream is done.
        page.locator("#dream-status[data-status=completed]").wait_for(timeout=20_000)
        assert page.locator("video").get_attribute("src") == f"/dreams/{job_id}/video"
        reloads = [path for path, _ in live_server.requests if path == f"/dreams/{job_id}"]
        assert len(reloads) >= 2
        assert not [path for path, _ in live_server.requests if path.endswith("/status")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_form_at_phone_size(chromium, live_server, screenshot_dir, scheme):
    with open_page(chromium, viewport=PHONE, color_scheme=scheme) as (page, problems):
        page.goto(live_server.url + "/")
        name = "form-phone.png" if scheme == "light" else "form-phone-dark.png"
        page.screenshot(path=screenshot_dir / name, full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "nothing overflows sideways on a phone"
        # Keyboard: the first Tab reaches the skip link, which becomes visible.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        assert problems == []


def test_failed_dream_explains_and_try_again_prefills_the_form(
    chromium, live_server, simulator, screenshot_dir
):
    simulator.configure(render_seconds=0.5)
    prompt = "A nightmare about a staircase that folds into itself"
    with open_page(chromium) as (page, problems):
        page.goto(live_server.url + "/")
        page.get_by_label("Your dream", exact=True).fill(prompt)
        page.get_by_role("button", name="Dream it").click()
        page.wait_for_url(DREAM_URL)
        page.locator("#dream-status[data-status=failed]").wait_for()
        assert "content rules" in page.locator("#dream-status").text_content()
        page.screenshot(path=screenshot_dir / "failed-desktop.png", full_page=True)
        page.get_by_role("link", name="Try again").click()
        page.wait_for_url(re.compile(r"/\?prompt="))
        assert page.get_by_label("Your dream", exact=True).input_value() == prompt
        assert problems == [], problems


@pytest.mark.emulator
def test_signed_url_video_plays_from_the_storage_origin(
    chromium, app_config, gcs_config, signing_key, simulator
):
    simulator.configure(render_seconds=0.5)
    config = {
        **app_config,
        **gcs_config,
        "VIDEO_DELIVERY": "signed-url",
        "GCS_CREDENTIALS_JSON": json.dumps(signing_key[1]),
    }
    origin = gcs_config["STORAGE_EMULATOR_HOST"]
    with serve_app(config) as live, open_page(chromium) as (page, problems):
        media: list[dict[str, str]] = []
        page.on(
            "request",
            lambda r: media.append(r.all_headers()) if r.url.startswith(origin) else None,
        )
        page.goto(live.url + "/")
        page.get_by_label("Your dream", exact=True).fill(PROMPT)
        page.get_by_role("button", name="Dream it").click()
        page.wait_for_url(DREAM_URL)
        page.locator("#dream-status[data-status=completed]").wait_for()
        assert page.locator("video").get_attribute("src").startswith("/dreams/")
        wait_until(page, "() => document.querySelector('video').readyState >= 2")
        page.evaluate(
            "() => { const v = document.querySelector('video'); v.muted = true; v.play() }"
        )
        wait_until(page, "() => document.querySelector('video').currentTime > 0")
        assert media and all(h.get("range", "").startswith("bytes=") for h in media), media
        assert problems == [], problems  # the CSP let the storage origin's media through


def test_counter_counts_what_the_server_counts_and_nothing_is_cut_off(chromium, live_server):
    """The counter shows the characters typed (emoji one each: code points, like the server),
    is flagged exactly when the server's one prompt rule refuses, and cuts nothing off."""
    cases = [
        # Emoji (two UTF-16 units each), zero-width and other format characters, a ZWJ
        # sequence, a combining accent that NFC folds, whitespace runs and a separator control.
        "A dream 🌊🐋 of whales\u200b sing\u00ading\u2060  under\ufeff the 🌙 moon,"
        " an 👩\u200d🚀 at a cafe\u0301\t\n\x1c ok  ",
        # Valid for the server (324 characters) though 624 UTF-16 units long.
        "🌊" * 300 + " a long dream of the sea",
        # Exactly the maximum, then one over.
        "🌙" * 250 + " " + "a" * 249,
        "🌙" * 250 + " " + "a" * 250,
        # Over the maximum as typed though under it once cleaned (the maximum counts as sent),
        # and too short once cleaned though long as typed.
        "a dream" + " " * 30 + "x" * 490,
        " \u200b " * 20 + "tiny",
    ]
    with open_page(chromium) as (page, problems):
        page.goto(live_server.url + "/")
        field = page.get_by_label("Your dream", exact=True)
        counter = page.locator("#prompt-count")
        for typed in cases:
            field.fill(typed)
            assert field.input_value() == typed, "the textarea kept every character"
            # The characters typed (code points), flagged exactly when the server refuses.
            assert counter.text_content() == f"{len(typed)} / 500 characters", typed[:40]
            flagged = "out-of-range" in (counter.get_attribute("class") or "")
            assert flagged == (prompt_length_problem(typed) is not None), typed[:40]
        assert problems == [], problems


def test_a_veo_dream_shows_elapsed_time_then_plays_its_first_frame(
    chromium, app_config, simulator, service_account_info, gcs_emulator, screenshot_dir
):
    """VIDEO_PROVIDER=vertex-veo on the GCS emulator: no progress figures and no thumbnail."""
    bucket = create_bucket(gcs_emulator)
    settings = vertex_settings(simulator, gcs_emulator, service_account_info, bucket)
    with serve_app({**app_config, **settings}) as live, open_page(chromium) as (page, problems):
        page.goto(live.url + "/")
        page.get_by_label("Your dream", exact=True).fill(PROMPT)
        page.get_by_role("button", name="Dream it").click()
        page.wait_for_url(DREAM_URL)
        job_id = DREAM_URL.search(page.url)[1]
        # Rendering: an indeterminate bar (no aria-valuenow, no value) and the elapsed time.
        bar = page.locator("#dream-status [role=progressbar]")
        bar.wait_for()
        assert bar.get_attribute("aria-valuenow") is None
        assert page.locator("#dream-status progress").get_attribute("value") is None
        assert page.locator("#dream-status .percent").count() == 0
        assert re.fullmatch(r"\d+ s", page.locator(".elapsed-time").text_content().strip())
        page.screenshot(path=screenshot_dir / "running-veo-desktop.png", full_page=True)
        page.locator("#dream-status[data-status=completed]").wait_for(timeout=20_000)
        video = page.locator("#dream-status video")
        assert video.get_attribute("poster") is None
        assert video.get_attribute("src") == f"/dreams/{job_id}/video#t=0.001"
        assert video.get_attribute("preload") == "metadata"
        wait_until(page, "() => document.querySelector('video').readyState >= 2")  # a frame
        page.evaluate(
            "() => { const v = document.querySelector('video'); v.muted = true; v.play(); }"
        )
        wait_until(page, "() => document.querySelector('video').currentTime > 0")
        page.screenshot(path=screenshot_dir / "finished-veo-desktop.png", full_page=True)
        page.goto(live.url + "/")
        item = page.locator(f"#history-{job_id}")
        assert "Ready" in item.text_content()
        assert item.locator("span.thumb").count() == 1 and item.locator("img").count() == 0
        assert problems == [], problems
    names = [blob.name for blob in emulator_client(gcs_emulator).list_blobs(bucket)]
    assert f"dw/videos/{job_id}.mp4" in names
    assert not [name for name in names if "provider-output" in name]
    assert simulator.counters()["vertex.create"] == 1


def test_openrouter_dream_renders_and_plays(chromium, app_config, simulator, screenshot_dir):
    """The same flow with ``VIDEO_PROVIDER=openrouter``: no upstream progress, then it plays."""
    CATALOG.forget()
    config = {**app_config, **openrouter_settings(simulator, model="alibaba/wan-2.7")}
    with serve_app(config) as live, open_page(chromium) as (page, problems):
        page.goto(live.url + "/")
        page.get_by_label("Your dream", exact=True).fill(PROMPT)
        # A shape this model offers and Veo does not.
        page.locator('input[name=size][value="720x720"]').check()
        page.get_by_role("button", name="Dream it").click()
        page.wait_for_url(DREAM_URL)
        job_id = DREAM_URL.search(page.url)[1]
        page.locator("#dream-status[data-status=completed]").wait_for(timeout=20_000)
        wait_until(page, "() => document.querySelector('video').readyState >= 2")
        page.evaluate(
            "() => { const v = document.querySelector('video'); v.muted = true; v.play() }"
        )
        wait_until(page, "() => document.querySelector('video').currentTime > 0")
        assert page.evaluate("() => document.querySelector('video').videoWidth") > 0
        media = live.media_requests(f"/dreams/{job_id}/video")
        assert media and all(header and header.startswith("bytes=") for header in media), media
        counters = simulator.counters()
        assert (counters["openrouter.create"], counters["create"]) == (1, 0)
        page.screenshot(path=screenshot_dir / "openrouter-finished-desktop.png", full_page=True)
        assert problems == [], problems
