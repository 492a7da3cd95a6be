"""Serving a stored object over HTTP: byte ranges and conditional requests per RFC 9110.

Headers are parsed by werkzeug (``request.range``, ``request.if_range``, ``request.if_match``,
``request.if_none_match``, the date headers) and written with its datastructures
(``ContentRange``, ``last_modified``, ``set_etag``); the decisions follow RFC 9110 §13.2.2 in
order. werkzeug's ``make_conditional`` is not used because it answers a malformed or multi-range
``Range`` with 416, accepts a weak or older-dated ``If-Range``, refuses a suffix longer than the
object, and reaches a range start by reading the body from byte 0 unless it can seek.

Documented choices:

* ``Cache-Control: private, max-age=31536000, immutable`` (``cache_seconds``). A key's bytes
  never change once written (videos are create-only), so the browser may keep them for a year
  without revalidating; ``private`` because a dream belongs to one browser and shared caches
  must not keep it. ``cache_seconds=0`` sends ``private, no-cache`` (always revalidate).
* Several ranges in one ``Range`` are answered with the whole object (200): RFC 9110 lets a
  server ignore ``Range``, video players ask for one range at a time, and
  ``multipart/byteranges`` would add complexity no client here needs. A malformed ``Range`` or
  a unit other than ``bytes`` is ignored the same way.
* An empty object ignores ``Range`` (200, no body): no byte range of it can be expressed.
* ``HEAD`` sends every header of the matching ``GET`` and never opens the object.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from urllib.parse import quote

import flask
from flask import Request, Response
from werkzeug.datastructures import ContentRange, Range

from dreamweb.storage.base import StoredObject, VideoStore

IMMUTABLE_SECONDS = 365 * 24 * 3600
# RFC 8187 attr-char minus the ASCII letters and digits that quote() always keeps.
_ATTR_CHAR_SAFE = "!#$&+-.^_`|~"


class _Unsatisfiable(Exception):
    """The single requested range starts at or past the end of the object."""


def send_stored_object(
    store: VideoStore,
    key: str,
    *,
    download_name: str,
    as_attachment: bool = True,
    cache_seconds: int = IMMUTABLE_SECONDS,
) -> Response:
    """A streaming response for ``key``: 200/206/304/412/416 as the request's headers ask.

    Raises ``ObjectNotFoundError`` (from ``store.stat``) when there is no such object. Only the
    requested bytes are read from the store (``open_range``); ``HEAD`` reads none.
    """
    request = flask.request
    stored = store.stat(key)
    response = Response(status=200)
    _describe(response, stored, download_name, as_attachment, cache_seconds)
    status = _precondition_status(request, stored)
    if status is not None:
        response.status_code = status
        return response
    try:
        span = _requested_span(request, stored)
    except _Unsatisfiable:
        response.status_code = 416
        response.content_range = ContentRange("bytes", None, None, stored.size)
        return response
    start, stop = span or (0, stored.size)
    if span is not None:
        response.status_code = 206
        response.content_range = ContentRange("bytes", start, stop, stored.size)
    _attach_body(response, store, key, request, start, stop, stored.size)
    return response


def content_disposition(download_name: str | None, *, inline: bool) -> str:
    """``attachment; filename="…"`` (or ``inline``), with ``filename*`` for non-ASCII names."""
    kind = "inline" if inline else "attachment"
    if not download_name:
        return kind
    fallback = unicodedata.normalize("NFKD", download_name).encode("ascii", "ignore").decode()
    fallback = "".join(
        "_" if char in '"\\' or not char.isprintable() else char for char in fallback
    )
    value = f'{kind}; filename="{fallback or "download"}"'
    if fallback != download_name:
        value += f"; filename*=UTF-8''{quote(download_name, safe=_ATTR_CHAR_SAFE)}"
    return value


def _describe(
    response: Response,
    stored: StoredObject,
    download_name: str,
    as_attachment: bool,
    cache_seconds: int,
) -> None:
    """Headers every answer about this object carries (werkzeug drops entity ones on 304)."""
    response.headers["Content-Type"] = stored.content_type
    response.headers["Content-Disposition"] = content_disposition(
        download_name, inline=not as_attachment
    )
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.set_etag(stored.etag)
    response.last_modified = stored.last_modified
    response.headers["Cache-Control"] = (
        f"private, max-age={cache_seconds}, immutable" if cache_seconds > 0 else "private, no-cache"
    )
    response.content_length = 0  # replaced by the body's length when there is one


def _precondition_status(request: Request, stored: StoredObject) -> int | None:
    """412 or 304 when a precondition says so (RFC 9110 §13.2.2 steps 1–4), else ``None``."""
    modified = _to_second(stored.last_modified)
    if request.if_match:
        if not request.if_match.contains(stored.etag):  # strong comparison; * matches
            return 412
    elif request.if_unmodified_since is not None and modified > request.if_unmodified_since:
        return 412
    if request.if_none_match:
        if request.if_none_match.contains_weak(stored.etag):  # weak comparison per RFC
            return 304
    elif request.if_modified_since is not None and modified <= request.if_modified_since:
        return 304
    return None


def _requested_span(request: Request, stored: StoredObject) -> tuple[int, int] | None:
    """The ``[start, stop)`` to send as 206, or ``None`` for the whole object.

    Raises ``_Unsatisfiable`` for one well-formed range that starts past the end.
    """
    parsed = request.range  # None when absent or malformed
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
        return None
    if stored.size == 0:
        return None
    if "If-Range" in request.headers and not _if_range_holds(request, stored):
        return None  # the client's partial copy is stale: send it all
    span = _satisfiable_span(parsed, stored.size)
    if span is None:
        raise _Unsatisfiable()
    return span


def _satisfiable_span(parsed: Range, size: int) -> tuple[int, int] | None:
    begin, _end = parsed.ranges[0]
    if begin < 0:
        # A suffix longer than the object means all of it (RFC 9110 §14.1.2); werkzeug's
        # range_for_length would call it unsatisfiable.
        return max(0, size + begin), size
    return parsed.range_for_length(size)


def _if_range_holds(request: Request, stored: StoredObject) -> bool:
    """``If-Range`` uses strong comparison: a weak tag never matches, a date only exactly."""
    raw = request.headers["If-Range"].strip()
    if_range = request.if_range
    if if_range.date is not None:
        return if_range.date == _to_second(stored.last_modified)
    # werkzeug drops the W/ prefix, so weakness is checked on the raw value.
    return raw.startswith('"') and if_range.etag == stored.etag


def _attach_body(
    response: Response,
    store: VideoStore,
    key: str,
    request: Request,
    start: int,
    stop: int,
    size: int,
) -> None:
    """Set the length and, except for HEAD, stream ``[start, stop)`` from the store."""
    if request.method != "HEAD" and stop > start:
        # "To the end" rather than an explicit last byte lets GCS verify a whole-object read.
        end = None if stop == size else stop - 1
        response.response = store.open_range(key, start, end)
        response.direct_passthrough = True  # werkzeug passes our iterator (and close) through
    response.content_length = stop - start


def _to_second(moment: datetime) -> datetime:
    """HTTP dates have whole seconds; compare at that precision."""
    return moment.replace(microsecond=0)
