"""JSON records and compare-and-set on GCS: ``if_generation_match`` is the CAS token (``0``
means "must not exist"); the ``GCSVideoStore`` methods of the same names delegate here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from google.cloud import storage

from dreamweb.errors import ObjectNotFoundError, PreconditionFailedError
from dreamweb.storage.base import Record
from dreamweb.storage.gcs.errors import translated

if TYPE_CHECKING:  # the store imports this module: the type only, no cycle at run time
    from dreamweb.storage.gcs.store import GCSVideoStore

RECORD_TYPE = "application/json"


def get_record(store: GCSVideoStore, blob: storage.Blob) -> Record | None:
    """The JSON record and its generation (from the same response), or ``None``."""
    try:
        with translated(store.bucket_check):
            payload = blob.download_as_bytes(timeout=store.timeout, retry=store.retry)
    except ObjectNotFoundError:
        return None
    return Record(data=json.loads(payload), generation=str(blob.generation))


def put_record(
    store: GCSVideoStore, blob: storage.Blob, data: dict[str, Any], *, generation: str | None
) -> Record:
    """Compare-and-set a JSON record with ``if_generation_match`` (0: create only).

    Retried on transient errors (the precondition makes that safe); as with any GCS CAS, a
    retry after a lost response can report ``PreconditionFailedError`` for a write that
    landed, so callers re-read before deciding.
    """
    if generation is not None and not generation.isdigit():
        raise PreconditionFailedError()  # no stored object can have this generation
    payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    with translated(store.bucket_check):
        blob.upload_from_string(
            payload,
            content_type=RECORD_TYPE,
            if_generation_match=int(generation) if generation is not None else 0,
            checksum="crc32c",
            timeout=store.timeout,
            retry=store.conditional_retry,
        )
    return Record(data=json.loads(payload), generation=str(blob.generation))


def delete_key(store: GCSVideoStore, key: str, *, generation: str | None) -> bool:
    """Remove ``key``; ``False`` when it was not there (or, with ``generation``, when it
    now holds another version: ``if_generation_match``).

    Retried like a read: deleting twice is harmless, though a retry after a lost response
    reports ``False`` for a delete that happened.
    """
    if generation is not None and not generation.isdigit():
        return False  # no stored object can have this generation
    match = int(generation) if generation is not None else None
    # Compare first as well: GCS enforces the precondition atomically, but fake-gcs-server
    # 1.54 ignores it on DELETE, and the read makes the common (sequential) case right there.
    if match is not None and _generation_of(store, key) != generation:
        return False
    return delete_blob(store, store.blob(key), generation=match)


def delete_blob(store: GCSVideoStore, blob: storage.Blob, *, generation: int | None) -> bool:
    """Remove one blob (only ``generation`` when given); ``False`` when it was not there."""
    try:
        with translated(store.bucket_check):
            blob.delete(if_generation_match=generation, timeout=store.timeout, retry=store.retry)
    except (ObjectNotFoundError, PreconditionFailedError):
        return False
    return True


def _generation_of(store: GCSVideoStore, key: str) -> str | None:
    try:
        return store.stat(key).generation
    except ObjectNotFoundError:
        return None
