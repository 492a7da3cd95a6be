"""The HTML blueprint: the dream form, a page per dream, and its polling fragment."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("web", __name__)


@bp.get("/")
def index() -> str:
    """The dream form."""
    return render_template("index.html")
