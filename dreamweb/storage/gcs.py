"""``GCSVideoStore``: the ``VideoStore`` on Google Cloud Storage (or fake-gcs-server).

Metadata: objects are plain GCS objects under ``<prefix><key>``. ``etag`` is the hex form of the
object's MD5 (the same content validator the local adapter reports; GCS's own ``etag`` changes
with metadata, which would needlessly break HTTP caches), and ``generation`` is GCS's object
generation, the token for compare-and-set (``if_generation_match``; ``0`` means "must not exist").

Uploads stream through a reader that hashes (MD5 + CRC32C) and counts the bytes the client
library pulls. Objects up to 8 MiB go up in one multipart request (the reader buffers at most
that much); larger ones as a resumable upload in bounded ``upload_chunk_size`` chunks. The
library also sends CRC32C so GCS rejects a corrupted upload before committing it; afterwards
the object's reported MD5/CRC32C/size are compared with ours, and a mismatch deletes the object
(only that generation) and raises ``IntegrityError``.

Downloads run ``Blob.download_to_file`` on a worker thread that writes into a small bounded
queue (``_DownloadPipe``): one ranged GET per read, a few hundred KiB of memory, and the
library's own resume-on-error (pinned to the first response's generation).

Every call carries an explicit ``timeout=(connect, read)`` and a retry with a deadline; writes
that are not idempotent are retried only when they carry a generation precondition.

fake-gcs-server 1.54 ignores ``if_generation_match`` on resumable uploads (> 8 MiB); real GCS
honours it. ``put_stream(if_absent=True)`` therefore also checks existence before streaming,
which makes the common sequential case correct on the emulator too.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport.requests
import google_crc32c
import requests
from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
from google.cloud.storage.retry import (
    DEFAULT_RETRY,
    ConditionalRetryPolicy,
    is_generation_specified,
)
from google.oauth2 import service_account

from dreamweb.errors import (
    ConfigError,
    DreamwebError,
    IntegrityError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StorageError,
)
from dreamweb.storage.base import CHUNK_SIZE, Record, StoredObject, VideoStore, check_key

SCOPES = ("https://www.googleapis.com/auth/devstorage.read_write",)
MIB = 1024 * 1024
# google-cloud-storage uploads anything up to this size in one multipart request.
MULTIPART_LIMIT = 8 * MIB
UPLOAD_CHUNK_SIZE = 8 * MIB  # must be a multiple of 256 KiB
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 60.0
RETRY_DEADLINE = 60.0
# Download pipe: pieces of this size, at most this many waiting (bounds memory per stream).
PIPE_PIECE, PIPE_DEPTH = CHUNK_SIZE // 4, 8
# A reader that stops pulling for this long (stalled client) releases the GCS download.
PIPE_IDLE_TIMEOUT = 120.0
EMULATOR_PROJECT = "dreamweb-emulator"
RECORD_TYPE = "application/json"


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
        upload_chunk_size: int = UPLOAD_CHUNK_SIZE,
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
        self.upload_chunk_size = upload_chunk_size
        self.signer = signer
        self.api_access_endpoint = api_access_endpoint

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GCSVideoStore:
        """Build from dreamweb config: ``STORAGE_URL`` (``gs://bucket[/prefix]``) and friends.

        With ``STORAGE_EMULATOR_HOST`` the client talks to that URL anonymously (the config
        value, not ``os.environ``, decides). Otherwise credentials come from
        ``GCS_CREDENTIALS_JSON`` (a service-account key, for hosts without files such as
        Heroku) or Application Default Credentials.
        """
        parts = urlsplit(config["STORAGE_URL"])
        bucket, prefix = parts.netloc, parts.path.strip("/")
        key_file = _service_account(config.get("GCS_CREDENTIALS_JSON"))
        project = config.get("GCS_PROJECT")
        emulator = config.get("STORAGE_EMULATOR_HOST")
        if emulator:
            client = storage.Client(
                project=project or EMULATOR_PROJECT,
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": emulator},
            )
            return cls(bucket, prefix, client, signer=key_file, api_access_endpoint=emulator)
        if key_file is not None:
            credentials, default_project = key_file, key_file.project_id
        else:
            try:
                credentials, default_project = google.auth.default(scopes=SCOPES)
            except google.auth.exceptions.DefaultCredentialsError as error:
                raise ConfigError(
                    "GCS_CREDENTIALS_JSON", "is unset and no default credentials were found"
                ) from error
        client = storage.Client(project=project or default_project, credentials=credentials)
        return cls(bucket, prefix, client, signer=credentials)

    # --- reading ------------------------------------------------------------------------------

    def _blob(self, key: str) -> storage.Blob:
        return self.bucket.blob(self.prefix + check_key(key))

    def stat(self, key: str) -> StoredObject:
        """Metadata of ``key`` (one metadata GET). Raises ``ObjectNotFoundError``."""
        blob = self._blob(key)
        with _translated():
            blob.reload(timeout=self.timeout, retry=self.retry)
        return _stored(key, blob)

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        with _translated():
            return self._blob(key).exists(timeout=self.timeout, retry=self.retry)

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream bytes ``start``..``end`` (inclusive, clipped to the object) with one ranged GET.

        Waits for the first bytes before returning, so a missing key raises
        ``ObjectNotFoundError`` here. Close the iterator (werkzeug does) to stop early.
        """
        if start < 0 or (end is not None and end < 0):
            raise ValueError("byte positions must be non-negative")
        if end is not None and end < start:
            return iter(())
        blob = self._blob(key)
        # No Range header for a whole-object read: the library then verifies its CRC32C.
        whole = start == 0 and end is None

        def download(sink: _DownloadPipe) -> None:
            blob.download_to_file(
                sink,
                start=None if whole else start,
                end=end,
                raw_download=True,  # byte-exact ranges, never transcoded
                checksum="crc32c" if whole else None,
                timeout=self.timeout,
                retry=self.retry,
            )

        # The longest a healthy download can go quiet: a read timeout plus the retry deadline.
        quiet = self.timeout[1] + (self.retry.timeout or RETRY_DEADLINE)
        return _DownloadPipe(download, item_timeout=quiet).started()

    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix`` in lexical order (GCS lists by name), page by page."""
        with _translated():
            blobs = self.client.list_blobs(
                self.bucket,
                prefix=self.prefix + prefix,
                timeout=self.timeout,
                retry=self.retry,
            )
            for blob in blobs:
                yield blob.name.removeprefix(self.prefix)

    def get_record(self, key: str) -> Record | None:
        """The JSON record and its generation (from the same response), or ``None``."""
        blob = self._blob(key)
        try:
            with _translated():
                payload = blob.download_as_bytes(timeout=self.timeout, retry=self.retry)
        except ObjectNotFoundError:
            return None
        return Record(data=json.loads(payload), generation=str(blob.generation))

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
        """Upload ``chunks``, verified by length and MD5/CRC32C; see the module docstring."""
        blob = self._blob(key)
        if if_absent and self.exists(key):
            raise PreconditionFailedError()
        reader = _VerifyingReader(chunks, size)
        try:
            self._upload(blob, reader, content_type, size, if_absent)
        except _SourceError as failure:
            raise failure.error from None  # the caller's own error, unchanged
        self._verify_upload(blob, reader)
        return _stored(key, blob)

    def _upload(
        self,
        blob: storage.Blob,
        reader: _VerifyingReader,
        content_type: str,
        size: int | None,
        if_absent: bool,
    ) -> None:
        small = reader.prefetch(MULTIPART_LIMIT)
        # Multipart for what fits in the prefetch buffer, resumable chunks for the rest.
        blob.chunk_size = None if small else self.upload_chunk_size
        with _translated():
            blob.upload_from_file(
                reader,
                size=reader.buffered if small else size,
                content_type=content_type,
                if_generation_match=0 if if_absent else None,
                checksum="crc32c",
                timeout=self.timeout,
                retry=self.conditional_retry,
            )

    def _verify_upload(self, blob: storage.Blob, reader: _VerifyingReader) -> None:
        """Compare what GCS stored with what we streamed; delete this generation on mismatch."""
        problems = reader.mismatches(blob.size, blob.md5_hash, blob.crc32c)
        if not problems:
            return
        with contextlib.suppress(Exception), _translated():
            blob.delete(if_generation_match=blob.generation, timeout=self.timeout, retry=self.retry)
        raise IntegrityError("stored object failed verification: " + ", ".join(problems))

    def put_record(self, key: str, data: dict[str, Any], *, generation: str | None) -> Record:
        """Compare-and-set a JSON record with ``if_generation_match`` (0: create only).

        Retried on transient errors (the precondition makes that safe); as with any GCS CAS, a
        retry after a lost response can report ``PreconditionFailedError`` for a write that
        landed, so callers re-read before deciding.
        """
        blob = self._blob(key)
        if generation is not None and not generation.isdigit():
            raise PreconditionFailedError()  # no stored object can have this generation
        payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        with _translated():
            blob.upload_from_string(
                payload,
                content_type=RECORD_TYPE,
                if_generation_match=int(generation) if generation is not None else 0,
                checksum="crc32c",
                timeout=self.timeout,
                retry=self.conditional_retry,
            )
        return Record(data=json.loads(payload), generation=str(blob.generation))

    def delete(self, key: str) -> bool:
        """Remove ``key``; ``False`` when it was not there.

        Retried like a read: deleting twice is harmless, though a retry after a lost response
        reports ``False`` for a delete that happened.
        """
        try:
            with _translated():
                self._blob(key).delete(timeout=self.timeout, retry=self.retry)
        except ObjectNotFoundError:
            return False
        return True

    # --- signed URLs --------------------------------------------------------------------------

    def signed_url(
        self, key: str, *, seconds: int, download_name: str | None = None, inline: bool = True
    ) -> str:
        """A V4 signed GET URL valid for ``seconds``, with a ``response-content-disposition``.

        Signs locally with a service-account key; with other ADC (Cloud Run, GCE) asks IAM
        ``signBlob`` to sign as the same identity.
        """
        from dreamweb.storage.serving import content_disposition  # serving imports Flask

        disposition = content_disposition(download_name, inline=inline)
        try:
            return self._blob(key).generate_signed_url(
                version="v4",
                expiration=timedelta(seconds=seconds),
                method="GET",
                response_disposition=disposition,
                api_access_endpoint=self.api_access_endpoint,
                **self._signing_arguments(),
            )
        except (AttributeError, google.auth.exceptions.GoogleAuthError) as error:
            raise StorageError("signed URLs need service-account credentials") from error

    def _signing_arguments(self) -> dict[str, Any]:
        credentials = self.signer
        if credentials is None or isinstance(credentials, google.auth.credentials.Signing):
            return {"credentials": credentials}
        # Token-only credentials (metadata server) cannot sign; IAM signs for that account.
        if not credentials.valid:
            credentials.refresh(google.auth.transport.requests.Request())
        return {
            "service_account_email": credentials.service_account_email,
            "access_token": credentials.token,
        }


def _service_account(text: str | None) -> service_account.Credentials | None:
    """Service-account credentials from the JSON text of a key (never echoed in errors)."""
    if not text:
        return None
    try:
        info = json.loads(text)
        return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            "GCS_CREDENTIALS_JSON", "is not a valid service-account key (JSON)"
        ) from None


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


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Turn client-library errors into dreamweb's ``StorageError`` family."""
    try:
        yield
    except (DreamwebError, _SourceError):
        raise
    except api_exceptions.NotFound as error:
        raise ObjectNotFoundError() from error
    except api_exceptions.PreconditionFailed as error:
        raise PreconditionFailedError() from error
    except DataCorruption as error:
        raise IntegrityError() from error
    except (
        api_exceptions.GoogleAPIError,
        google.auth.exceptions.GoogleAuthError,
        InvalidResponse,
        requests.RequestException,
        OSError,
        ValueError,
    ) as error:
        raise StorageError() from error


class _SourceError(Exception):
    """Carries an exception raised by the caller's chunk iterator through the client library,
    so it is neither retried nor translated into a storage error."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _VerifyingReader:
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
                raise _SourceError(error) from error
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


_EOF = object()


class _ReaderGone(Exception):
    """The consumer closed the pipe or stopped reading; the worker abandons the download."""


class _DownloadPipe:
    """Runs a download on a worker thread; iterating yields its bytes in bounded pieces.

    The worker's file-like side (``write``) blocks when ``PIPE_DEPTH`` pieces wait, so memory
    stays bounded however fast GCS is; ``close`` (or a stalled reader) stops the worker.
    """

    def __init__(self, download: Callable[[_DownloadPipe], None], item_timeout: float) -> None:
        self._download = download
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=PIPE_DEPTH)
        self._closed = threading.Event()
        self._pending = bytearray()
        self._item_timeout = item_timeout
        self._head: Any = None

    def started(self) -> _DownloadPipe:
        """Start the worker and wait for the first piece, so errors surface in the caller."""
        threading.Thread(target=self._run, name="gcs-download", daemon=True).start()
        self._head = self._take()
        return self

    # --- worker side --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._download(self)
            if self._pending:
                self._put(bytes(self._pending))
            self._put(_EOF)
        except _ReaderGone:
            pass
        except api_exceptions.RequestRangeNotSatisfiable:
            self._put_quietly(_EOF)  # the range starts past the end: no bytes
        except BaseException as error:  # handed to the reader, who raises it
            self._put_quietly(error)

    def write(self, data: bytes) -> int:
        """File-like side for ``download_to_file``: gather into pieces, block when full."""
        self._pending += data
        if len(self._pending) >= PIPE_PIECE:
            self._put(bytes(self._pending))
            self._pending.clear()
        return len(data)

    def _put(self, item: Any) -> None:
        waited = 0.0
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                waited += 0.5
                if waited >= PIPE_IDLE_TIMEOUT:
                    break
        raise _ReaderGone()

    def _put_quietly(self, item: Any) -> None:
        with contextlib.suppress(_ReaderGone):
            self._put(item)

    # --- reader side --------------------------------------------------------------------------

    def _take(self) -> Any:
        try:
            item = self._queue.get(timeout=self._item_timeout)
        except queue.Empty:
            self.close()
            raise StorageError("storage download stalled") from None
        if isinstance(item, BaseException):
            self.close()
            with _translated():
                raise item
        return item

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        item = self._head if self._head is not None else self._take()
        self._head = None
        if item is _EOF:
            self.close()
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the worker (it notices on its next write) and drop buffered pieces."""
        self._closed.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()

    def __del__(self) -> None:
        self.close()
