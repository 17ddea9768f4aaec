"""flask enrolment ...: reminders before the first meeting (run it from cron
or a scheduler, e.g. hourly: each run is reminded once)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

enrolment_cli = AppGroup("enrolment", help="Enrolment: reminders, seat offers.")


@enrolment_cli.command("remind")
@click.option(
    "--hours",
    default=48,
    show_default=True,
    type=click.IntRange(1, 24 * 30),
    help="Remind runs whose first meeting starts within this many hours.",
)
@click.option("--background", is_flag=True, help="Queue the work as a background job and return at once.")
def remind(hours, background):
    """E-mail every confirmed trainee of runs that start soon (once per run)."""
    from .. import jobs
    from ..urls import require_public_base_url
    from . import services

    require_public_base_url()  # the e-mails link to the course and the trainee's overview
    if background:
        job = jobs.submit("send_reminders", hours_before=hours)
        click.echo(f"Queued job {job.id}.")
        return
    result = services.send_reminders(hours)
    if not result:
        click.echo("No run needs a reminder.")
    for run_id, n in result.items():
        click.echo(f"Run {run_id}: reminding {n} trainees.")


@enrolment_cli.command("expire-offers")
def expire_offers():
    """End seat offers whose time is up and offer each seat to the next in line
    (run it every few minutes or hourly; it is idempotent)."""
    from ..urls import require_public_base_url
    from . import offers

    require_public_base_url()  # the e-mails link to the offer page
    n = offers.expire_offers()
    click.echo(f"{n} offers expired." if n else "No offer has expired.")
