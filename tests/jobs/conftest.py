"""Fixtures for the job-domain tests: a hand-moved clock, a local store, the simulator provider."""

from __future__ import annotations

import time

import pytest

from dreamweb.config import load_settings
from dreamweb.jobs import Job, JobService, new_job_id
from dreamweb.providers.openai_videos import OpenAIVideosClient
from dreamweb.storage.local import LocalVideoStore

PROMPT = "a dream of flying over mountains at sunset"


class Clock:
    """A clock the test moves by hand (time is an input here, not a peer)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def config(simulator):
    """Settings for a service talking to the simulator: no retries, short timeouts."""
    return load_settings(
        {
            "DREAMWEB_ENV": "development",
            "OPENAI_API_KEY": "sim-key",
            "OPENAI_BASE_URL": simulator.base_url,
            "STATUS_TTL_SECONDS": "5",
            "PROVIDER_MAX_RETRIES": "0",
            "PROVIDER_READ_TIMEOUT": "3",
        }
    )


@pytest.fixture
def clock():
    """A ``Clock`` starting now."""
    return Clock()


@pytest.fixture
def store(tmp_path):
    """A local store in the test's folder."""
    return LocalVideoStore(tmp_path / "store")


@pytest.fixture
def jobs(store, config, clock):
    """A ``JobService`` on ``store`` and the simulator, ingesting inline."""
    provider = OpenAIVideosClient.from_config(config)
    return JobService(store, provider, config, clock=clock)


def create(jobs: JobService, prompt: str = PROMPT, **options) -> Job:
    """Start a fresh (not replayed) 4 s landscape job."""
    job, replayed = jobs.create(prompt, seconds="4", size="1280x720", **options)
    assert replayed is False
    return job


def unsaved_job(clock: Clock, prompt: str = PROMPT) -> Job:
    """A job as ``create`` would build it, before anything is written."""
    return Job(
        id=new_job_id(),
        provider="x",
        prompt=prompt,
        enhanced_prompt=prompt,
        model="sora-2",
        seconds="4",
        size="1280x720",
        created_at=clock.now,
    )
