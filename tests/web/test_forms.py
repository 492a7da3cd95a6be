"""The dream form (``dreamweb.web.forms``): validation messages, typed text kept."""

from __future__ import annotations

from tests.web.conftest import post_dream


def test_a_long_paste_is_reported_with_its_real_length(client, simulator):
    response = post_dream(client, "x" * 5000)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "at most 500 characters (it has 5000)" in page
    assert simulator.counters().get("create", 0) == 0
