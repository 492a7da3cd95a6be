"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

from dreamweb import create_app

app = create_app()
