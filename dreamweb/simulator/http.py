"""WSGI plumbing every dialect shares: error answers, JSON bodies, and cut-short bodies.

``HttpError`` is what a handler raises to answer an error; each dialect subclasses it with its
own envelope (OpenAI's, Google's, OpenRouter's). ``cut_short`` implements the ``drop`` and
``truncate`` faults for any response.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from dreamweb.simulator.media import VIDEO_TYPE, VideoPlan

# Set in the WSGI environ to ask SimulatorRequestHandler for an abortive close (a TCP reset).
ABORT_CONNECTION_KEY = "dreamweb.simulator.abort_connection"


class HttpError(Exception):
    """An error answer: status, a JSON body and extra headers. Dialects define the body."""

    def __init__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    def envelope(self) -> object:
        """The JSON body (subclasses give their provider's envelope)."""
        return {"error": {"message": self.message}}

    def response(self) -> Response:
        """The whole answer."""
        response = json_response(self.envelope(), self.status)
        for name, value in self.headers.items():
            response.headers[name] = value
        return response


def json_response(body: object, status: int = 200) -> Response:
    """A JSON answer."""
    return Response(json.dumps(body), status=status, mimetype="application/json")


def stream_response(plan: VideoPlan) -> Response:
    """A streamed ``video/mp4`` answer of a planned MP4, with its exact ``Content-Length``."""
    headers = Headers({"Content-Length": str(plan.length), "Content-Type": VIDEO_TYPE})
    # direct_passthrough: werkzeug hands the generator to the server untouched, so the video
    # leaves in CHUNK_SIZE pieces and is never assembled in memory.
    return Response(plan.chunks(), headers=headers, direct_passthrough=True)


def read_json_object(request: Request, unparsable: Callable[[], HttpError]) -> dict[str, Any]:
    """The request body as a JSON object (empty body -> ``{}``); else raise ``unparsable()``."""
    raw = request.get_data()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise unparsable() from None
    if not isinstance(body, dict):
        raise unparsable()
    return body


def cut_short(response: Response, after_bytes: int, environ: dict[str, Any], *, drop: bool):
    """Re-send ``response`` with its full ``Content-Length`` but only ``after_bytes`` of body.

    The limit is clamped below the full length, so the body is always short. ``drop`` then
    asks the server for a TCP reset; otherwise the server closes the connection normally.
    """
    if response.direct_passthrough:
        full_length = int(response.headers["Content-Length"])
        chunks: Iterable[bytes] = response.response
    else:
        body = response.get_data()
        full_length, chunks = len(body), [body]
    limit = max(0, min(after_bytes, full_length - 1))
    headers = Headers(response.headers)
    headers["Content-Length"] = str(full_length)
    short_body = _first_bytes(chunks, limit, environ, abort=drop)
    return Response(
        short_body, status=response.status_code, headers=headers, direct_passthrough=True
    )


def _first_bytes(
    chunks: Iterable[bytes], limit: int, environ: dict[str, Any], *, abort: bool
) -> Iterator[bytes]:
    sent = 0
    try:
        for chunk in chunks:
            piece = chunk[: limit - sent]
            if piece:
                yield piece
                sent += len(piece)
            if sent >= limit:
                break
        # Reached only once the server has written every piece above: WSGI servers pull the
        # next item after writing the previous one.
        if abort:
            environ[ABORT_CONNECTION_KEY] = True
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
