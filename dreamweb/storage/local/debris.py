"""What killed writers leave in the local store, and its removal (``remove_debris``).

The one place that knows every kind of leftover: ``@tmp-`` files (``files.temp_path``) of a
writer that died mid-copy, and the per-key ``@lock`` files of older versions (the lock pool in
``locks`` replaced them and is never swept).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from dreamweb.storage.local.files import TEMP
from dreamweb.storage.local.locks import LOCKS_FOLDER

LEGACY_LOCK = "@lock"


def remove_stale_files(root: Path, older_than: float) -> int:
    """Delete temporary files under ``root`` not modified for ``older_than`` seconds (their
    writer died: live writers finish or give up within the ingest lease) and legacy ``@lock``
    files; return how many were removed."""
    cutoff = time.time() - older_than
    removed = 0
    for directory, dirs, files in os.walk(root):
        dirs[:] = [name for name in dirs if name != LOCKS_FOLDER]
        for name in files:
            path = Path(directory, name)
            stale_temp = name.startswith(".") and TEMP in name and _modified(path) < cutoff
            if stale_temp or name.endswith(LEGACY_LOCK):
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def _modified(path: Path) -> float:
    """``path``'s modification time; now when it vanished meanwhile (nothing to remove)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()
