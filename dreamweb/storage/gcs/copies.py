"""Server-side copies: an object already in our bucket becomes one of our keys without a byte
passing through dreamweb (GCS ``objects.rewrite``).

A rewrite of a large object may answer before it is done, with a ``rewriteToken`` to call again
with; the loop below keeps calling until GCS says the copy is complete (``on_progress`` runs
between calls, e.g. to renew an ingest lease). The destination is written create-only and
appears atomically when the rewrite finishes, so a copy cut short leaves nothing visible. The
finished copy is checked against the source's size and checksums (MD5 and CRC32C); a mismatch
deletes that generation of the destination and raises ``IntegrityError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from google.cloud import storage

from dreamweb.errors import IntegrityError, PreconditionFailedError, StorageError
from dreamweb.storage.base import GcsObject
from dreamweb.storage.gcs.errors import translated

if TYPE_CHECKING:
    from dreamweb.storage.gcs.store import GCSVideoStore


def rewrite_verified(
    store: GCSVideoStore,
    source: storage.Blob,
    destination: storage.Blob,
    *,
    content_type: str,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> None:
    """Copy ``source`` into ``destination`` (create-only) inside GCS, then verify it.

    ``PreconditionFailedError`` when the destination already exists; ``ObjectNotFoundError``
    when the source is gone. (GCS decides how much each call copies: within one location and
    storage class usually everything at once; fake-gcs-server always does.)
    """
    with translated(store.bucket_check):
        source.reload(timeout=store.timeout, retry=store.retry)
    destination.content_type = content_type
    token: str | None = None
    while True:
        with translated(store.bucket_check):
            token, done, total = destination.rewrite(
                source,
                token=token,
                if_generation_match=0,
                if_source_generation_match=source.generation,
                timeout=store.timeout,
                retry=store.conditional_retry,
            )
        if token is None:
            break
        on_progress(done, total)
    _verify_copy(store, source, destination)


def _verify_copy(store: GCSVideoStore, source: storage.Blob, destination: storage.Blob) -> None:
    """Compare the copy (the final rewrite answer carries its resource) with the source."""
    mismatched = [
        name
        for name in ("size", "md5_hash", "crc32c")
        if getattr(source, name) is not None and getattr(destination, name) != getattr(source, name)
    ]
    if not mismatched:
        return
    store.delete_blob(destination, generation=destination.generation)
    raise IntegrityError(f"server-side copy differs from its source ({', '.join(mismatched)})")


def same_bucket_blob(store: GCSVideoStore, bucket: str, name: str) -> storage.Blob:
    """The blob ``name`` in ``bucket`` if that is this store's bucket, else ``StorageError``:
    a store only copies from (and deletes in) its own bucket."""
    if bucket != store.bucket.name:
        raise StorageError("server-side copies come only from the store's own bucket")
    if not name or name.startswith("/") or ".." in name.split("/"):
        raise StorageError("not a usable object name")
    return store.bucket.blob(name)


def copy_into(
    store: GCSVideoStore, uri: str, key: str, *, on_progress: Callable[[], None] | None = None
) -> storage.Blob:
    """Rewrite ``uri`` (in the store's bucket) to ``key``, create-only and verified; returns
    the destination blob. ``PreconditionFailedError`` when ``key`` already exists."""
    source = GcsObject.parse(uri)
    blob = store.blob(key)
    if store.exists(key):  # the emulator ignores the rewrite's create-only precondition
        raise PreconditionFailedError()
    rewrite_verified(
        store,
        same_bucket_blob(store, source.bucket, source.name),
        blob,
        content_type="video/mp4" if key.endswith(".mp4") else "application/octet-stream",
        on_progress=lambda done, total: on_progress() if on_progress else None,
    )
    return blob
