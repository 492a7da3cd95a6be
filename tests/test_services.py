"""The app's long-lived collaborators (``dreamweb.services``): built once per process."""

from __future__ import annotations

from dreamweb.jobs.service import run_inline
from dreamweb.services import services


def test_every_request_shares_one_job_service_with_a_background_spawn(app):
    with app.app_context():
        jobs = services().jobs
        assert services().jobs is jobs, "built once, not per status poll"
        assert jobs.spawn == services().background.spawn
        assert jobs.store is services().store and jobs.guard is services().guard


def test_the_sweeper_gets_its_own_service_that_runs_work_inline(app):
    with app.app_context():
        inline = services().inline_jobs()
        assert inline is not services().jobs
        assert inline.spawn is run_inline
