"""Validators and prompt enhancement: pure functions, no peers."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dreamweb.errors import ValidationError
from dreamweb.prompts import enhance_prompt
from dreamweb.validators import (
    PROMPT_MAX,
    PROMPT_MIN,
    counted_length,
    parse_create_request,
    prompt_pattern,
    sanitize_prompt,
    validate_idempotency_key,
    validate_job_id,
    validate_prompt,
)

ALLOWED = {
    "allowed_seconds": ["4", "8", "12"],
    "allowed_sizes": ["1280x720", "720x1280"],
    "default_seconds": "8",
    "default_size": "1280x720",
}


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  flying   over\tmountains\n\n ", "flying over mountains"),
        ("cafe\u0301 dream", "caf\u00e9 dream"),  # NFC
        ("zero\u200bwidth\u200d dream", "zerowidth dream"),
        ("right\u202eto-left dream", "rightto-left dream"),
        ("bell\x07 and\x00 null", "bell and null"),
        ("\ufeffBOM first", "BOM first"),
    ],
)
def test_sanitize_prompt(raw, clean):
    assert sanitize_prompt(raw) == clean


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "Invalid prompt: prompt is required"),
        (42, "Invalid prompt: must be a string"),
        (["a"], "Invalid prompt: must be a string"),
        ("   \n\t ", "Invalid prompt: must not be empty or only whitespace"),
        ("\u200b\u200b\u200b", "Invalid prompt: must not be empty or only whitespace"),
        ("short", "Invalid prompt: must be between 10 and 500 characters"),
        ("x" * 501, "Invalid prompt: must be between 10 and 500 characters"),
        ("a\u200b" * 9, "Invalid prompt: must be between 10 and 500 characters"),
    ],
)
def test_validate_prompt_rejects(value, message):
    with pytest.raises(ValidationError) as caught:
        validate_prompt(value)
    assert caught.value.public_message == message


def test_validate_prompt_bounds_are_inclusive():
    assert validate_prompt("x" * 10) == "x" * 10
    assert validate_prompt("x" * 500) == "x" * 500
    assert validate_prompt("  " + "y" * 496 + "  ") == "y" * 496


def test_the_maximum_applies_to_the_text_as_sent():
    # The OpenAPI maxLength is exact only if sanitizing cannot rescue a longer text.
    with pytest.raises(ValidationError, match="between 10 and 500"):
        validate_prompt("  " + "y" * 499)


@settings(max_examples=400, deadline=None)
@given(
    st.text(max_size=40)
    | st.text(alphabet=" \t\n\u200b\x00ab\u00e9\U000e0001\u0301\U0010fffd\u0378", max_size=30)
)
def test_the_openapi_pattern_states_the_minimum_exactly(text):
    pattern = re.compile(prompt_pattern())
    assert (pattern.search(text) is not None) == (counted_length(text) >= PROMPT_MIN)
    if len(text) <= PROMPT_MAX and pattern.search(text):
        assert validate_prompt(text)
    else:
        with pytest.raises(ValidationError):
            validate_prompt(text)


def test_parse_create_request_defaults_and_ignores_extra_fields():
    parsed = parse_create_request(
        {"prompt": "a dream of the sea", "model": "sora-2-pro"}, **ALLOWED
    )
    assert (parsed.prompt, parsed.seconds, parsed.size) == ("a dream of the sea", "8", "1280x720")


def test_parse_create_request_accepts_allowed_choices():
    parsed = parse_create_request(
        {"prompt": "a dream of the sea", "seconds": 12, "size": "720x1280"}, **ALLOWED
    )
    assert (parsed.seconds, parsed.size) == ("12", "720x1280")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "Invalid request: body must be a JSON object"),
        ("text", "Invalid request: body must be a JSON object"),
        (None, "Invalid request: body must be a JSON object"),
        (
            {"prompt": "a dream of the sea", "seconds": "10"},
            "Invalid seconds: must be one of 4, 8, 12",
        ),
        (
            {"prompt": "a dream of the sea", "seconds": True},
            "Invalid seconds: must be one of 4, 8, 12",
        ),
        (
            {"prompt": "a dream of the sea", "size": "1x1"},
            "Invalid size: must be one of 1280x720, 720x1280",
        ),
    ],
)
def test_parse_create_request_rejects(body, message):
    with pytest.raises(ValidationError) as caught:
        parse_create_request(body, **ALLOWED)
    assert caught.value.public_message == message


@pytest.mark.parametrize("job_id", ["video_abcd", "video_" + "a" * 44, "video_AbC123xyz"])
def test_job_id_accepted(job_id):
    assert validate_job_id(job_id) == job_id


@pytest.mark.parametrize(
    "job_id",
    [
        "video_abc",
        "video_" + "a" * 45,
        "video_../etc",
        "video_a/b",
        "video_é" * 2,
        "VIDEO_abcd",
        "sora_abcdef",
        "",
        None,
        12,
        "video_abc def",
    ],
)
def test_job_id_rejected(job_id):
    with pytest.raises(ValidationError, match="Invalid job ID"):
        validate_job_id(job_id)


def test_idempotency_key():
    assert validate_idempotency_key(None) is None
    assert validate_idempotency_key("retry-42") == "retry-42"
    for bad in ["", "has space", "x" * 256, "ünï"]:
        with pytest.raises(ValidationError):
            validate_idempotency_key(bad)


def test_enhance_prompt_keeps_braces_literal():
    template = "A cinematic dream sequence: {prompt}. Dreamlike."
    assert enhance_prompt("a {door} opens", template) == (
        "A cinematic dream sequence: a {door} opens. Dreamlike."
    )
