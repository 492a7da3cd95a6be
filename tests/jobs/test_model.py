"""The job model (``dreamweb.jobs.model``): ids, failure codes and their wording."""

from __future__ import annotations

from dataclasses import replace

from dreamweb.jobs import (
    FailureCode,
    Job,
    failure_text,
    new_job_id,
    shown_progress,
)
from dreamweb.jobs.model import estimated_progress
from dreamweb.storage.layout import is_job_id


def test_new_job_ids_have_the_seed_format():
    ids = {new_job_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(is_job_id(i) and 10 <= len(i) <= 50 for i in ids)


def test_failure_text_for_unknown_codes_is_fixed_and_the_provider_message_only_logged(caplog):
    with caplog.at_level("INFO", logger="dreamweb"):
        text = failure_text("weird_code", "The render farm caught fire")
    assert text == failure_text(None) == "Video generation failed at the provider"
    logged = [getattr(record, "upstream_message", None) for record in caplog.records]
    assert "The render farm caught fire" in logged


def test_every_failure_code_has_api_text_and_a_human_explanation():
    for code in FailureCode:
        assert code.text.startswith("Video generation failed: ") and code.explanation
        assert failure_text(code) == code.text and FailureCode.known(str(code)) is code


def test_estimated_progress_climbs_but_never_reaches_100():
    typical = 90.0
    figures = [estimated_progress(t, typical) for t in (0, 9, 45, 90, 180, 900, 10**6)]
    assert figures == sorted(figures)
    assert figures[0] == 0 and figures[2] == 45 and figures[3] == 90
    assert all(0 <= f <= 99 for f in figures) and figures[-1] == 98
    assert estimated_progress(-5, typical) == 0 and estimated_progress(10, 0) == 0


def test_shown_progress_estimates_only_what_the_provider_did_not_report():
    job = Job(id="video_x", provider="p", prompt="p", enhanced_prompt="p", model="m",
              seconds="8", size="1280x720", created_at=1000.0, progress=30)  # fmt: skip
    assert shown_progress(job, 100.0, now=1050.0) == 30
    estimated = replace(job, progress_estimated=True, progress=0)
    assert shown_progress(estimated, 100.0, now=1050.0) == 45
    assert shown_progress(estimated, 100.0, now=1000.0 + 10**6) == 98
