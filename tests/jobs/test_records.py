"""Job records (``dreamweb.jobs.records``): the per-process cache never wins a race."""

from __future__ import annotations

import time

import pytest

from dreamweb.errors import (
    NotFoundError,
)
from dreamweb.jobs import (
    Job,
    JobService,
)
from dreamweb.providers.openai_videos import OpenAIVideosClient
from dreamweb.storage import layout
from tests.jobs.conftest import create


def test_a_stale_cached_record_never_overwrites_a_newer_one(store, config, clock, simulator):
    from dreamweb.jobs import RecordCache

    simulator.configure(render_seconds=10)  # queued for the first second, then rendering
    provider = OpenAIVideosClient.from_config(config)
    process_a = JobService(store, provider, config, clock=clock, cache=RecordCache(max_age=100))
    process_b = JobService(store, provider, config, clock=clock)
    job = create(process_a)
    assert process_a.get(job.id).checked_at == clock.now  # cached in A as just checked
    clock.now += 10
    time.sleep(1.2)
    advanced = process_b.refresh(job.id)  # B checks upstream and writes a newer record
    assert advanced.status == "processing" and advanced.checked_at == clock.now
    calls = simulator.counters()["retrieve"]
    seen_by_a = process_a.refresh(job.id)  # A's copy says "due": its claim must lose
    assert simulator.counters()["retrieve"] == calls, "the stale copy caused no upstream call"
    assert seen_by_a == advanced
    stored = Job.from_record(store.get_record(layout.job_key(job.id)).data)
    assert stored == advanced


def test_cached_reads_skip_the_store(store, config, clock, simulator):
    from dreamweb.jobs import RecordCache

    service = JobService(
        store,
        OpenAIVideosClient.from_config(config),
        config,
        clock=clock,
        cache=RecordCache(max_age=1),
    )
    job = create(service)
    store.delete(layout.job_key(job.id))  # behind the cache's back
    assert service.get(job.id).id == job.id, "served from the cache"
    clock.now += 1
    with pytest.raises(NotFoundError):
        service.get(job.id)
