"""The video store interface shared by the GCS and local adapters.

Keys are produced by ``dreamweb.storage.layout`` only; adapters still refuse keys that do not
match ``SAFE_KEY`` so that no caller can turn user input into a path or object name unchecked.
Adapters raise the ``StorageError`` family from ``dreamweb.errors``.
"""

from __future__ import annotations

import contextlib
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from dreamweb.errors import StorageError

# Bounded chunks both ways: a video never sits whole in memory.
CHUNK_SIZE = 1024 * 1024
SAFE_KEY = re.compile(r"^[a-z]+(/[A-Za-z0-9][A-Za-z0-9_.-]{0,127})+$")


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe object key, else raise ``StorageError``."""
    if not SAFE_KEY.match(key) or ".." in key:
        raise StorageError(f"unsafe storage key: {key!r}")
    return key


@dataclass(frozen=True)
class StoredObject:
    """What ``stat`` knows of an object. ``etag`` is strong and unquoted."""

    key: str
    size: int
    content_type: str
    etag: str
    last_modified: datetime
    generation: str


@dataclass(frozen=True)
class ListedObject:
    """One object as a listing reports it: its key, when it was last written (Unix seconds)
    and the generation to delete conditionally against."""

    key: str
    updated: float
    generation: str


@dataclass(frozen=True)
class Record:
    """A small JSON document and the generation token to compare-and-set against."""

    data: dict[str, Any]
    generation: str


class _Closable(Protocol):
    def close(self) -> None: ...


R = TypeVar("R", bound=_Closable)


class ChunkStream(ABC, Generic[R]):
    """What ``open_range`` returns: iterates an open resource (a file, an HTTP response) in
    chunks and releases it on ``close``, at the end, when a read fails, or when dropped.

    A class rather than a generator: closing a generator that never started skips its
    ``finally``, which leaked the resource when a client went away before the first chunk.
    """

    def __init__(self, resource: R) -> None:
        self._resource: R | None = resource

    def __iter__(self) -> Iterator[bytes]:
        return self

    @abstractmethod
    def __next__(self) -> bytes:
        """The next chunk; reads run inside ``_closing_on_error``."""

    def close(self) -> None:
        """Release the resource; safe to call twice."""
        resource, self._resource = self._resource, None
        if resource is not None:
            resource.close()

    @contextlib.contextmanager
    def _closing_on_error(self) -> Iterator[None]:
        """Release the resource if the block raises, so a failed read does not hold it."""
        try:
            yield
        except BaseException:
            self.close()
            raise

    def __del__(self) -> None:
        # Dropped without close() (a test client's unread response): release like a generator.
        self.close()


@dataclass(frozen=True)
class GcsObject:
    """A ``gs://bucket/name`` URI taken apart."""

    bucket: str
    name: str

    @classmethod
    def parse(cls, uri: str) -> GcsObject:
        """``gs://bucket/path/to/object`` → ``GcsObject``; ``ValueError`` for anything else."""
        parts = urlsplit(uri)
        name = parts.path.lstrip("/")
        if parts.scheme != "gs" or not parts.netloc or not name or parts.query:
            raise ValueError("not a gs://bucket/object URI")
        return cls(parts.netloc, name)

    @property
    def uri(self) -> str:
        """Back to ``gs://bucket/name``."""
        return f"gs://{self.bucket}/{self.name}"


class VideoStore(ABC):
    """Where finished videos, thumbnails and job records live."""

    @abstractmethod
    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        content_type: str,
        size: int | None = None,
        if_absent: bool = True,
    ) -> StoredObject:
        """Write ``chunks`` under ``key``, visible only once complete and verified.

        The adapter checksums the bytes as they stream and checks the stored object against it
        (and against ``size`` when given); on any mismatch or error nothing stays visible and
        ``IntegrityError``/``StorageError`` is raised. ``if_absent`` makes the write create-only
        (``PreconditionFailedError`` when the key exists).
        """

    @abstractmethod
    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream bytes ``start``..``end`` inclusive (``end=None``: to the end) without reading
        what lies before ``start``. Raises ``ObjectNotFoundError``."""

    @abstractmethod
    def stat(self, key: str) -> StoredObject:
        """Metadata of ``key``. Raises ``ObjectNotFoundError``."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abstractmethod
    def delete(self, key: str, *, generation: str | None = None) -> bool:
        """Remove ``key``; ``False`` when it was not there.

        With ``generation``, only that version is removed: ``False`` when the key now holds
        another one (someone replaced it since we read it).
        """

    @abstractmethod
    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix``, in lexical order."""

    @abstractmethod
    def list_objects(self, prefix: str) -> Iterator[ListedObject]:
        """Like ``list``, with each object's last write time and generation, as cheaply as the
        listing gives them (GCS: the listing itself; no read of each object)."""

    @abstractmethod
    def get_record(self, key: str) -> Record | None:
        """The JSON record under ``key`` with its generation, or ``None``."""

    @abstractmethod
    def put_record(self, key: str, data: dict[str, Any], *, generation: str | None) -> Record:
        """Compare-and-set a JSON record.

        ``generation=None`` creates only (fails when the record exists); otherwise the write
        succeeds only if the stored generation still equals ``generation``. Losing raises
        ``PreconditionFailedError``.
        """

    def can_copy_from(self, uri: str) -> bool:
        """Whether ``copy_from`` can take ``uri`` server-side (an object in this store's own
        bucket); stores that cannot copy inside their backend answer ``False``."""
        return False

    def copy_from(
        self, uri: str, key: str, *, on_progress: Callable[[], None] | None = None
    ) -> StoredObject:
        """Copy the object at ``uri`` to ``key`` without its bytes leaving the backend:
        create-only (``PreconditionFailedError``), verified against the source's size and
        checksums (``IntegrityError``), ``ObjectNotFoundError`` when the source is gone.
        ``on_progress`` runs between the backend's copy steps (to renew a lease)."""
        raise StorageError("this store cannot copy objects server-side")

    def delete_uri(self, uri: str) -> bool:
        """Delete a source object ``copy_from`` took (``False`` when already gone)."""
        raise StorageError("this store cannot delete objects outside its keys")

    def remove_debris(self, older_than: float) -> int:
        """Remove what crashed writers left behind more than ``older_than`` seconds ago; how
        many files went. Nothing to do by default: an interrupted GCS upload never becomes an
        object (GCS discards unfinished resumable uploads after a week)."""
        return 0

    def signed_url(
        self, key: str, *, seconds: int, download_name: str | None = None, inline: bool = True
    ) -> str:
        """A short-lived URL a browser can GET directly (GCS only)."""
        raise StorageError("signed URLs need a gs:// store")
