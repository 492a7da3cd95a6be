"""Writing simulated Vertex outputs into a GCS emulator over its plain JSON upload API.

Vertex writes ``<storageUri prefix>/<numeric folder>/sample_<i>.mp4``; the folder is chosen by
the server (20 decimal digits, like the real ones seen in logs). The upload streams the MP4
from its ``VideoPlan`` with an exact ``Content-Length``, so a 256 MiB output costs the
simulator one chunk of memory.
"""

from __future__ import annotations

import secrets

import requests

from dreamweb.simulator.media import VIDEO_TYPE, VideoPlan

UPLOAD_TIMEOUT = (5.0, 120.0)


class OutputWriteError(Exception):
    """The emulator refused or failed an upload."""


def parse_gs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/some/prefix/`` -> ``("bucket", "some/prefix")``. Raises ``ValueError``."""
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// URI: {uri!r}")
    bucket, _, prefix = uri.removeprefix("gs://").partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri!r}")
    return bucket, prefix.strip("/")


def new_output_folder() -> str:
    """A server-chosen numeric folder name (20 digits)."""
    return str(10**19 + secrets.randbelow(9 * 10**19))


def output_name(prefix: str, folder: str, index: int) -> str:
    """The object name of sample ``index``."""
    return "/".join(part for part in (prefix, folder, f"sample_{index}.mp4") if part)


class _PlanReader:
    """A file-like view of a ``VideoPlan`` so ``requests`` streams it with a Content-Length."""

    def __init__(self, plan: VideoPlan) -> None:
        self._chunks = plan.chunks()
        self._pending = memoryview(b"")
        self._length = plan.length

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._pending = memoryview(chunk)
        size = len(self._pending) if size < 0 else size
        piece, self._pending = self._pending[:size], self._pending[size:]
        return bytes(piece)


def upload_video(endpoint: str, bucket: str, name: str, plan: VideoPlan) -> None:
    """Upload one MP4 to ``gs://bucket/name`` on the emulator at ``endpoint``."""
    url = f"{endpoint}/upload/storage/v1/b/{bucket}/o"
    try:
        response = requests.post(
            url,
            params={"uploadType": "media", "name": name},
            data=_PlanReader(plan),
            headers={"Content-Type": VIDEO_TYPE},
            timeout=UPLOAD_TIMEOUT,
        )
    except requests.RequestException as error:
        raise OutputWriteError(f"cannot reach the GCS endpoint {endpoint}: {error}") from None
    if response.status_code != 200:
        raise OutputWriteError(
            f"writing gs://{bucket}/{name} failed: HTTP {response.status_code} "
            f"{response.text[:200]}"
        )
