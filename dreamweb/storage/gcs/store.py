"""``GCSVideoStore``: the ``VideoStore`` on Google Cloud Storage (or fake-gcs-server).

Metadata: objects are plain GCS objects under ``<prefix><key>``. ``etag`` is the hex form of the
object's MD5 (the same content validator the local adapter reports; GCS's own ``etag`` changes
with metadata, which would needlessly break HTTP caches), and ``generation`` is GCS's object
generation, the token for compare-and-set (``if_generation_match``; ``0`` means "must not exist").

Every call carries an explicit ``timeout=(connect, read)`` and a retry with a deadline; writes
that are not idempotent are retried only when they carry a generation precondition. Uploads are
in ``uploads``, streaming reads in ``downloads``, JSON records and CAS deletes in ``records``,
server-side copies in ``copies``, error translation and the missing-bucket check
in ``errors``.

fake-gcs-server 1.54 ignores ``if_generation_match`` on resumable uploads (> 8 MiB); real GCS
honours it. ``put_stream(if_absent=True)`` therefore also checks existence before streaming,
which makes the common sequential case correct on the emulator too.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import google.auth.credentials
from google.api_core.retry import Retry
from google.cloud import storage
from google.cloud.storage.retry import (
    DEFAULT_RETRY,
    ConditionalRetryPolicy,
    is_generation_specified,
)

from dreamweb.errors import PreconditionFailedError
from dreamweb.storage.base import (
    GcsObject,
    ListedObject,
    Record,
    StoredObject,
    VideoStore,
    check_key,
)
from dreamweb.storage.gcs import records
from dreamweb.storage.gcs.client import connect, signed_get_url
from dreamweb.storage.gcs.copies import copy_into, same_bucket_blob
from dreamweb.storage.gcs.downloads import MediaStream, crc32c_header, get_media
from dreamweb.storage.gcs.errors import BucketCheck, BucketNotFoundError, translated
from dreamweb.storage.gcs.uploads import upload_verified

CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 60.0
RETRY_DEADLINE = 60.0


class GCSVideoStore(VideoStore):
    """A ``VideoStore`` on bucket ``bucket`` under ``prefix`` (``""`` or ending in ``/``).

    ``signer`` signs URLs (defaults to the client's credentials); ``api_access_endpoint``
    overrides the host of signed URLs (the emulator's URL in development).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str,
        client: storage.Client,
        *,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
        retry_deadline: float = RETRY_DEADLINE,
        signer: google.auth.credentials.Credentials | None = None,
        api_access_endpoint: str | None = None,
    ) -> None:
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.client = client
        self.bucket = client.bucket(bucket)
        self.prefix = prefix
        self.timeout = timeout
        self.retry: Retry = DEFAULT_RETRY.with_timeout(retry_deadline)
        # Writes are safe to repeat only with a generation precondition (GCS's own rule).
        self.conditional_retry = ConditionalRetryPolicy(
            self.retry, is_generation_specified, ["query_params"]
        )
        self.signer = signer
        self.api_access_endpoint = api_access_endpoint
        # Until the bucket has answered, a 404 also checks the bucket (see ``errors``).
        self.bucket_check = BucketCheck(client, self.bucket, prefix, timeout, self.retry)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GCSVideoStore:
        """Build from dreamweb config: ``STORAGE_URL`` (``gs://bucket[/prefix]``) and friends;
        see ``dreamweb.storage.gcs.client`` for where the client and credentials come from."""
        found = connect(config)
        return cls(
            found.bucket,
            found.prefix,
            found.client,
            signer=found.signer,
            api_access_endpoint=found.api_access_endpoint,
        )

    # --- reading ------------------------------------------------------------------------------

    def blob(self, key: str) -> storage.Blob:
        """The blob behind ``key`` (``ValueError`` for a key that is not a safe name)."""
        return self.bucket.blob(self.prefix + check_key(key))

    def stat(self, key: str) -> StoredObject:
        """Metadata of ``key`` (one metadata GET). Raises ``ObjectNotFoundError``."""
        blob = self.blob(key)
        with translated(self.bucket_check):
            blob.reload(timeout=self.timeout, retry=self.retry)
        return _stored(key, blob)

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``; ``BucketNotFoundError`` if the bucket is
        missing (the client library answers ``False`` for that too)."""
        with translated(self.bucket_check):
            found = self.blob(key).exists(timeout=self.timeout, retry=self.retry)
        if not found and self.bucket_check.absent():
            raise BucketNotFoundError(self.bucket.name)
        return found

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream bytes ``start``..``end`` (inclusive, clipped to the object) with one ranged GET.

        The request is made and its status checked before this returns, so a missing key raises
        ``ObjectNotFoundError`` here. Close the iterator (werkzeug does) to stop early; that
        releases the connection. A whole-object read raises ``IntegrityError`` instead of its
        last chunk when the bytes do not match the object's CRC32C.
        """
        if start < 0 or (end is not None and end < 0):
            raise ValueError("byte positions must be non-negative")
        if end is not None and end < start:
            return iter(())
        whole = start == 0 and end is None
        span = None if whole else f"bytes={start}-{'' if end is None else end}"
        response = get_media(self, self.blob(key), span)
        if response is None:
            return iter(())
        return MediaStream(response, crc32c_header(response) if whole else None)

    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix`` in lexical order (GCS lists by name), page by page."""
        return (listed.key for listed in self.list_objects(prefix))

    def list_objects(self, prefix: str) -> Iterator[ListedObject]:
        """``list`` with each object's ``updated`` time and generation, from the listing."""
        with translated(self.bucket_check):
            blobs = self.client.list_blobs(
                self.bucket,
                prefix=self.prefix + prefix,
                timeout=self.timeout,
                retry=self.retry,
            )
            for blob in blobs:
                yield ListedObject(
                    key=blob.name.removeprefix(self.prefix),
                    updated=blob.updated.timestamp(),
                    generation=str(blob.generation),
                )

    def get_record(self, key: str) -> Record | None:
        """The JSON record and its generation, or ``None``; see ``records``."""
        return records.get_record(self, self.blob(key))

    # --- writing ------------------------------------------------------------------------------

    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        content_type: str,
        size: int | None = None,
        if_absent: bool = True,
    ) -> StoredObject:
        """Upload ``chunks``, verified by length and MD5/CRC32C; see ``uploads``."""
        blob = self.blob(key)
        if if_absent and self.exists(key):
            raise PreconditionFailedError()
        upload_verified(
            self, blob, chunks, content_type=content_type, size=size, if_absent=if_absent
        )
        return _stored(key, blob)

    def put_record(self, key: str, data: dict[str, Any], *, generation: str | None) -> Record:
        """Compare-and-set a JSON record (``generation`` ``None``: create only); see ``records``."""
        return records.put_record(self, self.blob(key), data, generation=generation)

    def delete(self, key: str, *, generation: str | None = None) -> bool:
        """Remove ``key`` (only ``generation`` when given); ``False`` when it was not there or
        holds another version; see ``records``."""
        return records.delete_key(self, key, generation=generation)

    def delete_blob(self, blob: storage.Blob, *, generation: int | None = None) -> bool:
        """Remove one blob (only ``generation`` when given); ``False`` when it was not there."""
        return records.delete_blob(self, blob, generation=generation)

    # --- server-side copies (zero-copy ingest) ------------------------------------------------

    def can_copy_from(self, uri: str) -> bool:
        """Whether ``uri`` is a ``gs://`` object in this store's bucket."""
        try:
            source = GcsObject.parse(uri)
        except ValueError:
            return False
        return source.bucket == self.bucket.name

    def copy_from(
        self, uri: str, key: str, *, on_progress: Callable[[], None] | None = None
    ) -> StoredObject:
        """Rewrite ``uri`` (in this bucket) to ``key`` inside GCS, create-only and verified;
        see ``copies``."""
        return _stored(key, copy_into(self, uri, key, on_progress=on_progress))

    def delete_uri(self, uri: str) -> bool:
        """Delete the object ``uri`` names in this bucket (``False`` when already gone)."""
        source = GcsObject.parse(uri)
        return self.delete_blob(same_bucket_blob(self, source.bucket, source.name))

    # --- signed URLs --------------------------------------------------------------------------

    def signed_url(
        self, key: str, *, seconds: int, download_name: str | None = None, inline: bool = True
    ) -> str:
        """A V4 signed GET URL valid for ``seconds``, with a ``response-content-disposition``
        (see ``client.signed_get_url``)."""
        from dreamweb.delivery.ranges import content_disposition  # delivery imports Flask

        return signed_get_url(
            self.blob(key),
            seconds=seconds,
            disposition=content_disposition(download_name, inline=inline),
            signer=self.signer,
            api_access_endpoint=self.api_access_endpoint,
        )


def _stored(key: str, blob: storage.Blob) -> StoredObject:
    return StoredObject(
        key=key,
        size=blob.size,
        content_type=blob.content_type or "application/octet-stream",
        etag=_b64_to_hex(blob.md5_hash) if blob.md5_hash else (blob.etag or "").strip('"'),
        last_modified=blob.updated,
        generation=str(blob.generation),
    )


def _b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()
