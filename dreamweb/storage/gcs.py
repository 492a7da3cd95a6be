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

Downloads are one streaming GET of the object's media URL (``Range`` for partial reads) through
the client's own authorized session, so credentials and the emulator endpoint apply as for every
other call. The body is read raw in ``CHUNK_SIZE`` pieces, one piece in memory at a time, with no
worker thread: ``Blob.download_to_file`` writes 8 KiB at a time and forced a thread hand-off that
capped serving at a fraction of what the connection carries. ``Accept-Encoding: gzip`` plus
undecoded reads yield the stored bytes exactly (GCS would otherwise decompress a gzip-encoded
object). A whole-object read is checked against the response's ``x-goog-hash`` CRC32C before its
last chunk is handed over. Only connection setup is retried; a stream that breaks midway raises
``StorageError`` (the HTTP client that asked for it can resume with a range).

Every call carries an explicit ``timeout=(connect, read)`` and a retry with a deadline; writes
that are not idempotent are retried only when they carry a generation precondition.

A 404 can mean a missing object or a missing (misnamed) bucket; the latter is an outage, not
"no such video", so it raises ``BucketNotFoundError`` (a 503 ``StorageError``). Real GCS does not
say which reliably (object calls may answer "No such object") and fake-gcs-server answers a bare
"Not Found" for both, so the first 404 a store sees is followed by one listing of the bucket;
once the bucket has answered, that is remembered and later 404s cost nothing extra.

fake-gcs-server 1.54 ignores ``if_generation_match`` on resumable uploads (> 8 MiB); real GCS
honours it. ``put_stream(if_absent=True)`` therefore also checks existence before streaming,
which makes the common sequential case correct on the emulator too.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport.requests
import google_crc32c
import requests
import urllib3
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
EMULATOR_PROJECT = "dreamweb-emulator"
RECORD_TYPE = "application/json"
# What GCS's JSON API says of a missing bucket ("The specified bucket does not exist.") and its
# XML API's code for it; either in a 404 settles the question without asking the bucket.
MISSING_BUCKET_MARKERS = ("bucket does not exist", "nosuchbucket")


