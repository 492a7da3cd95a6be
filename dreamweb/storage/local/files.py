"""The local store's files: generation data, the ``@meta`` pointer, atomic writes and range reads.

Everything here works on a key's *base* path (``root/folder/name``, never opened itself) and its
``name@…`` siblings; see the package docstring for the layout and the commit protocol. The
caller holds the key's lock (``locks.LockPool``) around ``commit``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from dreamweb.cooperative import run_blocking
from dreamweb.errors import (
    IntegrityError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StorageError,
)
from dreamweb.storage.base import CHUNK_SIZE, ChunkStream

META, TEMP = "@meta", "@tmp-"
# A reader that races a replace/delete re-reads the pointer this many times before giving up.
READ_ATTEMPTS = 3


def sibling(base: Path, suffix: str) -> Path:
    """``base`` with ``suffix`` appended to its name (``@meta``, ``@<generation>``)."""
    return base.with_name(base.name + suffix)


def temp_path(base: Path) -> Path:
    """A fresh temporary name beside ``base`` (same directory, so a rename is atomic)."""
    return base.with_name(f".{base.name}{TEMP}{secrets.token_hex(8)}")


def read_meta(base: Path) -> dict[str, Any] | None:
    """The key's pointer, or ``None`` when nothing is committed under it."""
    try:
        text = sibling(base, META).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        raise StorageError() from error
    return json.loads(text)


def open_current(base: Path) -> tuple[dict[str, Any], BinaryIO]:
    """The pointer and an open handle on the data it names (consistent with each other)."""
    for _ in range(READ_ATTEMPTS):
        meta = read_meta(base)
        if meta is None:
            raise ObjectNotFoundError()
        try:
            return meta, sibling(base, f"@{meta['generation']}").open("rb")
        except FileNotFoundError:
            continue  # replaced or deleted between the two reads: look again
        except OSError as error:
            raise StorageError() from error
    raise ObjectNotFoundError()


def commit(
    base: Path, temp: Path, content_type: str, md5: str, size: int, create_only: bool
) -> dict[str, Any]:
    """Publish ``temp`` as the key's new generation; caller holds the key's lock."""
    previous = read_meta(base)
    if create_only and previous is not None:
        raise PreconditionFailedError()
    generation = _next_generation(previous)
    data_path = sibling(base, f"@{generation}")
    os.rename(temp, data_path)
    meta = {
        "content_type": content_type,
        "size": size,
        "md5": md5,
        "generation": generation,
        "modified": datetime.now(UTC).isoformat(),
    }
    try:
        _publish(base, meta, create_only)
    except BaseException:
        data_path.unlink(missing_ok=True)
        raise
    if previous is not None:
        sibling(base, f"@{previous['generation']}").unlink(missing_ok=True)
    return meta


def _publish(base: Path, meta: dict[str, Any], create_only: bool) -> None:
    """Write the pointer to a temp file and move it into place atomically."""
    temp = temp_path(base)
    with removing(temp):
        write_file(temp, [json.dumps(meta).encode()], None)
        target = sibling(base, META)
        if create_only:
            try:
                os.link(temp, target)  # fails if the name exists: create-only, race-free
            except FileExistsError:
                raise PreconditionFailedError() from None
        else:
            os.replace(temp, target)
        fsync_dir(base.parent)


def _next_generation(previous: dict[str, Any] | None) -> int:
    """Microseconds since the epoch, bumped past the previous generation if the clock lags."""
    now = time.time_ns() // 1000
    return now if previous is None else max(now, int(previous["generation"]) + 1)


@contextlib.contextmanager
def os_errors() -> Iterator[None]:
    """Report filesystem failures (disk full, permissions) as ``StorageError``."""
    try:
        yield
    except OSError as error:
        raise StorageError() from error


@contextlib.contextmanager
def removing(path: Path) -> Iterator[None]:
    """Remove ``path`` on the way out, whatever happened (it is only ever a temp file)."""
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def write_file(path: Path, chunks: Iterable[bytes], size: int | None) -> tuple[str, int]:
    """Write ``chunks`` to a new file and fsync it; return (md5 hex, length).

    Raises ``IntegrityError`` as soon as the length is known to differ from ``size``. Errors
    raised by ``chunks`` itself propagate unchanged (the caller knows its source); filesystem
    errors become ``StorageError``.
    """
    md5 = hashlib.md5(usedforsecurity=False)
    written = 0
    with os_errors():
        handle = path.open("xb")
    with handle:
        for chunk in chunks:
            written += len(chunk)
            if size is not None and written > size:
                raise IntegrityError(f"more bytes than the declared {size}")
            md5.update(chunk)
            with os_errors():
                handle.write(chunk)
        if size is not None and written != size:
            raise IntegrityError(f"{written} bytes where {size} were declared")
        with os_errors():
            handle.flush()
            run_blocking(os.fsync, handle.fileno())
    return md5.hexdigest(), written


def fsync_dir(directory: Path) -> None:
    """Make a rename/link in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        run_blocking(os.fsync, fd)
    finally:
        os.close(fd)


class FileSpan(ChunkStream[BinaryIO]):
    """Iterates ``handle``'s bytes ``start`` (inclusive) to ``stop`` (exclusive) in
    ``CHUNK_SIZE`` pieces; ``close`` closes the file."""

    def __init__(self, handle: BinaryIO, start: int, stop: int) -> None:
        super().__init__(handle)
        self._remaining = stop - start
        if self._remaining > 0:
            with self._closing_on_error(), os_errors():
                handle.seek(start)

    def __next__(self) -> bytes:
        if self._resource is None or self._remaining <= 0:
            self.close()
            raise StopIteration
        with self._closing_on_error(), os_errors():
            chunk = self._resource.read(min(CHUNK_SIZE, self._remaining))
        if not chunk:
            self.close()
            raise StorageError("stored object is shorter than its metadata says")
        self._remaining -= len(chunk)
        return chunk
