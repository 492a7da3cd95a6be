"""Command-line entry points: ``flask --app dreamweb sweep`` and ``flask --app dreamweb check``."""

from __future__ import annotations

import time

import click
from flask import Flask
from flask.cli import with_appcontext

from dreamweb.services import services


@click.command("sweep")
@with_appcontext
@click.option("--loop", is_flag=True, help="Keep sweeping every --interval seconds.")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between sweeps.")
def sweep_command(loop: bool, interval: float) -> None:
    """Advance every unfinished job and copy finished videos into storage.

    Nothing is lost when nobody polls: run it from the Procfile's ``worker`` (with --loop) or a
    scheduler, at least every few minutes, well inside the provider's one-hour download window.
    """
    while True:
        report = services().inline_jobs().sweep()
        click.echo(
            f"swept {report.examined} unfinished job(s): {report.stored} stored, "
            f"{report.failed} failed, {report.errors} error(s)"
        )
        if not loop:
            return
        time.sleep(interval)


@click.command("check")
@with_appcontext
def check_command() -> None:
    """Release-phase check: configuration parsed (the factory did that) and storage reachable."""
    store = services().store
    next(iter(store.list("jobs/")), None)
    click.echo("configuration ok; storage reachable")


def init_app(app: Flask) -> None:
    """Register the commands on ``app.cli``."""
    app.cli.add_command(sweep_command)
    app.cli.add_command(check_command)
