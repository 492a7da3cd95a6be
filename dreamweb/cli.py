"""Command-line entry points: ``flask --app dreamweb sweep``, ``check`` and ``usage``."""

from __future__ import annotations

import logging
import time

import click
from flask import Flask
from flask.cli import with_appcontext

from dreamweb.budget import Usage, seconds_to_midnight, utc_day
from dreamweb.errors import ConfigError, DreamwebError, StorageError
from dreamweb.jobs import Sweeper
from dreamweb.services import services
from dreamweb.storage import layout

logger = logging.getLogger("dreamweb.sweep")


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
        try:
            report = Sweeper(services().inline_jobs()).sweep()
        except Exception as error:
            # A worker loop must outlive a bad sweep (storage hiccup, store not there yet):
            # the Procfile's worker would otherwise end with it. Only a bug earns a traceback.
            if isinstance(error, (DreamwebError, ConfigError, OSError)):
                logger.warning("sweep failed", extra={"error": type(error).__name__})
            else:
                logger.exception("sweep failed")
            click.echo(f"sweep failed: {_check_failure(error)}", err=True)
            if not loop:
                raise click.exceptions.Exit(1) from None
        else:
            click.echo(
                f"swept {report.examined} unfinished job(s): {report.stored} stored, "
                f"{report.failed} failed, {report.errors} error(s)"
            )
        if not loop:
            return
        time.sleep(interval)


# The check's probe object: written, read back and deleted on every release.
CHECK_KEY = "checks/storage-check"
CHECK_BYTES = b"dreamweb storage check\n"


@click.command("check")
@with_appcontext
def check_command() -> None:
    """Release-phase check: configuration parsed (the factory did that) and storage usable.

    Lists job records (the bucket or folder exists and can be read), then writes, reads back
    and deletes a small probe object (it takes writes, which every request that creates a job
    needs). A failure is one line on stderr and exit status 1, so a release with a misnamed
    bucket stops before it serves traffic.
    """
    try:
        store = services().store
        next(iter(store.list("jobs/")), None)
        store.put_stream(
            CHECK_KEY,
            [CHECK_BYTES],
            content_type="text/plain",
            size=len(CHECK_BYTES),
            if_absent=False,  # concurrent releases may both write it; the last one wins
        )
        if b"".join(store.open_range(CHECK_KEY)) != CHECK_BYTES:
            raise StorageError("the probe object read back different bytes")
        store.delete(CHECK_KEY)
    except (DreamwebError, ConfigError, OSError) as error:
        click.echo(f"dreamweb: storage check failed: {_check_failure(error)}", err=True)
        raise click.exceptions.Exit(1) from None
    click.echo("configuration ok; storage reachable")


def _check_failure(error: Exception) -> str:
    """One line saying why the check failed, for an operator (not a client) to read."""
    reason = str(error)
    # A bare "Video storage is unavailable" says nothing; what the store ran into does.
    if isinstance(error, DreamwebError) and reason == error.default_message:
        cause = error.__cause__ or error.__context__
        if cause is not None:
            reason += f" ({type(cause).__name__}: {cause})"
    reason = " ".join(reason.split())  # one line, whatever the cause's message holds
    return reason if len(reason) <= 300 else reason[:297] + "..."


@click.command("usage")
@with_appcontext
def usage_command() -> None:
    """Today's video seconds used against DAILY_VIDEO_SECONDS_BUDGET, and the cost estimate."""
    now = time.time()
    usage = services().budget.usage(utc_day(now))
    click.echo(usage_line(usage, now))
    costs = provider_costs(usage.day)
    if costs:
        click.echo(
            f"cost estimate: ${sum(costs):.2f} (from {len(costs)} job(s) the provider priced)"
        )


def provider_costs(day: str) -> list[float]:
    """Prices (USD) the provider reported for jobs created on ``day`` (reads every record)."""
    store, costs = services().store, []
    for key in store.list(layout.JOBS):
        record = store.get_record(key)
        if record is None or record.data.get("cost") is None:
            continue
        if utc_day(record.data.get("created_at", 0)) == day:
            costs.append(float(record.data["cost"]))
    return costs


def usage_line(usage: Usage, now: float) -> str:
    """``2026-12-01 UTC: 16 of 16 video seconds used (100%) ...`` for one day's ``Usage``."""
    if usage.budget is None:
        return f"{usage.day} UTC: no DAILY_VIDEO_SECONDS_BUDGET set (unlimited; not counted)"
    percent = round(100 * usage.used / usage.budget)
    left = max(0, usage.budget - usage.used)
    resets = round(seconds_to_midnight(now) / 60)
    return (
        f"{usage.day} UTC: {usage.used} of {usage.budget} video seconds used ({percent}%), "
        f"{left} left; resets in {resets // 60} h {resets % 60:02d} min"
    )


def init_app(app: Flask) -> None:
    """Register the commands on ``app.cli``."""
    app.cli.add_command(sweep_command)
    app.cli.add_command(check_command)
    app.cli.add_command(usage_command)
