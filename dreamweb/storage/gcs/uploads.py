"""Verified uploads: stream a caller's chunks into a blob and check what GCS stored.

Uploads stream through a reader that hashes (MD5 + CRC32C) and counts the bytes the client
library pulls. Objects up to 8 MiB go up in one multipart request (the reader buffers at most
that much); larger ones as a resumable upload in bounded ``UPLOAD_CHUNK_SIZE`` chunks. The
library also sends CRC32C so GCS rejects a corrupted upload before committing it; afterwards
the object's reported MD5/CRC32C/size are compared with ours, and a mismatch deletes the object
(only that generation) and raises ``IntegrityError``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

import google_crc32c
from google.cloud import storage

from dreamweb.errors import IntegrityError
from dreamweb.storage.gcs.errors import SourceError, translated

if TYPE_CHECKING:
    from dreamweb.storage.gcs.store import GCSVideoStore

MIB = 1024 * 1024
# google-cloud-storage uploads anything up to this size in one multipart request.
MULTIPART_LIMIT = 8 * MIB
UPLOAD_CHUNK_SIZE = 8 * MIB  # must be a multiple of 256 KiB


def upload_verified(
    store: GCSVideoStore,
    blob: storage.Blob,
    chunks: Iterable[bytes],
    *,
    content_type: str,
    size: int | None,
    if_absent: bool,
) -> None:
    """Upload ``chunks`` into ``blob`` (create-only with ``if_absent``), then verify it.

    An exception from ``chunks`` itself reaches the caller unchanged.
    """
    reader = VerifyingReader(chunks, size)
    try:
        _upload(store, blob, reader, content_type, size, if_absent)
    except SourceError as failure:
        raise failure.error from None  # the caller's own error, unchanged
    _verify_upload(store, blob, reader)


def _upload(
    store: GCSVideoStore,
    blob: storage.Blob,
    reader: VerifyingReader,
    content_type: str,
    size: int | None,
    if_absent: bool,
) -> None:
    small = reader.prefetch(MULTIPART_LIMIT)
    # Multipart for what fits in the prefetch buffer, resumable chunks for the rest.
    blob.chunk_size = None if small else UPLOAD_CHUNK_SIZE
    with translated(store.bucket_check):
        blob.upload_from_file(
            reader,
            size=reader.buffered if small else size,
            content_type=content_type,
            if_generation_match=0 if if_absent else None,
            checksum="crc32c",
            timeout=store.timeout,
            retry=store.conditional_retry,
        )


def _verify_upload(store: GCSVideoStore, blob: storage.Blob, reader: VerifyingReader) -> None:
    """Compare what GCS stored with what we streamed; delete this generation on mismatch."""
    problems = reader.mismatches(blob.size, blob.md5_hash, blob.crc32c)
    if not problems:
        return
    with contextlib.suppress(Exception), translated():  # best effort: no bucket check
        blob.delete(if_generation_match=blob.generation, timeout=store.timeout, retry=store.retry)
    raise IntegrityError("stored object failed verification: " + ", ".join(problems))


class VerifyingReader:
    """A read-only stream over ``chunks`` that counts and hashes what the uploader pulls.

    With a declared ``size`` it raises ``IntegrityError`` as soon as the source proves longer
    or shorter, i.e. before the upload's final request, so nothing becomes visible.
    """

    def __init__(self, chunks: Iterable[bytes], size: int | None) -> None:
        self._source = iter(chunks)
        self._size = size
        self._buffer = bytearray()
        self._position = 0
        self._eof = False
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._crc32c = google_crc32c.Checksum()

    @property
    def buffered(self) -> int:
        """Bytes pulled from the source but not yet read."""
        return len(self._buffer)

    def prefetch(self, limit: int) -> bool:
        """Pull up to ``limit`` + 1 bytes; ``True`` when the whole source fits in ``limit``."""
        self._fill(limit + 1)
        return self._eof and len(self._buffer) <= limit

    def _fill(self, wanted: int) -> None:
        while not self._eof and len(self._buffer) < wanted:
            try:
                self._buffer += next(self._source)
            except StopIteration:
                self._eof = True
            except Exception as error:
                raise SourceError(error) from error
        self._check_length()

    def _check_length(self) -> None:
        if self._size is None:
            return
        seen = self._position + len(self._buffer)
        if seen > self._size:
            raise IntegrityError(f"more bytes than the declared {self._size}")
        if self._eof and seen != self._size:
            raise IntegrityError(f"{seen} bytes where {self._size} were declared")

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all remaining for ``-1``); short only at the end."""
        if size < 0:
            self._fill(sys.maxsize)
            size = len(self._buffer)
        else:
            self._fill(size + 1)  # one byte more reveals a source longer than declared
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        self._position += len(data)
        self._md5.update(data)
        self._crc32c.update(data)
        return data

    def tell(self) -> int:
        """Bytes handed out so far (the uploader checks its position with this)."""
        return self._position

    def mismatches(self, size: int | None, md5: str | None, crc32c: str | None) -> list[str]:
        """What differs between the stored object's report and the bytes we sent."""
        problems = []
        if size != self._position:
            problems.append(f"size {size} != {self._position}")
        if md5 is not None and md5 != base64.b64encode(self._md5.digest()).decode():
            problems.append("md5")
        if crc32c is not None and crc32c != base64.b64encode(self._crc32c.digest()).decode():
            problems.append("crc32c")
        if md5 is None and crc32c is None:
            problems.append("no checksum reported")
        return problems
