"""How a stored video reaches a client: through dreamweb (range-served), or signed storage.

``VIDEO_DELIVERY=proxy`` streams the bytes through the app; ``signed-url`` hands out short-lived
V4 signed GCS URLs instead, so large deployments offload the bandwidth. The API's download and
the player's inline source differ only in ``Content-Disposition``. How the bytes are served
(ranges, conditional requests, headers) is ``dreamweb.delivery.ranges``.
"""

from __future__ import annotations

import flask
from flask import Response, current_app, url_for

from dreamweb.delivery.ranges import send_stored_object
from dreamweb.services import services
from dreamweb.storage.base import VideoStore
from dreamweb.storage.layout import video_key
from dreamweb.urls import external_url


def video_download_name(job_id: str) -> str:
    """The file name a saved video gets: ``dream-<jobId>.mp4``."""
    return f"dream-{job_id}.mp4"


def _signed_url_mode() -> bool:
    return current_app.config["VIDEO_DELIVERY"] == "signed-url"


def video_url(job_id: str, *, inline: bool) -> str:
    """The video's URL.

    The player (``inline``) always gets our own route: in signed-url mode that route
    redirects each request to a freshly signed URL, so a page left open longer than a
    signature lives can still seek and replay. API clients get the signed URL itself in
    signed-url mode, else the absolute attachment download.
    """
    if inline:
        return url_for("web.dream_video", job_id=job_id)
    if _signed_url_mode():
        return services().store.signed_url(
            video_key(job_id),
            seconds=current_app.config["SIGNED_URL_SECONDS"],
            download_name=video_download_name(job_id),
            inline=False,
        )
    return external_url("api.get_video", job_id=job_id)


def video_response(job_id: str, *, inline: bool) -> Response:
    """The stored video as a response: a 302 to a signed URL, or the range-served bytes.

    Raises ``ObjectNotFoundError`` when no video is stored for ``job_id``.
    """
    key, name = video_key(job_id), video_download_name(job_id)
    store = services().store
    if _signed_url_mode():
        seconds = current_app.config["SIGNED_URL_SECONDS"]
        return signed_redirect(store, key, seconds=seconds, download_name=name, inline=inline)
    return send_stored_object(store, key, download_name=name, as_attachment=not inline)


def signed_redirect(
    store: VideoStore,
    key: str,
    *,
    seconds: int,
    download_name: str | None = None,
    inline: bool = False,
) -> Response:
    """A 302 to a signed URL for ``key`` (``VIDEO_DELIVERY=signed-url``).

    Checks the object exists first, so a missing video is our 404 rather than a storage error
    page; ``Cache-Control: no-store`` because the target expires.
    """
    store.stat(key)
    url = store.signed_url(key, seconds=seconds, download_name=download_name, inline=inline)
    response = flask.redirect(url, code=302)
    response.headers["Cache-Control"] = "no-store"
    return response
