"""Serving the simulator with werkzeug's threaded server, including abortive closes.

The ``drop`` fault must look like a connection that died mid-body, not like a body that ended
early. A WSGI app alone cannot do that: when it stops yielding, werkzeug shuts the socket down
in an orderly way (FIN), which the client sees as a clean short read. So the app marks the
request (``ABORT_CONNECTION_KEY`` in the environ) and ``SimulatorRequestHandler`` closes that
connection with ``SO_LINGER`` 0, which sends a TCP reset (RST) instead. Under any other server
the mark is ignored and ``drop`` degrades to an orderly short read, like ``truncate``.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct
import termios
import time
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from dreamweb.simulator.http import ABORT_CONNECTION_KEY

# How long to wait for already-written bytes to reach the client before resetting: a reset
# discards whatever is still in the send queue.
_SEND_QUEUE_DRAIN_SECONDS = 2.0


def _unsent_bytes(connection: socket.socket) -> int:
    """Bytes written to the socket but not yet acknowledged by the peer (Linux ``SIOCOUTQ``)."""
    answer = fcntl.ioctl(connection.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))
    return struct.unpack("i", answer)[0]


def _wait_for_send_queue(connection: socket.socket) -> None:
    deadline = time.monotonic() + _SEND_QUEUE_DRAIN_SECONDS
    # OSError: not Linux, or the peer is already gone; either way there is nothing to wait for.
    with contextlib.suppress(OSError):
        while _unsent_bytes(connection) > 0 and time.monotonic() < deadline:
            time.sleep(0.005)


class SimulatorRequestHandler(WSGIRequestHandler):
    """werkzeug's handler, plus the abortive close that the ``drop`` fault asks for."""

    def finish(self) -> None:
        """Finish the request; reset the connection if the app asked for it."""
        environ: dict[str, Any] | None = getattr(self, "environ", None)
        abort = bool(environ and environ.get(ABORT_CONNECTION_KEY))
        if abort:
            _wait_for_send_queue(self.connection)
        super().finish()
        if abort:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # With the request's file objects closed this really closes the socket, and linger
            # 0 turns the close into a reset. socketserver's later shutdown/close of the same
            # socket object then fail quietly (it ignores OSError there).
            self.connection.close()


class QuietSimulatorRequestHandler(SimulatorRequestHandler):
    """``SimulatorRequestHandler`` without the per-request access log (for test sessions)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing: tests make thousands of requests and read failures, not access logs."""


def make_simulator_server(
    app: Any, host: str = "127.0.0.1", port: int = 0, *, access_log: bool = True
) -> BaseWSGIServer:
    """A threaded werkzeug server for ``app`` (port 0 picks a free port: read ``.port``)."""
    handler = SimulatorRequestHandler if access_log else QuietSimulatorRequestHandler
    return make_server(host, port, app, threaded=True, request_handler=handler)


def root_url(server: BaseWSGIServer) -> str:
    """``http://host:port`` of a running server (IPv6 hosts in brackets)."""
    host = server.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{server.port}"
