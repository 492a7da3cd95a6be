"""No debris in the local store: pooled lock files, stale temporary files swept (issue 10)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dreamweb.jobs.sweep import Sweeper
from dreamweb.services import services
from dreamweb.storage import layout
from dreamweb.storage.local import LOCK_POOL, LOCKS_FOLDER, LocalVideoStore

LEASE = 300


@pytest.fixture
def store(tmp_path) -> LocalVideoStore:
    return LocalVideoStore(tmp_path / "store")


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def crashed_writer_temp(store: LocalVideoStore, key: str, age: float) -> Path:
    """What a writer killed mid-copy leaves: its temporary file, last written ``age`` s ago."""
    folder, _, name = key.rpartition("/")
    (store.root / folder).mkdir(parents=True, exist_ok=True)
    temp = store.root / folder / f".{name}@tmp-0123456789abcdef"
    temp.write_bytes(b"half a video")
    os.utime(temp, (time.time() - age, time.time() - age))
    return temp


def test_lock_files_come_from_a_fixed_pool(store):
    for n in range(LOCK_POOL + 16):
        key = layout.job_key(f"video_{n:024d}")
        store.put_record(key, {"n": n}, generation=None)
        store.delete(key)
    locks = [path for path in files_under(store.root) if path.parent.name == LOCKS_FOLDER]
    assert 0 < len(locks) <= LOCK_POOL
    assert set(files_under(store.root)) == set(locks), "deleted keys leave nothing else"


def test_keys_sharing_a_lock_still_work_independently(store):
    # More keys than locks: some share one, and each still reads back its own value.
    keys = [layout.job_key(f"video_{n:024d}") for n in range(2 * LOCK_POOL)]
    for n, key in enumerate(keys):
        store.put_record(key, {"n": n}, generation=None)
    assert [store.get_record(key).data["n"] for key in keys] == list(range(len(keys)))


def test_stale_temporary_files_are_removed_and_fresh_ones_kept(store):
    store.put_record(layout.job_key("video_" + "a" * 24), {"kept": True}, generation=None)
    stale = crashed_writer_temp(store, layout.video_key("video_" + "b" * 24), age=LEASE + 60)
    fresh = crashed_writer_temp(store, layout.video_key("video_" + "c" * 24), age=5)
    legacy_lock = store.root / "jobs" / ("video_" + "a" * 24 + ".json@lock")
    legacy_lock.touch()
    assert store.remove_debris(older_than=LEASE) == 2
    assert not stale.exists() and not legacy_lock.exists() and fresh.exists()
    assert store.get_record(layout.job_key("video_" + "a" * 24)).data == {"kept": True}


def test_the_sweeper_removes_stale_temporary_files(app, simulator):
    with app.app_context():
        store = services().store
        stale = crashed_writer_temp(store, layout.video_key("video_" + "d" * 24), age=LEASE + 1)
        Sweeper(services().inline_jobs()).sweep()
    assert not stale.exists()
