"""Keys to paths and back for the local store, never leaving its root (even through symlinks)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from dreamweb.errors import StorageError
from dreamweb.storage.base import check_key
from dreamweb.storage.local.files import META


class KeyPaths:
    """Maps keys to base paths under ``root`` and walks directories back to keys."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Resolved, checked folders by key prefix ("jobs", "videos"); see ``_folder``.
        self._folders: dict[str, Path] = {}

    def base(self, key: str) -> Path:
        """The base path of ``key`` (no suffix); refuses anything that would leave the root.

        ``check_key`` already rules out ``..``, absolute paths and separators in the file name,
        so only the folder can lead elsewhere (through a symlink); it is resolved and checked
        by ``_folder``. The name itself is never opened, only ``name@…`` siblings.
        """
        folder, _, name = check_key(key).rpartition("/")
        return self._folder(folder, key) / name

    def _folder(self, folder: str, key: str) -> Path:
        """``root/folder`` with symlinks resolved, refused if it leaves the root.

        A status poll would otherwise pay a ``realpath`` (several syscalls) per call. Only
        existing directories are cached: one the store has yet to create is checked again
        next time, so a link planted before that is still caught.
        """
        cached = self._folders.get(folder)
        if cached is not None:
            return cached
        path = (self.root / folder).resolve()
        # resolve() follows symlinks, so a planted link cannot point the store elsewhere.
        if not path.is_relative_to(self.root) or path == self.root:
            raise StorageError(f"unsafe storage key: {key!r}")
        if path.is_dir():
            self._folders[folder] = path
        return path

    def keys(self, prefix: str) -> list[str]:
        """Keys starting with ``prefix``, sorted; only the prefix's directory is walked."""
        if ".." in prefix or prefix.startswith("/") or "\\" in prefix or "\0" in prefix:
            raise StorageError(f"unsafe storage prefix: {prefix!r}")
        top = (self.root / prefix.rpartition("/")[0]).resolve()
        if not top.is_relative_to(self.root) or not top.is_dir():
            return []
        return sorted(key for key in self._walk(top) if key.startswith(prefix))

    def _walk(self, top: Path) -> Iterator[str]:
        for directory, dirs, files in os.walk(top):
            dirs[:] = [name for name in dirs if not name.startswith(".")]
            relative = Path(directory).relative_to(self.root)
            for name in files:
                if name.endswith(META) and not name.startswith("."):
                    yield (relative / name.removesuffix(META)).as_posix()
