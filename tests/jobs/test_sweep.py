"""The sweeper: advances unfinished jobs, expires idempotency keys, survives storage trouble."""

from __future__ import annotations

import os
import time

import pytest

from dreamweb.jobs import (
    IDEMPOTENCY_TTL,
    JobService,
    Sweeper,
)
from dreamweb.providers.guard import GuardedProvider, ProviderGuard
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


def age(store: LocalVideoStore, key: str, seconds: float) -> None:
    """Make ``key`` look last written ``seconds`` ago, as the filesystem reports it."""
    pointer = store.root / f"{key}@meta"
    then = time.time() - seconds
    os.utime(pointer, (then, then))


def test_keys_expire_by_the_listings_write_time_without_reading_records(jobs, store):
    old = layout.idempotency_record_key("k-old", scope="203.0.113.1")
    fresh = layout.idempotency_record_key("k-fresh", scope="203.0.113.1")
    for key in (old, fresh):
        store.put_record(key, old_key_record(jobs.clock, key), generation=None)
    age(store, old, IDEMPOTENCY_TTL + 60)
    # An unreadable body is no obstacle: expiry never reads it, the listing dates it.
    break_record(store, fresh)
    assert Sweeper(jobs).sweep().errors == 0
    assert [listed.key for listed in store.list_objects(layout.IDEMPOTENCY)] == [fresh]


def test_one_key_that_cannot_be_deleted_does_not_stop_the_sweep(jobs, store, clock):
    broken = layout.idempotency_record_key("k-broken", scope="203.0.113.1")
    expired = layout.idempotency_record_key("k-expired", scope="203.0.113.1")
    for key in (broken, expired):
        store.put_record(key, old_key_record(clock, key), generation=None)
        age(store, key, IDEMPOTENCY_TTL + 60)
    break_record(store, broken)  # its delete fails for real (the data file is a directory)
    running = create(jobs)
    report = Sweeper(jobs).sweep()
    assert report.errors == 1 and report.examined == 1
    assert store.get_record(expired) is None, "the sweep went on past the broken key"
    assert jobs.get(running.id).status in {"pending", "processing"}


@pytest.mark.emulator
def test_keys_expire_by_the_listings_write_time_on_gcs(config, clock, gcs_store):
    key = layout.idempotency_record_key("k-gcs", scope="203.0.113.1")
    gcs_store.put_record(key, old_key_record(clock, key), generation=None)
    (listed,) = gcs_store.list_objects(layout.IDEMPOTENCY)
    assert abs(listed.updated - time.time()) < 60, "the emulator's own 'updated' time"
    sweeper = Sweeper(JobService(gcs_store, None, config, clock=clock))
    assert sweeper.sweep().errors == 0
    assert gcs_store.get_record(key) is not None, "not 24 h old yet"
    clock.now += IDEMPOTENCY_TTL + 60
    assert sweeper.sweep().errors == 0
    assert gcs_store.get_record(key) is None


class TakenOverAfterListing(LocalVideoStore):
    """A real local store where, right after the sweeper lists an idempotency key, another
    request takes that key over (the interleaving a slow sweep over GCS allows)."""

    take_over: dict | None = None

    def list_objects(self, prefix: str):
        for listed in super().list_objects(prefix):
            if self.take_over:
                fresh, self.take_over = self.take_over, None
                self.put_record(listed.key, fresh, generation=listed.generation)
            yield listed


def test_the_sweeper_never_deletes_a_key_taken_over_since_it_listed_it(config, clock, tmp_path):
    store = TakenOverAfterListing(tmp_path / "store")
    key = layout.idempotency_record_key("k-reused", scope="203.0.113.1")
    store.put_record(key, old_key_record(clock, "first"), generation=None)
    age(store, key, IDEMPOTENCY_TTL + 60)
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


# --- at scale: parallel, a deadline per job, no single error stops it -----------------------


def test_one_failing_job_never_stops_the_sweep(jobs, simulator, store, clock):
    done, broken, other = create(jobs), create(jobs), create(jobs)
    simulator.complete(done.provider_job_id)
    break_record(store, layout.job_key(broken.id))  # reading this job fails for real
    report = Sweeper(jobs).sweep()
    assert (report.examined, report.stored, report.errors) == (3, 1, 1)
    assert jobs.get(done.id).status == "completed"
    assert jobs.get(other.id).checked_at == clock.now, "the job after the broken one was checked"


def test_a_stuck_job_costs_its_deadline_not_the_whole_sweep(jobs, simulator, store, config):
    settings = {**config, "SWEEP_CONCURRENCY": 2, "SWEEP_JOB_DEADLINE": 1.0}
    jobs = JobService(store, jobs.provider, settings)
    for _ in range(4):
        create(jobs)
    simulator.inject("retrieve", "hang", count=1, hang_seconds=8)
    started = time.monotonic()
    report = Sweeper(jobs).sweep()
    elapsed = time.monotonic() - started
    checked = simulator.counters()["retrieve"]
    simulator.reset()  # let the abandoned check go
    assert (report.examined, report.errors, report.timed_out) == (4, 1, 1)
    assert checked == 4, "the other jobs were checked while one hung"
    assert elapsed < 4, f"{elapsed:.1f} s: the sweep waited for the stuck job"


def test_a_sweep_over_200_jobs_with_a_slow_provider_stays_within_its_deadline_budget(
    jobs, simulator, store, config
):
    concurrency, deadline, slow = 8, 3.0, 0.4
    simulator.configure(render_seconds=3600)
    settings = {**config, "SWEEP_CONCURRENCY": concurrency, "SWEEP_JOB_DEADLINE": deadline}
    jobs = JobService(store, jobs.provider, settings)
    for _ in range(200):
        create(jobs)
    before = simulator.counters()["retrieve"]
    simulator.inject("retrieve", "hang", count=200, hang_seconds=slow)
    started = time.monotonic()
    report = Sweeper(jobs).sweep()
    elapsed = time.monotonic() - started
    budget = 200 * deadline / concurrency
    assert (report.examined, report.errors) == (200, 0)
    assert simulator.counters()["retrieve"] - before == 200, "every job was checked upstream"
    assert elapsed < budget, f"{elapsed:.1f} s over the {budget:.0f} s budget"
    assert elapsed < 200 * slow / 2, f"{elapsed:.1f} s: not run in parallel"


def test_once_the_breaker_opens_the_sweep_refuses_the_rest_without_calling(
    jobs, simulator, store, config
):
    settings = {**config, "SWEEP_CONCURRENCY": 1, "BREAKER_FAILURES": 2}
    guard = ProviderGuard.from_config(settings)
    provider = GuardedProvider(jobs.provider, guard, create_wait=1)
    jobs = JobService(store, provider, settings, guard=guard)
    created = [create(jobs) for _ in range(6)]
    before = simulator.counters()["retrieve"]
    simulator.inject("retrieve", "500", count=100)
    report = Sweeper(jobs).sweep()
    assert (report.examined, report.errors) == (6, 6)
    assert simulator.counters()["retrieve"] - before == 2, "two failures, then no more calls"
    unchecked = [job for job in created if jobs.get(job.id).checked_at == job.checked_at]
    assert len(unchecked) == 4, "a refused check stamps nothing: it runs once the provider is back"
