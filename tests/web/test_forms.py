"""The dream form (``dreamweb.web.forms``): validation messages, typed text kept."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import (
    CSRF_INPUT,
    HTMX,
    PROMPT,
    post_dream,
)


def test_form_has_labels_rules_choices_and_a_no_js_fallback(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<label for="prompt">' in page and 'id="prompt" name="prompt"' in page
    # No maxlength: browsers count UTF-16 units, the server code points after sanitizing.
    assert 'minlength="10"' in page and "maxlength=" not in page
    assert "10 to 500 characters" in page and 'id="prompt-count"' in page
    # One form: hx-post for htmx, a plain POST action without JavaScript, one submit button.
    assert 'method="post" action="/dreams"' in page and 'hx-post="/dreams"' in page
    assert "hx-disabled-elt=\"find button[type='submit']\"" in page
    assert page.count('type="submit"') == 1
    assert CSRF_INPUT.search(page) and "X-CSRFToken" in page
    # Orientation from VIDEO_ALLOWED_SIZES, length from VIDEO_ALLOWED_SECONDS; defaults checked.
    assert re.search(r'value="1280x720" checked>\s*<span>Landscape</span>', page)
    assert re.search(r'value="720x1280">\s*<span>Portrait</span>', page)
    for seconds in ("4", "8", "12"):
        assert f'name="seconds" value="{seconds}"' in page
    assert re.search(r'name="seconds" value="8" checked', page)
    assert "Your dreams" in page and "appear here" in page


def test_dream_again_link_prefills_the_form(client):
    page = client.get("/?prompt=a+dream+of+glass+rain&seconds=12&size=720x1280").get_data(
        as_text=True
    )
    assert ">a dream of glass rain</textarea>" in page
    assert re.search(r'value="720x1280" checked', page)
    assert re.search(r'name="seconds" value="12" checked', page)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("too short", "at least 10 characters (it has 9)"),
        ("            a     b       ", "at least 10 characters (it has 3)"),
        ("", "Tell us your dream first."),
        ("x" * 501, "at most 500 characters (it has 501)"),
    ],
)
def test_invalid_prompt_is_422_and_keeps_the_typed_text(client, simulator, typed, expected):
    response = post_dream(client, typed, size="720x1280", seconds="12")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "<html" in page, "without JavaScript the whole form page comes back"
    assert expected in page
    assert f">{typed}</textarea>" in page
    assert 'aria-invalid="true"' in page and 'id="prompt-error"' in page
    assert re.search(r'value="720x1280" checked', page)
    assert re.search(r'name="seconds" value="12" checked', page)
    assert simulator.counters().get("create", 0) == 0


def test_invalid_prompt_with_htmx_returns_the_form_fragment(client):
    response = post_dream(client, "tiny", headers=HTMX)
    assert response.status_code == 422
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith("{#") is False
    assert "<html" not in fragment and '<form id="dream-form"' in fragment
    assert ">tiny</textarea>" in fragment and "at least 10 characters" in fragment
    # htmx 2 swaps this 422 only because base.html's htmx-config says so.
    page = client.get("/").get_data(as_text=True)
    assert '"code":"^(400|409|422|429|502|503)$","swap":true' in page


def test_unknown_choices_are_rejected_inline(client, simulator):
    response = post_dream(client, size="9999x9999", seconds="7")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Choose one of the orientations shown." in page
    assert "Choose one of the lengths shown." in page
    assert f">{PROMPT}</textarea>" in page
    assert simulator.counters().get("create", 0) == 0


def test_a_long_paste_is_reported_with_its_real_length(client, simulator):
    response = post_dream(client, "x" * 5000)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "at most 500 characters (it has 5000)" in page
    assert simulator.counters().get("create", 0) == 0
