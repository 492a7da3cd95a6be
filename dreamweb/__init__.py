"""dreamweb: type a dream, get a short film."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from dreamweb.config import load_settings, settings_from_environment
from dreamweb.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
APP_LOAD_ERROR = 4  # gunicorn's exit status for "the application could not be loaded"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the dreamweb application.

    ``config=None`` reads the process environment (``dreamweb.config``). Tests pass a mapping
    instead, which is parsed by the same rules and never mixed with the environment. Invalid
    configuration stops startup with one line naming the variable on stderr and exit status 4:
    gunicorn treats a worker that exits with 4 as "app failed to load" and stops, instead of
    respawning workers forever.
    """
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    try:
        settings = settings_from_environment() if config is None else load_settings(config)
    except ConfigError as error:
        print(f"dreamweb: configuration error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(APP_LOAD_ERROR) from None
    app.config.update(settings)
    if config is not None:
        # Flask-level keys a test may inject (TESTING, SERVER_NAME, ...) pass through untouched.
        app.config.update({k: v for k, v in config.items() if k not in settings})
    if not app.config["STORAGE_URL"]:
        app.config["STORAGE_URL"] = (Path(app.instance_path) / "storage").as_uri()

    from dreamweb import (
        api,
        api_clients,
        cli,
        error_handlers,
        extensions,
        logs,
        security,
        services,
        web,
    )

    logs.init_app(app)
    extensions.init_app(app)
    services.init_app(app)
    error_handlers.init_app(app)
    security.init_app(app)
    cli.init_app(app)
    app.register_blueprint(web.bp)
    app.register_blueprint(api.bp)
    # The JSON API is for programs (no cookies, no forms); CSRF protects the HTML forms only.
    extensions.csrf.exempt(api.bp)
    api_clients.init_app(app)  # API tokens and DELETE /api/videos/<jobId> (issue 11)
    return app
