"""The sweeper: advances unfinished jobs, expires idempotency keys, survives storage trouble."""

from __future__ import annotations

import pytest

from dreamweb.jobs import (
    IDEMPOTENCY_TTL,
    JobService,
    Sweeper,
)
from dreamweb.storage import layout
from dreamweb.storage.gcs import GCSVideoStore
from dreamweb.storage.local import LocalVideoStore
from tests.fixtures.gcs import TEST_RETRY_DEADLINE, TEST_TIMEOUT, emulator_client
from tests.jobs.conftest import create, unsaved_job


def test_sweep_finishes_jobs_nobody_polls(jobs, simulator, store, clock):
    done = create(jobs)
    failing = create(jobs, "a nightmare in a hall of mirrors")
    running = create(jobs, "a slow dream of drifting clouds")
    for job in (done, failing):
        simulator.complete(job.provider_job_id)
    clock.now += 10
    report = Sweeper(jobs).sweep()
    assert (report.examined, report.stored, report.failed, report.errors) == (3, 1, 1, 0)
    assert jobs.get(done.id).status == "completed"
    assert store.exists(layout.video_key(done.id))
    assert jobs.get(failing.id).status == "failed"
    assert jobs.get(running.id).status in {"pending", "processing"}
    assert sorted(Sweeper(jobs).active_job_ids()) == [running.id]


def old_key_record(clock, name: str) -> dict:
    """An ``idempotency/`` record as a create writes it, already past its 24 h."""
    return {
        "job_id": unsaved_job(clock).id,
        "fingerprint": name,
        "created_at": clock.now - IDEMPOTENCY_TTL - 1,
        "state": "done",
    }


def break_record(store: LocalVideoStore, key: str) -> None:
    """Make ``key`` unreadable for real: the data file its pointer names becomes a directory
    (reading it fails with EISDIR; listing still finds the key)."""
    data = store.root / f"{key}@{store.get_record(key).generation}"
    data.unlink()
    data.mkdir()


@pytest.mark.emulator
def test_a_storage_outage_while_sweeping_is_reported_not_raised(config, clock, gcs_emulator):
    # A real outage: the emulator answers, but the bucket is not there.
    missing = GCSVideoStore(
        "dreamweb-no-such-bucket",
        "",
        emulator_client(gcs_emulator),
        timeout=TEST_TIMEOUT,
        retry_deadline=TEST_RETRY_DEADLINE,
        api_access_endpoint=gcs_emulator,
    )
    report = Sweeper(JobService(missing, None, config, clock=clock)).sweep()
    assert report.errors >= 1 and (report.examined, report.stored, report.failed) == (0, 0, 0)


def test_one_unreadable_idempotency_record_does_not_stop_the_sweep(jobs, store, clock):
    broken = layout.idempotency_record_key("k-broken", scope="203.0.113.1")
    expired = layout.idempotency_record_key("k-expired", scope="203.0.113.1")
    for key in (broken, expired):
        store.put_record(key, old_key_record(clock, key), generation=None)
    break_record(store, broken)
    running = create(jobs)
    report = Sweeper(jobs).sweep()
    assert report.errors == 1 and report.examined == 1
    assert store.get_record(expired) is None, "the sweep went on past the broken record"
    assert jobs.get(running.id).status in {"pending", "processing"}


class TakenOverAfterRead(LocalVideoStore):
    """A real local store where, right after the sweeper reads an idempotency record, another
    request takes that key over (the interleaving a slow sweep over GCS allows)."""

    take_over: dict | None = None

    def get_record(self, key: str):
        record = super().get_record(key)
        if record is not None and key.startswith(layout.IDEMPOTENCY) and self.take_over:
            fresh, self.take_over = self.take_over, None
            self.put_record(key, fresh, generation=record.generation)
        return record


def test_the_sweeper_never_deletes_a_key_taken_over_since_it_read_it(config, clock, tmp_path):
    store = TakenOverAfterRead(tmp_path / "store")
    key = layout.idempotency_record_key("k-reused", scope="203.0.113.1")
    store.put_record(key, old_key_record(clock, "first"), generation=None)
    new_owner = {
        "job_id": unsaved_job(clock).id,
        "fingerprint": "second",
        "created_at": clock.now,
        "state": "in_flight",
    }
    store.take_over = new_owner
    Sweeper(JobService(store, None, config, clock=clock)).sweep()
    record = store.get_record(key)
    assert record is not None and record.data == new_owner
