"""Logging: one line per request, JSON under gunicorn or plain text in development.

Handlers are attached to the ``dreamweb`` logger only, so libraries keep their own settings.
Secrets never reach a log line: nothing here logs headers or configuration values.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import random
import sys
import time
from logging.handlers import QueueHandler, QueueListener
from typing import Any

from flask import Flask, Response, g, request

logger = logging.getLogger("dreamweb")
REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")
_listener: QueueListener | None = None
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a single JSON line."""
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger message key=value ...`` for humans at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one readable line."""
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD_ATTRS)
        head = f"{self.formatTime(record)} {record.levelname:<7} {record.name}"
        text = f"{head}: {record.getMessage()} {extras}".rstrip()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(log_format: str, level: str) -> None:
    """Point the ``dreamweb`` logger at stderr in the chosen format (idempotent).

    Request threads only put records on a queue; one listener thread formats and writes them.
    Under load, eight threads per worker each writing its request line to stderr under the
    handler's lock spent more time waiting for that lock than serving the request.
    """
    global _listener
    if _listener is not None:
        _listener.stop()  # flushes what the previous configuration still held
    output = logging.StreamHandler(sys.stderr)
    output.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = QueueListener(records, output)
    _listener.start()
    handler = QueueHandler(records)
    for old in [h for h in logger.handlers if getattr(h, "_dreamweb", False)]:
        logger.removeHandler(old)
    handler._dreamweb = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


@atexit.register
def _flush_logs() -> None:
    if _listener is not None:
        _listener.stop()


def _request_id() -> str:
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    if 0 < len(supplied) <= 128 and set(supplied) <= _SAFE_REQUEST_ID:
        return supplied
    # Identifies a request in logs; it needs to be unique, not unguessable.
    return f"{random.getrandbits(128):032x}"


def init_app(app: Flask) -> None:
    """Configure logging and log one structured line per request, echoing ``X-Request-ID``."""
    configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])

    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()
        g.request_id = _request_id()

    @app.after_request
    def log_request(response: Response) -> Response:
        started = g.get("request_started", time.perf_counter())
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "request_id": g.get("request_id"),
            },
        )
        return response
