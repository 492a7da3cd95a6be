"""The JSON API blueprint (``/api``): thin views over ``dreamweb.jobs``."""

from __future__ import annotations

from flask import Blueprint, jsonify

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/health")
def health():
    """Liveness probe for the platform's router."""
    return jsonify(status="ok")
