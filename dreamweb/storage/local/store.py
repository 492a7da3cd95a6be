"""``LocalVideoStore``: the ``VideoStore`` operations on a local directory.

Paths come from ``paths.KeyPaths``, the file protocol (generation files, the ``@meta`` commit
point, atomic writes, range reads) from ``files``, per-key locking from ``locks.LockPool`` and
the sweeper's clean-up from ``debris``; see the package docstring for the on-disk layout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from dreamweb.errors import ObjectNotFoundError, PreconditionFailedError, StorageError
from dreamweb.storage.base import ListedObject, Record, StoredObject, VideoStore
from dreamweb.storage.local import files
from dreamweb.storage.local.debris import remove_stale_files
from dreamweb.storage.local.files import META, FileSpan, os_errors, removing, sibling
from dreamweb.storage.local.locks import LockPool
from dreamweb.storage.local.paths import KeyPaths

RECORD_TYPE = "application/json"


class LocalVideoStore(VideoStore):
    """A ``VideoStore`` rooted at a directory; see the package docstring for the layout."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._paths = KeyPaths(self.root)
        self._locks = LockPool(self.root)

    @classmethod
    def from_url(cls, url: str) -> LocalVideoStore:
        """Build from ``file:///absolute/path`` (``STORAGE_URL``)."""
        parts = urlsplit(url)
        if parts.scheme != "file" or parts.netloc not in {"", "localhost"}:
            raise StorageError("local storage needs a file:///absolute/path URL")
        path = Path(unquote(parts.path))
        if not path.is_absolute():
            raise StorageError("local storage needs an absolute path")
        return cls(path)

    # --- reading ------------------------------------------------------------------------------

    @staticmethod
    def _stored(key: str, meta: dict[str, Any]) -> StoredObject:
        return StoredObject(
            key=key,
            size=meta["size"],
            content_type=meta["content_type"],
            etag=meta["md5"],
            last_modified=datetime.fromisoformat(meta["modified"]),
            generation=str(meta["generation"]),
        )

    def stat(self, key: str) -> StoredObject:
        """Metadata of ``key`` from its pointer file. Raises ``ObjectNotFoundError``."""
        meta = files.read_meta(self._paths.base(key))
        if meta is None:
            raise ObjectNotFoundError()
        return self._stored(key, meta)

    def exists(self, key: str) -> bool:
        """Whether a committed object is stored under ``key``."""
        return _exists_at(self._paths.base(key))

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream bytes ``start``..``end`` (inclusive, clipped to the object) after a seek.

        The file is opened before this returns, so a missing key raises ``ObjectNotFoundError``
        here rather than on the first ``next()``.
        """
        if start < 0 or (end is not None and end < 0):
            raise ValueError("byte positions must be non-negative")
        meta, handle = files.open_current(self._paths.base(key))
        stop = meta["size"] if end is None else min(end + 1, meta["size"])
        return FileSpan(handle, start, stop)

    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix``, sorted; only the prefix's directory is walked."""
        return iter(self._paths.keys(prefix))

    def list_objects(self, prefix: str) -> Iterator[ListedObject]:
        """``list`` with each key's last write time (its pointer file's mtime: the commit) and
        generation (from that pointer, a few bytes; never the object itself)."""
        for key in self.list(prefix):
            try:
                with sibling(self._paths.base(key), META).open("rb") as pointer:
                    updated = os.fstat(pointer.fileno()).st_mtime
                    meta = json.loads(pointer.read())
            except FileNotFoundError:
                continue  # deleted since the walk
            except OSError as error:
                raise StorageError() from error
            yield ListedObject(key=key, updated=updated, generation=str(meta["generation"]))

    def get_record(self, key: str) -> Record | None:
        """The JSON record under ``key`` and its generation, or ``None``."""
        try:
            meta, handle = files.open_current(self._paths.base(key))
        except ObjectNotFoundError:
            return None
        with handle:
            data = json.loads(handle.read())
        return Record(data=data, generation=str(meta["generation"]))

    # --- writing ------------------------------------------------------------------------------

    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        content_type: str,
        size: int | None = None,
        if_absent: bool = True,
    ) -> StoredObject:
        """Stream ``chunks`` to a temp file, verify length, then commit atomically.

        ``if_absent`` checks first (so a lost race costs no streaming) and commits with
        ``os.link``, which is the race-free guarantee.
        """
        base = self._paths.base(key)
        if if_absent and _exists_at(base):
            raise PreconditionFailedError()
        with os_errors():
            base.parent.mkdir(parents=True, exist_ok=True)
        temp = files.temp_path(base)
        with removing(temp):
            md5, written = files.write_file(temp, chunks, size)
            with os_errors(), self._locks.locked(base):
                meta = files.commit(base, temp, content_type, md5, written, if_absent)
        return self._stored(key, meta)

    def put_record(self, key: str, data: dict[str, Any], *, generation: str | None) -> Record:
        """Compare-and-set ``data`` as JSON under the key's lock.

        ``generation=None`` creates only; otherwise the stored generation must equal it.
        """
        base = self._paths.base(key)
        payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        temp = files.temp_path(base)
        with os_errors(), removing(temp):
            base.parent.mkdir(parents=True, exist_ok=True)
            with self._locks.locked(base):
                current = files.read_meta(base)
                if (current is None) != (generation is None) or (
                    current is not None and str(current["generation"]) != generation
                ):
                    raise PreconditionFailedError()
                md5, written = files.write_file(temp, [payload], len(payload))
                meta = files.commit(base, temp, RECORD_TYPE, md5, written, generation is None)
        return Record(data=json.loads(payload), generation=str(meta["generation"]))

    def delete(self, key: str, *, generation: str | None = None) -> bool:
        """Unpublish ``key`` (pointer first, so readers stop finding it), then drop its data.

        With ``generation``, only if that is still the published version (checked under the
        key's lock, like a record compare-and-set).
        """
        base = self._paths.base(key)
        if not base.parent.is_dir():
            return False
        with os_errors(), self._locks.locked(base):
            meta = files.read_meta(base)
            if meta is None:
                return False
            if generation is not None and str(meta["generation"]) != generation:
                return False
            sibling(base, META).unlink()
            files.fsync_dir(base.parent)
            sibling(base, f"@{meta['generation']}").unlink(missing_ok=True)
        return True

    def remove_debris(self, older_than: float) -> int:
        """Delete what killed writers left (see ``debris.remove_stale_files``)."""
        return remove_stale_files(self.root, older_than)


def _exists_at(base: Path) -> bool:
    return sibling(base, META).is_file()
