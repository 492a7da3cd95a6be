"""Verified streaming of a download body: bounded chunks, and a short body is always an error."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Iterator
from typing import Any

import requests
import urllib3.exceptions

from dreamweb.errors import ContentTruncatedError
from dreamweb.providers.wire import finite_float

logger = logging.getLogger("dreamweb.provider")

CHUNK_SIZE = 256 * 1024  # bytes handed to the caller at a time; far below the 1 MiB bound

# Everything requests/urllib3/http.client may raise while a streamed body is being read: a
# dropped connection, a short read (urllib3's enforce_content_length), a chunk-framing error
# or a read timeout. All of them mean "the download did not finish".
BODY_READ_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ConnectionError,
    requests.exceptions.ContentDecodingError,
    requests.exceptions.Timeout,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.DecodeError,
    urllib3.exceptions.SSLError,
    http.client.HTTPException,  # includes http.client.IncompleteRead
    OSError,  # ConnectionResetError, socket timeouts and friends
)


def verified_chunks(response: requests.Response, expected: int | None) -> Iterator[bytes]:
    """Yield a streamed body in chunks of at most ``CHUNK_SIZE`` bytes, verifying its length.

    Any transport error while reading, or a body that ends before (or after) ``expected`` bytes,
    raises ``ContentTruncatedError``: a short read never looks like a finished download, whether
    or not urllib3 enforces ``Content-Length`` itself.
    """
    received = 0
    ids: dict[str, Any] = {
        "upstream_status": response.status_code,
        "request_id": response.headers.get("x-request-id"),
    }
    try:
        for chunk in response.iter_content(CHUNK_SIZE):
            # iter_content honours the size for identity bodies; slicing keeps the bound anyway.
            for start in range(0, len(chunk), CHUNK_SIZE):
                piece = chunk[start : start + CHUNK_SIZE]
                received += len(piece)
                yield piece
    except BODY_READ_ERRORS as error:
        raise ContentTruncatedError(
            f"The video download was cut short after {received} bytes", **ids
        ) from error
    if expected is not None and received != expected:
        raise ContentTruncatedError(
            f"The video download ended after {received} of {expected} bytes", **ids
        )


def expected_length(response: requests.Response) -> int | None:
    """The byte count to verify, or ``None`` when the transfer carries no usable length."""
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        return None  # decoded bytes cannot be compared with an encoded length
    length = finite_float(response.headers.get("content-length"))
    return int(length) if length is not None and length >= 0 else None


def _is_chunked(response: requests.Response) -> bool:
    return "chunked" in response.headers.get("transfer-encoding", "").lower()


def logged_chunks(
    response: requests.Response, expected: int | None, fields: dict[str, Any]
) -> Iterator[bytes]:
    """``verified_chunks`` plus one log line per download, always releasing the connection."""
    received = 0
    try:
        for piece in verified_chunks(response, expected):
            received += len(piece)
            yield piece
    except ContentTruncatedError:
        _log_download(
            logging.WARNING, "provider download truncated", fields, response, received, expected
        )
        raise
    finally:
        response.close()
    if expected is None and not _is_chunked(response):
        # Close-delimited body: nothing to check the count against. Accepted, but visible.
        message, level = "provider download length unverifiable", logging.WARNING
    else:
        message, level = "provider download complete", logging.INFO
    _log_download(level, message, fields, response, received, expected)


def _log_download(
    level: int,
    message: str,
    fields: dict[str, Any],
    response: requests.Response,
    received: int,
    expected: int | None,
) -> None:
    extra = fields | {
        "status": response.status_code,
        "upstream_request_id": response.headers.get("x-request-id"),
        "received_bytes": received,
        "expected_bytes": expected,
    }
    logger.log(level, message, extra=extra)