class BucketNotFoundError(StorageError):
    """The configured bucket does not exist: a deployment fault (503), never a missing object.

    Clients get the generic ``StorageError`` message (a bucket name is internal); ``str()`` names
    the bucket for operators (``flask --app dreamweb check`` prints it).
    """

    def __init__(self, bucket: str) -> None:
        super().__init__()
        self.bucket = bucket

    def __str__(self) -> str:
        return f"GCS bucket {self.bucket!r} does not exist (or is not visible to these credentials)"


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
        # Set once the bucket has answered; until then a 404 also checks the bucket (see
        # ``bucket_missing``). Only ever goes False -> True, so threads racing on it are harmless.
        self._bucket_seen = False

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

    # --- the bucket itself -----------------------------------------------------------------------

    def bucket_exists(self) -> bool:
        """Whether the bucket exists, by listing at most one name under the prefix.

        Listing needs only ``storage.objects.list``, which the sweeper needs anyway (a bucket
        metadata GET would need ``storage.buckets.get``, which object-level roles lack). A
        positive answer is remembered. Raises ``StorageError`` when storage does not answer.
        """
        with _translated():  # its own 404 is the answer, handled below
            try:
                blobs = self.client.list_blobs(
                    self.bucket,
                    prefix=self.prefix,
                    max_results=1,
                    timeout=self.timeout,
                    retry=self.retry,
                )
                next(iter(blobs), None)
            except api_exceptions.NotFound:
                return False
            except api_exceptions.Forbidden:
                pass  # GCS answers 404 for a missing bucket whoever asks: a 403 means it exists
        self._bucket_seen = True
        return True

    def bucket_missing(self, error: api_exceptions.NotFound) -> bool:
        """Whether ``error`` (a 404 from some call) is about the bucket, not an object."""
        message = str(error.message).lower()
        if any(marker in message for marker in MISSING_BUCKET_MARKERS):
            return True
        return not self._bucket_seen and not self.bucket_exists()

    # --- reading ------------------------------------------------------------------------------

    def _blob(self, key: str) -> storage.Blob:
        return self.bucket.blob(self.prefix + check_key(key))

    def stat(self, key: str) -> StoredObject:
        """Metadata of ``key`` (one metadata GET). Raises ``ObjectNotFoundError``."""
        blob = self._blob(key)
        with _translated(self):
            blob.reload(timeout=self.timeout, retry=self.retry)
        return _stored(key, blob)

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``; ``BucketNotFoundError`` if the bucket is
        missing (the client library answers ``False`` for that too)."""
        with _translated(self):
            found = self._blob(key).exists(timeout=self.timeout, retry=self.retry)
        if not found and not self._bucket_seen and not self.bucket_exists():
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
        response = self._get_media(self._blob(key), span)
        if response is None:
            return iter(())
        return _MediaStream(response, _crc32c_header(response) if whole else None)

    def _get_media(self, blob: storage.Blob, span: str | None) -> requests.Response | None:
        """The open streaming response for ``blob``'s bytes, or ``None`` when ``span`` starts
        past the end (416). Retries getting the response only; the body is the caller's."""
        # Private client-library internals (here and in ``_media_headers``): ``_get_download_url``,
        # ``client._http``, ``client._connection.user_agent``, ``_extra_headers``. They are why
        # pyproject.toml pins google-cloud-storage below 4; re-check them before raising the pin.
        url = blob._get_download_url(self.client)
        headers = self._media_headers(span)

        def attempt() -> requests.Response:
            response = self.client._http.request(
                "GET", url, headers=headers, stream=True, timeout=self.timeout
            )
            if response.status_code >= 400 and response.status_code != 416:
                with response:  # an error body is small: read it for the message, then release
                    raise api_exceptions.from_http_response(response)  # 5xx/429 are retried
            return response

        with _translated(self):
            response = self.retry(attempt)()
        if response.status_code != (200 if span is None else 206):
            response.close()
            if response.status_code == 416:
                return None
            raise StorageError(f"unexpected status {response.status_code} for a media read")
        return response

    def _media_headers(self, span: str | None) -> dict[str, str]:
        """Headers of a media GET: the library's user agent and extras, ``Range`` if given."""
        # Private internals again (see ``_get_media``): covered by the google-cloud-storage<4 pin.
        headers = {
            "User-Agent": self.client._connection.user_agent,
            # With undecoded reads this yields the stored bytes even for a gzip-encoded object;
            # "identity" would make GCS decompress it (and its CRC32C would no longer match).
            "Accept-Encoding": "gzip",
            **getattr(self.client, "_extra_headers", {}),
        }
        if span is not None:
            headers["Range"] = span
        return headers

    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix`` in lexical order (GCS lists by name), page by page."""
        with _translated(self):
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
            with _translated(self):
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
        with _translated(self):
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
        with contextlib.suppress(Exception), _translated():  # best effort: no bucket check
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
        with _translated(self):
            blob.upload_from_string(
                payload,
                content_type=RECORD_TYPE,
                if_generation_match=int(generation) if generation is not None else 0,
                checksum="crc32c",
                timeout=self.timeout,
                retry=self.conditional_retry,
            )
        return Record(data=json.loads(payload), generation=str(blob.generation))

    def delete(self, key: str, *, generation: str | None = None) -> bool:
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
        if match is not None and self._generation_of(key) != generation:
            return False
        try:
            with _translated(self):
                self._blob(key).delete(
                    if_generation_match=match, timeout=self.timeout, retry=self.retry
                )
        except (ObjectNotFoundError, PreconditionFailedError):
            return False
        return True

    def _generation_of(self, key: str) -> str | None:
        try:
            return self.stat(key).generation
        except ObjectNotFoundError:
            return None

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
def _translated(store: GCSVideoStore | None = None) -> Iterator[None]:
    """Turn client-library errors into dreamweb's ``StorageError`` family.

    With ``store``, a 404 is first checked against that store's bucket: a missing bucket is
    ``BucketNotFoundError`` (503), only a missing object is ``ObjectNotFoundError`` (404).
    """
    try:
        yield
    except (DreamwebError, _SourceError):
        raise
    except api_exceptions.NotFound as error:
        if store is not None and store.bucket_missing(error):
            raise BucketNotFoundError(store.bucket.name) from error
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
        urllib3.exceptions.HTTPError,  # raised by raw body reads (timeouts, cut connections)
        http.client.HTTPException,
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


def _crc32c_header(response: requests.Response) -> str | None:
    """The base64 CRC32C from ``x-goog-hash`` (``crc32c=…,md5=…``), if the server sent one."""
    for part in response.headers.get("x-goog-hash", "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "crc32c" and value:
            return value
    return None


class _MediaStream:
    """Iterates a streaming media response in ``CHUNK_SIZE`` pieces; ``close`` releases it.

    A class rather than a generator: closing a generator that never started skips its
    ``finally``, which would leak the connection when a client disconnects before the first
    chunk. With ``expected_crc32c`` the bytes are checksummed as they pass, and the piece that
    completes ``Content-Length`` is replaced by ``IntegrityError`` if they do not match, so a
    client never receives a whole corrupt body.
    """

    def __init__(self, response: requests.Response, expected_crc32c: str | None) -> None:
        self._response: requests.Response | None = response
        self._expected = expected_crc32c
        self._checksum = google_crc32c.Checksum() if expected_crc32c else None
        length = response.headers.get("Content-Length")
        self._remaining = int(length) if length and length.isdigit() else None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._response is None:
            raise StopIteration
        try:
            with _translated():
                # Undecoded: the stored bytes, never transcoded by the HTTP client.
                chunk = self._response.raw.read(CHUNK_SIZE, decode_content=False)
        except BaseException:
            self.close()
            raise
        if not chunk:
            self.close()
            self._verify()  # only reached without a Content-Length to count down
            raise StopIteration
        if self._checksum is not None:
            self._checksum.update(chunk)
            if self._remaining is not None:
                self._remaining -= len(chunk)
                if self._remaining <= 0:
                    self._verify()
        return chunk

    def _verify(self) -> None:
        """Compare the checksum once; on mismatch release the response and raise."""
        checksum, self._checksum = self._checksum, None
        if checksum is None:
            return
        if base64.b64encode(checksum.digest()).decode() != self._expected:
            self.close()
            raise IntegrityError("downloaded bytes do not match the object's CRC32C")

    def close(self) -> None:
        """Release the connection (closed if unread bytes remain); safe to call twice."""
        response, self._response = self._response, None
        if response is not None:
            response.close()

    def __del__(self) -> None:
        # Dropped without close() (a test client's unread response): release like a generator.
        self.close()
