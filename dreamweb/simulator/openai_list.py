"""``GET /v1/videos`` of the OpenAI dialect: cursor pagination (``after``, ``limit``, ``order``)
with the API's own error envelopes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dreamweb.simulator import openai_envelopes as envelopes
from dreamweb.simulator.openai_envelopes import ApiError

if TYPE_CHECKING:  # the dialect imports this module: the type only, no cycle at run time
    from dreamweb.simulator.openai_videos import OpenAIVideos

DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100


def list_videos(dialect: OpenAIVideos, query: Mapping[str, str]) -> dict[str, Any]:
    """One page of the dialect's live videos, newest first unless ``order=asc``."""
    limit = list_limit(query.get("limit"))
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise envelopes.invalid_value("order", order, ("asc", "desc"))
    jobs = dialect.core.jobs_of(dialect.name)
    if order == "desc":
        jobs.reverse()
    if after := query.get("after"):
        # Deleted jobs stay in the table as tombstones, so their ids remain cursors.
        cursor = next((job for job in jobs if job.id == after), None)
        if cursor is None:
            raise ApiError(
                400,
                f"Invalid value for 'after': no video with id '{after}'.",
                param="after",
                code="invalid_value",
            )
        if order == "desc":
            jobs = [job for job in jobs if job.sequence < cursor.sequence]
        else:
            jobs = [job for job in jobs if job.sequence > cursor.sequence]
    live = [job for job in jobs if not job.deleted]
    page = live[:limit]
    for job in page:
        dialect.core.advance(job)
    with dialect.core.lock:
        data = [dialect.describe(job) for job in page]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(live) > limit,
    }


def list_limit(text: str | None) -> int:
    """The ``limit`` query parameter (default 20, 0..100) or the API's 400 envelope."""
    if text is None:
        return DEFAULT_LIST_LIMIT
    try:
        limit = int(text)
    except ValueError:
        raise envelopes.invalid_type("limit", text, "an integer") from None
    if not 0 <= limit <= MAX_LIST_LIMIT:
        bound = "below minimum" if limit < 0 else "above maximum"
        expected = ">= 0" if limit < 0 else f"<= {MAX_LIST_LIMIT}"
        raise ApiError(
            400,
            f"Invalid 'limit': integer {bound} value. Expected a value {expected}, but "
            f"got {limit} instead.",
            param="limit",
            code="integer_below_min_value" if limit < 0 else "integer_above_max_value",
        )
    return limit
