"""The yardstick: the cheapest possible Flask view, served with the same gunicorn settings."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index() -> str:
    """A constant."""
    return "ok"
