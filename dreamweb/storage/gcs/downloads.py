"""Streaming reads: one GET of an object's media URL, handed out chunk by chunk, CRC32C-checked.

Downloads are one streaming GET of the object's media URL (``Range`` for partial reads) through
the client's own authorized session, so credentials and the emulator endpoint apply as for every
other call. The body is read raw in ``CHUNK_SIZE`` pieces, one piece in memory at a time, with no
worker thread: ``Blob.download_to_file`` writes 8 KiB at a time and forced a thread hand-off that
capped serving at a fraction of what the connection carries. ``Accept-Encoding: gzip`` plus
undecoded reads yield the stored bytes exactly (GCS would otherwise decompress a gzip-encoded
object). A whole-object read is checked against the response's ``x-goog-hash`` CRC32C before its
last chunk is handed over. Only connection setup is retried; a stream that breaks midway raises
``StorageError`` (the HTTP client that asked for it can resume with a range).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import google_crc32c
import requests
from google.api_core import exceptions as api_exceptions
from google.cloud import storage

from dreamweb.errors import IntegrityError, StorageError
from dreamweb.storage.base import CHUNK_SIZE, ChunkStream
from dreamweb.storage.gcs.errors import translated

if TYPE_CHECKING:
    from dreamweb.storage.gcs.store import GCSVideoStore


def get_media(
    store: GCSVideoStore, blob: storage.Blob, span: str | None
) -> requests.Response | None:
    """The open streaming response for ``blob``'s bytes, or ``None`` when ``span`` starts
    past the end (416). Retries getting the response only; the body is the caller's."""
    # Private client-library internals (here and in ``_media_headers``): ``_get_download_url``,
    # ``client._http``, ``client._connection.user_agent``, ``_extra_headers``. They are why
    # pyproject.toml pins google-cloud-storage below 4; re-check them before raising the pin.
    client = store.client
    url = blob._get_download_url(client)
    headers = _media_headers(client, span)

    def attempt() -> requests.Response:
        response = client._http.request(
            "GET", url, headers=headers, stream=True, timeout=store.timeout
        )
        if response.status_code >= 400 and response.status_code != 416:
            with response:  # an error body is small: read it for the message, then release
                raise api_exceptions.from_http_response(response)  # 5xx/429 are retried
        return response

    with translated(store.bucket_check):
        response = store.retry(attempt)()
    if response.status_code != (200 if span is None else 206):
        response.close()
        if response.status_code == 416:
            return None
        raise StorageError(f"unexpected status {response.status_code} for a media read")
    return response


def _media_headers(client: storage.Client, span: str | None) -> dict[str, str]:
    """Headers of a media GET: the library's user agent and extras, ``Range`` if given."""
    # Private internals again (see ``get_media``): covered by the google-cloud-storage<4 pin.
    headers = {
        "User-Agent": client._connection.user_agent,
        # With undecoded reads this yields the stored bytes even for a gzip-encoded object;
        # "identity" would make GCS decompress it (and its CRC32C would no longer match).
        "Accept-Encoding": "gzip",
        **getattr(client, "_extra_headers", {}),
    }
    if span is not None:
        headers["Range"] = span
    return headers


def crc32c_header(response: requests.Response) -> str | None:
    """The base64 CRC32C from ``x-goog-hash`` (``crc32c=…,md5=…``), if the server sent one."""
    for part in response.headers.get("x-goog-hash", "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "crc32c" and value:
            return value
    return None


class MediaStream(ChunkStream[requests.Response]):
    """Iterates a streaming media response in ``CHUNK_SIZE`` pieces; ``close`` releases it
    (the connection is closed if unread bytes remain).

    With ``expected_crc32c`` the bytes are checksummed as they pass, and the piece that
    completes ``Content-Length`` is replaced by ``IntegrityError`` if they do not match, so a
    client never receives a whole corrupt body.
    """

    def __init__(self, response: requests.Response, expected_crc32c: str | None) -> None:
        super().__init__(response)
        self._expected = expected_crc32c
        self._checksum = google_crc32c.Checksum() if expected_crc32c else None
        length = response.headers.get("Content-Length")
        self._remaining = int(length) if length and length.isdigit() else None

    def __next__(self) -> bytes:
        if self._resource is None:
            raise StopIteration
        with self._closing_on_error(), translated():
            # Undecoded: the stored bytes, never transcoded by the HTTP client.
            chunk = self._resource.raw.read(CHUNK_SIZE, decode_content=False)
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
