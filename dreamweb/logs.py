"""Logging: one line per request, JSON under gunicorn or plain text in development.

Handlers are attached to the ``dreamweb`` logger only, so libraries keep their own settings.
Secrets never reach a log line: nothing here logs headers or configuration values.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import sys
import threading
import time
import unicodedata
from logging.handlers import QueueHandler, QueueListener
from typing import Any

from flask import Flask, Response, g, request

from dreamweb.cooperative import gevent_patched

# A private generator: request threads never disturb the global ``random`` state that other
# code (or a test framework) may rely on.
_ID_RANDOM = random.Random()
os.register_at_fork(after_in_child=_ID_RANDOM.seed)  # forked workers must not share a sequence

logger = logging.getLogger("dreamweb")
REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")
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


# Control, format and line/paragraph separator characters: a newline (or U+2028, or an ANSI
# escape) in a logged path or upstream message would otherwise start a forged log line.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def escape_controls(text: str) -> str:
    """``text`` with control characters written as escapes (``\\n``, ``\\x1b``, ``\\u2028``)."""
    if text.isprintable():
        return text  # the common case: nothing to escape
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch) in _ESCAPED_CATEGORIES
        else ch
        for ch in text
    )


class TextFormatter(logging.Formatter):
    """``time level logger message key=value ...`` for humans at a terminal, one line each."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one readable line (a traceback follows on its own lines)."""
        extras = " ".join(
            f"{k}={escape_controls(str(v))}"
            for k, v in vars(record).items()
            if k not in _STANDARD_ATTRS
        )
        head = f"{self.formatTime(record)} {record.levelname:<7} {record.name}"
        text = f"{head}: {escape_controls(record.getMessage())} {extras}".rstrip()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class BackgroundHandler(QueueHandler):
    """Hands records to a writer thread of this process, so request threads never wait on I/O.

    Under load, eight threads per worker each writing its request line to stderr under the
    handler's lock spent more time waiting for that lock than serving the request. The writer
    thread starts on first use in each process: gunicorn forks workers after ``--preload``
    built the app in the master, and a thread does not survive a fork.
    """

    def __init__(self, output: logging.Handler) -> None:
        super().__init__(queue.SimpleQueue())
        self.output = output
        self._listener: QueueListener | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """The record as it is: the queue stays in this process, and the writer formats it.

        ``QueueHandler.prepare`` formats and copies every record so that it could be pickled
        onto another process's queue; here that only doubled the formatting on request threads.
        """
        return record

    def emit(self, record: logging.LogRecord) -> None:
        """Queue ``record`` for this process's writer thread (started on first use)."""
        if self._pid != os.getpid():
            self._start_writer()
        super().emit(record)

    def _start_writer(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self.queue = queue.SimpleQueue()  # the parent's queue belongs to the parent
            self._listener = QueueListener(self.queue, self.output)
            self._listener.start()
            self._pid = os.getpid()

    def close(self) -> None:
        """Write out what is queued and stop the writer thread."""
        if self._listener is not None and self._pid == os.getpid():
            self._listener.stop()
            self._pid = 0
        super().close()


def configure_logging(log_format: str, level: str) -> None:
    """Point the ``dreamweb`` logger at stderr in the chosen format (idempotent)."""
    output = logging.StreamHandler(sys.stderr)
    output.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    # Under gevent (gunicorn's workers) a writer "thread" is a greenlet on the same core:
    # queueing each line to it only adds a switch per line (~5 % of status-poll throughput in
    # bench/api_bench.py), so lines are written directly; threads get the writer thread.
    handler = output if gevent_patched() else BackgroundHandler(output)
    for old in [h for h in logger.handlers if getattr(h, "_dreamweb", False)]:
        logger.removeHandler(old)
        old.close()  # flushes what the previous configuration still held
    handler._dreamweb = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    # flask-limiter says through its own logger when the limit storage goes down or comes back.
    limiter_logger = logging.getLogger("flask-limiter")
    for old in [h for h in limiter_logger.handlers if getattr(h, "_dreamweb", False)]:
        limiter_logger.removeHandler(old)
    limiter_logger.addHandler(handler)
    limiter_logger.setLevel(logging.WARNING)
    limiter_logger.propagate = False


def _request_id() -> str:
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    if 0 < len(supplied) <= 128 and set(supplied) <= _SAFE_REQUEST_ID:
        return supplied
    # Identifies a request in logs; it needs to be unique, not unguessable.
    return f"{_ID_RANDOM.getrandbits(128):032x}"


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
