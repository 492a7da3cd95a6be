"""What this test process holds open: files and TCP connections (to prove streams release them)."""

from __future__ import annotations

from urllib.parse import urlsplit

import psutil


def open_paths() -> list[str]:
    """Files this process holds open, once per open handle."""
    return [entry.path for entry in psutil.Process().open_files()]


def emulator_connections(url: str) -> set[int]:
    """Local ports of this process's established TCP connections to the server at ``url``."""
    port = urlsplit(url).port
    process = psutil.Process()
    connections = getattr(process, "net_connections", process.connections)("tcp")
    return {
        conn.laddr.port
        for conn in connections
        if conn.raddr and conn.raddr.port == port and conn.status == psutil.CONN_ESTABLISHED
    }
