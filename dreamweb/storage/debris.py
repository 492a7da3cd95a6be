"""Crash debris: what the sweeper removes so that killed writers leave nothing behind for good."""

from __future__ import annotations

import logging

from dreamweb.errors import DreamwebError
from dreamweb.storage.base import VideoStore

logger = logging.getLogger("dreamweb.storage")


def remove_debris(store: VideoStore, older_than: float) -> int:
    """``store.remove_debris(older_than)``, logged; a failure is logged and never raised (the
    sweep goes on, and the next pass tries again)."""
    try:
        removed = store.remove_debris(older_than)
    except (OSError, DreamwebError) as error:
        logger.warning("could not remove storage debris", extra={"error": type(error).__name__})
        return 0
    if removed:
        logger.info("removed storage debris", extra={"files": removed})
    return removed
