"""One behavioural suite for both ``VideoStore`` adapters: local disk and GCS (fake-gcs-server)."""

from __future__ import annotations

import gc
import hashlib
import json
import multiprocessing
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dreamweb import create_app
from dreamweb.errors import (
    ConfigError,
    IntegrityError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StorageError,
)
from dreamweb.processes import free_port
from dreamweb.storage import open_store
from dreamweb.storage.base import CHUNK_SIZE, VideoStore
from dreamweb.storage.gcs import MULTIPART_LIMIT, GCSVideoStore
from dreamweb.storage.local import LocalVideoStore
from tests.fixtures.gcs import (
    TEST_RETRY_DEADLINE,
    TEST_TIMEOUT,
    create_bucket,
    emulator_client,
    running_emulator,
)
from tests.resources import emulator_connections, open_paths

VIDEO = "videos/video_abcd1234.mp4"
OTHER = "videos/video_efgh5678.mp4"
RECORD = "jobs/video_abcd1234.json"
MIB = 1024 * 1024


def pieces(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """``data`` as a stream of chunks, the way a download hands it over."""
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


def payload(length: int, seed: int = 1) -> bytes:
    """Deterministic, position-dependent bytes (a shifted slice would not compare equal)."""
    block = hashlib.sha256(str(seed).encode()).digest() * 8
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += counter.to_bytes(4, "big") + block[:252]
        counter += 1
    return bytes(out[:length])


def read_all(store: VideoStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    """Everything ``open_range`` yields, joined."""
    return b"".join(store.open_range(key, start, end))


@pytest.fixture(params=["local", pytest.param("gcs", marks=pytest.mark.emulator)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> VideoStore:
    """Each test runs once against each adapter."""
    if request.param == "local":
        return LocalVideoStore(tmp_path / "store")
    return request.getfixturevalue("gcs_store")


# --- writing ----------------------------------------------------------------------------------


def test_put_stream_with_known_length_round_trips(store: VideoStore) -> None:
    data = payload(300_000)
    stored = store.put_stream(VIDEO, pieces(data), content_type="video/mp4", size=len(data))
    assert stored.size == len(data)
    assert stored.etag == hashlib.md5(data).hexdigest()
    assert read_all(store, VIDEO) == data


def test_put_stream_with_unknown_length_round_trips(store: VideoStore) -> None:
    data = payload(123_457)
    stored = store.put_stream(VIDEO, pieces(data, 10_000), content_type="video/mp4")
    assert stored.size == len(data)
    assert read_all(store, VIDEO) == data


def test_empty_object(store: VideoStore) -> None:
    stored = store.put_stream(VIDEO, iter(()), content_type="video/mp4", size=0)
    assert stored.size == 0
    assert read_all(store, VIDEO) == b""


def test_large_object_streams_and_reads_back_a_middle_range(store: VideoStore) -> None:
    """Above 8 MiB the GCS adapter switches to a chunked resumable upload."""
    data = payload(MULTIPART_LIMIT + MIB + 3)
    stored = store.put_stream(VIDEO, pieces(data, MIB), content_type="video/mp4")
    assert stored.size == len(data)
    assert stored.etag == hashlib.md5(data).hexdigest()
    start, end = 5 * MIB + 11, 6 * MIB + 500
    assert read_all(store, VIDEO, start, end) == data[start : end + 1]
    assert hashlib.md5(read_all(store, VIDEO)).digest() == hashlib.md5(data).digest()


@pytest.mark.parametrize(
    ("length", "declared"), [(1000, 1001), (1000, 999), (1000, 0), (0, 5)], ids=str
)
def test_wrong_declared_size_raises_and_leaves_nothing(
    store: VideoStore, length: int, declared: int
) -> None:
    with pytest.raises(IntegrityError):
        store.put_stream(
            VIDEO, pieces(payload(length), 100), content_type="video/mp4", size=declared
        )
    assert not store.exists(VIDEO)
    assert list(store.list("videos/")) == []


def test_short_stream_detected_mid_upload_leaves_nothing(store: VideoStore) -> None:
    """A stream that ends early after more than 8 MiB: GCS is mid-resumable-upload by then."""
    data = payload(MULTIPART_LIMIT + MIB)
    with pytest.raises(IntegrityError):
        store.put_stream(VIDEO, pieces(data, MIB), content_type="video/mp4", size=len(data) + 1)
    assert not store.exists(VIDEO)


def test_failing_source_leaves_nothing(store: VideoStore) -> None:
    def broken() -> Iterator[bytes]:
        yield b"x" * 1000
        raise OSError("upstream connection reset")

    with pytest.raises(OSError, match="upstream"):
        store.put_stream(VIDEO, broken(), content_type="video/mp4")
    assert not store.exists(VIDEO)


def test_create_only_refuses_a_second_write(store: VideoStore) -> None:
    first = store.put_stream(VIDEO, [b"first"], content_type="video/mp4", size=5)
    with pytest.raises(PreconditionFailedError):
        store.put_stream(VIDEO, [b"second"], content_type="video/mp4", size=6)
    assert read_all(store, VIDEO) == b"first"
    assert store.stat(VIDEO).generation == first.generation


def test_create_only_race_has_exactly_one_winner(store: VideoStore) -> None:
    """Small objects, so GCS uses a multipart upload and honours ``if_generation_match=0``."""
    barrier = threading.Barrier(6)

    def attempt(index: int) -> bytes | None:
        body = f"writer {index}".encode()
        barrier.wait()
        try:
            store.put_stream(VIDEO, [body], content_type="video/mp4", size=len(body))
        except PreconditionFailedError:
            return None
        return body

    with ThreadPoolExecutor(6) as pool:
        winners = [body for body in pool.map(attempt, range(6)) if body is not None]
    assert len(winners) == 1
    assert read_all(store, VIDEO) == winners[0]


def test_overwrite_when_allowed_replaces_the_object(store: VideoStore) -> None:
    first = store.put_stream(VIDEO, [b"first"], content_type="video/mp4")
    second = store.put_stream(VIDEO, [b"second!"], content_type="video/webm", if_absent=False)
    assert second.generation != first.generation
    assert second.etag == hashlib.md5(b"second!").hexdigest()
    assert store.stat(VIDEO) == second
    assert read_all(store, VIDEO) == b"second!"


# --- reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, None), (0, 0), (10, 19), (4000, None), (4095, None), (4090, 99_999), (0, 4095)],
    ids=str,
)
def test_open_range_returns_exact_bytes(store: VideoStore, start: int, end: int | None) -> None:
    data = payload(4096)
    store.put_stream(VIDEO, [data], content_type="video/mp4")
    expected = data[start:] if end is None else data[start : end + 1]
    assert read_all(store, VIDEO, start, end) == expected


@pytest.mark.parametrize(("start", "end"), [(4096, None), (5000, 6000), (20, 10)], ids=str)
def test_open_range_outside_the_object_is_empty(
    store: VideoStore, start: int, end: int | None
) -> None:
    store.put_stream(VIDEO, [payload(4096)], content_type="video/mp4")
    assert read_all(store, VIDEO, start, end) == b""


def test_open_range_of_a_missing_key_raises_at_once(store: VideoStore) -> None:
    with pytest.raises(ObjectNotFoundError):
        store.open_range(VIDEO)


def test_stopping_a_read_early_is_clean(store: VideoStore) -> None:
    data = payload(3 * MIB)
    store.put_stream(VIDEO, [data], content_type="video/mp4")
    chunks = store.open_range(VIDEO)
    assert data.startswith(next(chunks))
    chunks.close()  # type: ignore[attr-defined]
    assert read_all(store, VIDEO, MIB, MIB + 9) == data[MIB : MIB + 10]


def test_reads_come_in_bounded_chunks(store: VideoStore) -> None:
    """Memory per stream stays at one chunk however large the object."""
    data = payload(3 * CHUNK_SIZE + 7)
    store.put_stream(VIDEO, [data], content_type="video/mp4")
    for start in (0, 5):
        chunks = list(store.open_range(VIDEO, start))
        assert b"".join(chunks) == data[start:]
        assert max(map(len, chunks)) <= CHUNK_SIZE
        assert len(chunks) <= 5


def test_closing_a_read_before_its_first_chunk_is_clean(store: VideoStore) -> None:
    """A client can go away right after the headers, before any body was read."""
    data = payload(3 * MIB)
    store.put_stream(VIDEO, [data], content_type="video/mp4")
    store.open_range(VIDEO).close()  # type: ignore[attr-defined]
    store.open_range(VIDEO, MIB).close()  # type: ignore[attr-defined]
    assert read_all(store, VIDEO, 2 * MIB) == data[2 * MIB :]


def test_stat_reports_metadata(store: VideoStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    data = payload(2048)
    store.put_stream(VIDEO, pieces(data, 500), content_type="video/mp4")
    stat = store.stat(VIDEO)
    assert (stat.key, stat.size, stat.content_type) == (VIDEO, 2048, "video/mp4")
    assert stat.etag == hashlib.md5(data).hexdigest()  # strong, unquoted, content-derived
    assert stat.last_modified.tzinfo is not None
    assert before <= stat.last_modified <= datetime.now(UTC) + timedelta(seconds=5)
    assert stat.generation.isdigit()


def test_stat_of_a_missing_key_raises(store: VideoStore) -> None:
    with pytest.raises(ObjectNotFoundError):
        store.stat(VIDEO)


def test_exists_and_delete(store: VideoStore) -> None:
    assert not store.exists(VIDEO)
    assert store.delete(VIDEO) is False
    store.put_stream(VIDEO, [b"bytes"], content_type="video/mp4")
    assert store.exists(VIDEO)
    assert store.delete(VIDEO) is True
    assert not store.exists(VIDEO)
    assert store.delete(VIDEO) is False
    with pytest.raises(ObjectNotFoundError):
        store.open_range(VIDEO)
    store.put_stream(VIDEO, [b"again"], content_type="video/mp4")  # create-only works again
    assert read_all(store, VIDEO) == b"again"


def test_list_by_prefix_is_sorted(store: VideoStore) -> None:
    keys = [OTHER, VIDEO, "videos/video_abcd9999.mp4", "thumbnails/video_abcd1234.webp"]
    for key in keys:
        store.put_stream(key, [b"x"], content_type="application/octet-stream")
    store.put_record(RECORD, {"n": 1}, generation=None)
    assert list(store.list("videos/")) == sorted(keys[:3])
    assert list(store.list("videos/video_abcd")) == [VIDEO, "videos/video_abcd9999.mp4"]
    assert list(store.list("jobs/")) == [RECORD]
    assert list(store.list("leases/")) == []
    assert list(store.list("")) == sorted([*keys, RECORD])


def test_list_objects_gives_each_keys_write_time_and_generation(store: VideoStore) -> None:
    before = time.time()
    first = store.put_record(RECORD, {"n": 1}, generation=None)
    store.put_stream(VIDEO, [b"x"], content_type="video/mp4")
    assert [listed.key for listed in store.list_objects("jobs/")] == [RECORD]
    (listed,) = store.list_objects("jobs/")
    assert listed.generation == first.generation
    assert before - 5 <= listed.updated <= time.time() + 5
    second = store.put_record(RECORD, {"n": 2}, generation=first.generation)
    (listed,) = store.list_objects("jobs/")
    assert listed.generation == second.generation
    assert store.delete(RECORD, generation=listed.generation)
    assert list(store.list_objects("jobs/")) == []


def test_unsafe_keys_are_refused(store: VideoStore) -> None:
    for key in ["../escape", "videos/../../etc/passwd", "/etc/passwd", "videos/", "Videos/x"]:
        with pytest.raises(StorageError):
            store.put_stream(key, [b"x"], content_type="text/plain")
        with pytest.raises(StorageError):
            store.stat(key)


# --- records ----------------------------------------------------------------------------------


def test_records_compare_and_set(store: VideoStore) -> None:
    assert store.get_record(RECORD) is None
    created = store.put_record(RECORD, {"status": "queued"}, generation=None)
    assert store.get_record(RECORD) == created
    with pytest.raises(PreconditionFailedError):
        store.put_record(RECORD, {"status": "other"}, generation=None)
    updated = store.put_record(RECORD, {"status": "done"}, generation=created.generation)
    assert updated.generation != created.generation
    with pytest.raises(PreconditionFailedError):  # a stale token loses
        store.put_record(RECORD, {"status": "stale"}, generation=created.generation)
    with pytest.raises(PreconditionFailedError):
        store.put_record(RECORD, {"status": "junk"}, generation="not-a-generation")
    assert store.get_record(RECORD) == updated
    assert store.stat(RECORD).content_type == "application/json"


def test_record_update_of_a_missing_record_fails(store: VideoStore) -> None:
    with pytest.raises(PreconditionFailedError):
        store.put_record(RECORD, {"status": "done"}, generation="1")


def test_a_deleted_and_recreated_record_refuses_the_old_token(store: VideoStore) -> None:
    old = store.put_record(RECORD, {"v": 1}, generation=None)
    store.delete(RECORD)
    store.put_record(RECORD, {"v": 2}, generation=None)
    with pytest.raises(PreconditionFailedError):
        store.put_record(RECORD, {"v": 3}, generation=old.generation)


def test_conditional_delete_removes_only_the_version_it_names(store: VideoStore) -> None:
    first = store.put_record(RECORD, {"owner": "a"}, generation=None)
    second = store.put_record(RECORD, {"owner": "b"}, generation=first.generation)
    assert store.delete(RECORD, generation=first.generation) is False
    assert store.delete(RECORD, generation="not-a-generation") is False
    assert store.get_record(RECORD) == second, "another writer's version survives"
    assert store.delete(RECORD, generation=second.generation) is True
    assert store.get_record(RECORD) is None
    assert store.delete(RECORD, generation=second.generation) is False


def increment(store: VideoStore, key: str, times: int) -> int:
    """Add ``times`` to a counter record with read-modify-CAS, retrying on conflicts."""
    conflicts = 0
    for _ in range(times):
        while True:
            record = store.get_record(key)
            assert record is not None
            try:
                store.put_record(
                    key, {"count": record.data["count"] + 1}, generation=record.generation
                )
                break
            except PreconditionFailedError:
                conflicts += 1
    return conflicts


def test_concurrent_increments_lose_no_update(store: VideoStore) -> None:
    store.put_record(RECORD, {"count": 0}, generation=None)
    with ThreadPoolExecutor(8) as pool:
        conflicts = sum(pool.map(lambda _: increment(store, RECORD, 10), range(8)))
    record = store.get_record(RECORD)
    assert record is not None and record.data == {"count": 80}
    assert conflicts > 0  # the test did exercise contention


# --- local adapter specifics --------------------------------------------------------------------


def _increment_in_process(root: str, times: int) -> int:
    """Worker-process body: its own store on the shared directory."""
    return increment(LocalVideoStore(Path(root)), RECORD, times)


def _create_in_process(root: str, index: int) -> bool:
    """Worker-process body: try to create the video; ``True`` if this process won."""
    try:
        LocalVideoStore(Path(root)).put_stream(VIDEO, [b"%d" % index], content_type="video/mp4")
    except PreconditionFailedError:
        return False
    return True


def test_local_cas_and_create_only_hold_across_processes(tmp_path: Path) -> None:
    store = LocalVideoStore(tmp_path)
    store.put_record(RECORD, {"count": 0}, generation=None)
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.starmap(_increment_in_process, [(str(tmp_path), 10)] * 4)
        created = pool.starmap(_create_in_process, [(str(tmp_path), i) for i in range(8)])
    record = store.get_record(RECORD)
    assert record is not None and record.data == {"count": 40}
    assert created.count(True) == 1


def test_local_layout_keeps_no_stale_files(tmp_path: Path) -> None:
    store = LocalVideoStore(tmp_path)
    store.put_stream(VIDEO, [b"one"], content_type="video/mp4")
    latest = store.put_stream(VIDEO, [b"two"], content_type="video/mp4", if_absent=False)
    with pytest.raises(IntegrityError):
        store.put_stream(OTHER, [b"three"], content_type="video/mp4", size=4)
    names = sorted(path.name for path in (tmp_path / "videos").iterdir())
    assert names == [
        "video_abcd1234.mp4@" + latest.generation,
        "video_abcd1234.mp4@meta",
    ]
    meta = json.loads((tmp_path / "videos" / "video_abcd1234.mp4@meta").read_text())
    assert meta["md5"] == hashlib.md5(b"two").hexdigest()


def test_local_refuses_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "store"
    root.mkdir()
    (root / "videos").symlink_to(outside)
    store = LocalVideoStore(root)
    with pytest.raises(StorageError):
        store.put_stream(VIDEO, [b"x"], content_type="video/mp4")
    assert list(outside.iterdir()) == []
    assert list(store.list("videos/")) == []


def test_local_refuses_a_symlink_planted_after_the_store_started(tmp_path: Path) -> None:
    """Resolved folders are cached, but only once they exist: a link made later still counts."""
    outside = tmp_path / "outside"
    outside.mkdir()
    store = LocalVideoStore(tmp_path / "store")
    assert not store.exists(VIDEO)  # looks up "videos" before it exists
    (store.root / "videos").symlink_to(outside)
    with pytest.raises(StorageError):
        store.put_stream(VIDEO, [b"x"], content_type="video/mp4")
    assert list(outside.iterdir()) == []


def test_local_closing_a_read_closes_its_file(tmp_path: Path) -> None:
    store = LocalVideoStore(tmp_path)
    store.put_stream(VIDEO, [payload(3 * MIB)], content_type="video/mp4")
    started, unstarted = store.open_range(VIDEO), store.open_range(VIDEO, MIB)
    next(started)
    held = open_paths()
    assert sum("video_abcd1234.mp4@" in path for path in held) == 2
    started.close()  # type: ignore[attr-defined]
    unstarted.close()  # type: ignore[attr-defined]
    assert not any("video_abcd1234.mp4@" in path for path in open_paths())


def test_local_from_url_and_open_store(tmp_path: Path) -> None:
    url = (tmp_path / "a store").as_uri()
    store = open_store({"STORAGE_URL": url})
    assert isinstance(store, LocalVideoStore)
    assert store.root == (tmp_path / "a store").resolve()
    with pytest.raises(StorageError):
        LocalVideoStore.from_url("file://elsewhere/x")
    with pytest.raises(StorageError):
        store.signed_url(VIDEO, seconds=60)


# --- GCS adapter specifics ----------------------------------------------------------------------


@pytest.mark.emulator
def test_gcs_open_store_from_config_with_a_prefix(gcs_config: dict[str, str]) -> None:
    config = {**gcs_config, "STORAGE_URL": gcs_config["STORAGE_URL"] + "/tenant-a"}
    store = open_store(config)
    assert isinstance(store, GCSVideoStore)
    store.put_stream(VIDEO, [b"hello"], content_type="video/mp4")
    assert store.bucket.get_blob("tenant-a/" + VIDEO) is not None
    assert list(store.list("videos/")) == [VIDEO]
    assert read_all(store, VIDEO) == b"hello"


def test_gcs_from_config_rejects_bad_credentials_without_echoing_them() -> None:
    secret = '{"type": "service_account", "private_key": "SECRET-MATERIAL"}'
    with pytest.raises(ConfigError) as caught:
        GCSVideoStore.from_config({"STORAGE_URL": "gs://bucket", "GCS_CREDENTIALS_JSON": secret})
    assert caught.value.variable == "GCS_CREDENTIALS_JSON"
    assert "SECRET" not in str(caught.value)


def test_gcs_unreachable_server_is_a_storage_error() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    store = GCSVideoStore(
        "bucket", "", emulator_client(dead), timeout=(0.5, 0.5), retry_deadline=0.5
    )
    with pytest.raises(StorageError):
        store.stat(VIDEO)
    with pytest.raises(StorageError):
        store.put_stream(VIDEO, [b"x"], content_type="video/mp4")
    with pytest.raises(StorageError):
        store.open_range(VIDEO)


@pytest.mark.emulator
def test_gcs_closing_a_read_early_releases_its_connection(
    gcs_store: GCSVideoStore, gcs_emulator: str
) -> None:
    data = payload(3 * MIB)
    gcs_store.put_stream(VIDEO, [data], content_type="video/mp4")
    # A client of its own, so every stream below opens a connection nobody else holds.
    reader = GCSVideoStore(gcs_store.bucket.name, "", emulator_client(gcs_emulator))
    before = emulator_connections(gcs_emulator)
    streams = [reader.open_range(VIDEO), reader.open_range(VIDEO, MIB), reader.open_range(VIDEO)]
    assert data.startswith(next(streams[0]))
    assert data[MIB:].startswith(next(streams[1]))  # the third never yields a chunk
    ours = emulator_connections(gcs_emulator) - before
    assert len(ours) == 3
    for stream in streams:
        stream.close()  # type: ignore[attr-defined]
    assert not ours & emulator_connections(gcs_emulator)


@pytest.mark.emulator
def test_gcs_complete_reads_keep_their_connection_alive(
    gcs_store: GCSVideoStore, gcs_emulator: str
) -> None:
    """A fully read stream goes back to the pool: no TCP setup per request."""
    data = payload(2 * MIB + 5)
    gcs_store.put_stream(VIDEO, [data], content_type="video/mp4")
    reader = GCSVideoStore(gcs_store.bucket.name, "", emulator_client(gcs_emulator))
    before = emulator_connections(gcs_emulator)
    assert read_all(reader, VIDEO) == data
    kept = emulator_connections(gcs_emulator) - before
    assert len(kept) == 1  # idle in the pool, still open
    assert read_all(reader, VIDEO, 7, MIB) == data[7 : MIB + 1]
    assert read_all(reader, VIDEO) == data
    assert emulator_connections(gcs_emulator) - before == kept


@pytest.fixture
def disk_emulator(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A fake-gcs-server of its own that keeps objects as plain files under a directory, so a
    test can corrupt one at rest; yields (URL, directory)."""
    root = tmp_path / "gcs-disk"
    with running_emulator(tmp_path, "-backend", "filesystem", "-filesystem-root", str(root)) as url:
        yield url, root


@pytest.mark.emulator
def test_gcs_whole_read_of_an_object_corrupted_at_rest_fails_before_its_end(
    disk_emulator: tuple[str, Path],
) -> None:
    url, root = disk_emulator
    bucket = create_bucket(url)
    store = GCSVideoStore(
        bucket, "", emulator_client(url), timeout=TEST_TIMEOUT, retry_deadline=TEST_RETRY_DEADLINE
    )
    data = payload(2 * MIB + 1000)
    store.put_stream(VIDEO, [data], content_type="video/mp4")
    stored = root / bucket / VIDEO  # the emulator's on-disk layout: <root>/<bucket>/<name>
    corrupted = bytearray(stored.read_bytes())
    corrupted[MIB + 17] ^= 0xFF
    stored.write_bytes(corrupted)

    received = bytearray()
    with pytest.raises(IntegrityError):
        for chunk in store.open_range(VIDEO):
            received += chunk
    assert bytes(received) == corrupted[: 2 * MIB]  # the last chunk is withheld
    # GCS reports only the whole object's CRC32C, so a range cannot be checked.
    assert read_all(store, VIDEO, MIB, MIB + 99) == corrupted[MIB : MIB + 100]
    gc.collect()  # the failed stream released its connection: no ResourceWarning


@pytest.mark.emulator
def test_gcs_missing_bucket_is_unavailable_storage_not_a_missing_object(gcs_emulator: str) -> None:
    """A misnamed bucket must never read as "no such video/job" (404): it is an outage (503)."""
    name = f"dreamweb-missing-{free_port()}"
    store = GCSVideoStore(
        name,
        "",
        emulator_client(gcs_emulator),
        timeout=TEST_TIMEOUT,
        retry_deadline=TEST_RETRY_DEADLINE,
    )
    calls = {
        "stat": lambda: store.stat(VIDEO),
        "exists": lambda: store.exists(VIDEO),
        "open_range": lambda: store.open_range(VIDEO),
        "list": lambda: list(store.list("jobs/")),
        "get_record": lambda: store.get_record(RECORD),
        "put_record": lambda: store.put_record(RECORD, {"a": 1}, generation=None),
        "put_stream": lambda: store.put_stream(VIDEO, [b"x"], content_type="video/mp4"),
        "delete": lambda: store.delete(VIDEO),
    }
    for name_of_call, call in calls.items():
        with pytest.raises(StorageError) as caught:
            call()
        error = caught.value
        assert not isinstance(error, ObjectNotFoundError), name_of_call
        assert (error.status, error.public_message) == (503, "Video storage is unavailable")
        assert name in str(error), "the operator's reason names the bucket"
        assert name not in error.public_message, "clients never see the bucket's name"

    # Once the bucket exists, a missing object is an ordinary 404 again.
    create_bucket(gcs_emulator, name)
    with pytest.raises(ObjectNotFoundError):
        store.stat(VIDEO)
    with pytest.raises(ObjectNotFoundError):
        store.open_range(VIDEO)
    assert store.get_record(RECORD) is None
    assert not store.exists(VIDEO)
    assert store.delete(VIDEO) is False


@pytest.mark.emulator
def test_gcs_missing_bucket_answers_503_not_404_over_the_api(
    app_config: dict[str, str], gcs_config: dict[str, str]
) -> None:
    config = {**app_config, **gcs_config, "STORAGE_URL": f"gs://dreamweb-missing-{free_port()}"}
    client = create_app(config).test_client()
    created = client.post("/api/create-video", json={"prompt": "a dream of a quiet harbour"})
    assert (created.status_code, created.get_json()) == (
        503,
        {"error": "Video storage is unavailable", "code": "storage_unavailable"},
    )
    polled = client.get("/api/video-status/video_abcd1234")
    assert (polled.status_code, polled.get_json()) == (
        503,
        {"error": "Video storage is unavailable", "code": "storage_unavailable"},
    )
