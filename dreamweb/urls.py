"""Absolute URLs this service hands out (``Location``, ``videoUrl``).

Built from ``PUBLIC_URL`` when it is set, never from a client's ``Host`` header in production:
behind a router that passes ``Host`` through, anyone could choose where our links point.
"""

from __future__ import annotations

from flask import current_app, url_for


def external_url(endpoint: str, **values: object) -> str:
    """An absolute URL for ``endpoint``: from ``PUBLIC_URL`` when set.

    Without ``PUBLIC_URL`` the URL stays relative in production (a client resolves it against
    the URL it called); elsewhere Flask builds it from the request, as usual.
    """
    public = current_app.config.get("PUBLIC_URL")
    if public:
        return public.rstrip("/") + url_for(endpoint, **values)
    if current_app.config["DREAMWEB_ENV"] == "production":
        return url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)
