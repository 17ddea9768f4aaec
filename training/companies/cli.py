"""flask companies ...: the scheduled tasks of member companies (each idempotent)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

companies_cli = AppGroup("companies", help="Member companies: reserved seats and reports.")


@companies_cli.command("release-seats")
def release_seats():
    """Release reserved seats whose release date has passed (run every few minutes)."""
    from .services import release_due

    released = release_due()
    click.echo(f"{len(released)} allocations released, {sum(released.values())} seats back to the public.")


@companies_cli.command("warn-release")
@click.option("--hours", default=72, show_default=True, help="Warn this long before the release.")
def warn_release(hours):
    """Tell coordinators once that unused reserved seats will soon be released (run hourly)."""
    from .services import warn_before_release

    warned = warn_before_release(hours=hours)
    click.echo(f"{len(warned)} allocations, {sum(warned.values())} coordinators told.")


@companies_cli.command("send-reports")
def send_reports():
    """Send last month's company report to every coordinator once (run daily)."""
    from .reports import send_monthly_reports

    sent = send_monthly_reports()
    click.echo(f"{sent} report e-mails sent.")
