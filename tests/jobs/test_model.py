"""The job model (``dreamweb.jobs.model``): ids, failure codes and their wording."""

from __future__ import annotations

from dreamweb.jobs import (
    FailureCode,
    failure_text,
    new_job_id,
)
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
