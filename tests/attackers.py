"""Slow clients over real sockets, for the slow-client tests and bench/load.py.

Each attacker runs in its own thread until ``stop`` is set, and reconnects when the server
closes on it (a real attacker would), counting how often that happened: a server that times
slow connections out shows up as many reconnects, one that does not as none.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SMALL_WINDOW = 4096  # bytes: SO_RCVBUF of a slow reader, so the server's writes block early


@dataclass
class Crowd:
    """Attacker threads started together; ``stop()`` ends and joins them."""

    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    connects: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def counted(self) -> None:
        """Note one (re)connection."""
        with self._lock:
            self.connects += 1

    def start(self, count: int, target: Callable[[Crowd], None]) -> Crowd:
        """Start ``count`` threads running ``target(self)``."""
        for _ in range(count):
            thread = threading.Thread(target=target, args=(self,), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop every attacker and wait for its thread."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=10)


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _connect(url: str, crowd: Crowd, receive_window: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_window:
        # Before connect, so the advertised window is small from the handshake on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_window)
    sock.settimeout(10)
    sock.connect(_address(url))
    crowd.counted()
    return sock


def _request_head(url: str, method: str, extra: str = "") -> bytes:
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}".encode()


def slow_readers(
    url: str, count: int, bytes_per_second: int = 4096, interval: float = 0.5
) -> Crowd:
    """``count`` clients that GET ``url`` and read it slowly through a small receive window."""

    def run(crowd: Crowd) -> None:
        piece = max(1, int(bytes_per_second * interval))
        while not crowd.stop_event.is_set():
            with contextlib.suppress(OSError), _connect(url, crowd, SMALL_WINDOW) as sock:
                sock.sendall(_request_head(url, "GET", "\r\n"))
                while not crowd.stop_event.wait(interval):
                    if not sock.recv(piece):
                        break  # the server closed on us: come back

    return Crowd().start(count, run)


def slowloris(url: str, count: int, interval: float = 2.0) -> Crowd:
    """``count`` clients that send a request's headers one line every ``interval`` seconds."""

    def run(crowd: Crowd) -> None:
        while not crowd.stop_event.is_set():
            with contextlib.suppress(OSError), _connect(url, crowd) as sock:
                sock.sendall(_request_head(url, "GET"))
                line = 0
                while not crowd.stop_event.wait(interval):
                    line += 1
                    sock.sendall(f"X-Slow-{line}: {line}\r\n".encode())
            crowd.stop_event.wait(0.1)

    return Crowd().start(count, run)


def slow_bodies(url: str, count: int, declared: int = 16_000, interval: float = 2.0) -> Crowd:
    """``count`` clients that POST JSON declared ``declared`` bytes long, one byte per interval."""

    def run(crowd: Crowd) -> None:
        head = f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
        while not crowd.stop_event.is_set():
            with contextlib.suppress(OSError), _connect(url, crowd) as sock:
                sock.sendall(_request_head(url, "POST", head))
                for _ in range(declared):
                    if crowd.stop_event.wait(interval):
                        break
                    sock.sendall(b" ")
            crowd.stop_event.wait(0.1)

    return Crowd().start(count, run)


def timed_get(url: str, timeout: float) -> tuple[int, float]:
    """(status, seconds) of one GET on a fresh connection; status 0 on failure or timeout."""
    started = time.perf_counter()
    try:
        with socket.create_connection(_address(url), timeout=timeout) as sock:
            sock.settimeout(max(0.01, timeout - (time.perf_counter() - started)))
            sock.sendall(_request_head(url, "GET", "Connection: close\r\n\r\n"))
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0
    except (OSError, ValueError, IndexError):
        status = 0
    return status, time.perf_counter() - started
