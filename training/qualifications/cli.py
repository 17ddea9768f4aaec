"""flask qualifications remind-expiring: renewal reminders 90, 30 and 7 days
before a grant lapses (run it daily from cron or a scheduler; each reminder goes once)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

qualifications_cli = AppGroup("qualifications", help="Qualifications: renewal reminders.")


@qualifications_cli.command("remind-expiring")
@click.option("--today", default=None, help="Pretend today is this date (YYYY-MM-DD); default today in ORG_TIMEZONE.")
def remind_expiring(today):
    """E-mail each person, and the admins, about grants that lapse in 90, 30 or 7 days (once each)."""
    from ..errors import DomainError
    from ..urls import require_public_base_url
    from . import services

    require_public_base_url()  # the reminders carry links
    try:
        sent = services.send_renewal_reminders(None, services.parse_date(today, "today") if today else None)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Sent {sent} qualification reminders." if sent else "No qualification needs a reminder.")
