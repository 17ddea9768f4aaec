"""flask commands: users, demo, data."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from .errors import DomainError
from .extensions import db

users = AppGroup("users", help="Manage user accounts.")
demo = AppGroup("demo", help="Demo data.")


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--role",
    type=click.Choice(["trainee", "trainer", "assessor", "admin", "coordinator"]),
    default="trainee",
    show_default=True,
)
@click.option("--company", "company_code", default=None, help="The member company's code (coordinators, trainees).")
@click.option(
    "--password",
    envvar="USER_PASSWORD",
    default=None,
    help="The password (or the USER_PASSWORD environment variable); asked for when missing and a terminal is attached.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--locale", type=click.Choice(["en", "zh"]), default=None)
def users_create(email, name, role, company_code, password, password_stdin, locale):
    """Create a user account. Non-interactive with --password-stdin or USER_PASSWORD."""
    import sys

    from sqlalchemy import select

    from .accounts.services import create_user
    from .companies.models import Company

    company = None
    if company_code:
        company = db.session.scalar(select(Company).where(Company.code == company_code.strip().upper()))
        if company is None:
            raise click.ClickException(f"No company with code {company_code}.")
    if role == "coordinator" and company is None:
        raise click.ClickException("A coordinator needs --company CODE.")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif password is None:
        if not sys.stdin.isatty():
            raise click.ClickException("No password given: use --password-stdin, USER_PASSWORD or --password.")
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(email=email, name=name, password=password, role=role, locale=locale, commit=False)
        user.company_id = company.id if company else None
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@users.command("token")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="A label for the token.")
def users_token(email, name):
    """Print a new API token for EMAIL on the last line (only its hash is stored)."""
    from .accounts.services import create_token, find_user_by_email

    user = find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No user with e-mail {email}.")
    if not user.active:
        raise click.ClickException(f"{email} is deactivated.")
    token = create_token(user, name)
    click.echo(f"API token for {user.email} ({user.role}); it is shown only once:")
    click.echo(token)


@users.command("list")
def users_list():
    """List accounts."""
    from sqlalchemy import select

    from .accounts.models import User

    for user in db.session.scalars(select(User).order_by(User.id)):
        click.echo(
            f"{user.id:>5}  {user.role:<8} {'active' if user.active else 'inactive':<8} {user.email}  {user.display_name}"
        )


@demo.command("load")
@click.option("--force", is_flag=True, help="Load even when the database already holds courses.")
def demo_load(force):
    """Load a realistic smart-manufacturing demo (skipped when data exists)."""
    from .demo import load_demo

    summary = load_demo(force=force)
    click.echo(summary)


scheduler_cli = AppGroup("scheduler", help="Recurring work inside the deployment (one runner at a time).")
outbox_cli = AppGroup("outbox", help="E-mails and jobs waiting to be delivered.")
jobs_cli = AppGroup("jobs", help="Background jobs.")


@scheduler_cli.command("run")
@click.option(
    "--interval", default=5.0, show_default=True, type=click.FloatRange(0.2, 3600), help="Seconds between two ticks."
)
@click.option("--once", is_flag=True, help="One tick, then exit (for cron).")
def scheduler_run(interval, once):
    """Run the scheduler loop (start it on every machine; one of them leads)."""
    import signal
    import threading

    from flask import current_app

    from . import scheduler

    stop = threading.Event()
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the app behind the proxy, for the thread
    if once:
        scheduler.run_loop(app, interval=interval, stop=stop, max_ticks=1)
        return
    previous = {sig: signal.signal(sig, lambda *_a: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.run_loop(app, interval=interval, stop=stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@scheduler_cli.command("list")
def scheduler_list():
    """The recurring tasks, their interval and last start."""
    from . import scheduler

    for name, task in sorted(scheduler.tasks().items()):
        state = db.session.get(scheduler.ScheduledTask, name)
        last = state.last_started_at.isoformat(timespec="seconds") if state and state.last_started_at else "never"
        click.echo(f"{name:<36} every {task.every}  last started {last}")


@outbox_cli.command("status")
def outbox_status():
    """Pending and failed rows, and the age of the oldest pending one."""
    from . import outbox

    b = outbox.backlog()
    click.echo(f"pending {b['pending']}, failed {b['failed']}, oldest pending {b['oldest_seconds']:.0f} s")


@outbox_cli.command("relay")
def outbox_relay():
    """Deliver what is due now."""
    from . import outbox

    click.echo(str(outbox.relay()))


@outbox_cli.command("retry-failed")
def outbox_retry_failed():
    """Give rows that failed too often another series of tries."""
    from . import outbox

    click.echo(f"{outbox.retry_failed()} rows will be tried again.")


@jobs_cli.command("reap")
def jobs_reap():
    """Hand out again the jobs whose runner died."""
    from . import jobs

    click.echo(str(jobs.reap()))


def register(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(demo)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(jobs_cli)
    from .companies.cli import companies_cli
    from .data import data
    from .enrolment.cli import enrolment_cli

    app.cli.add_command(companies_cli)
    app.cli.add_command(data)
    app.cli.add_command(enrolment_cli)
    from .certificates.cli import signing_cli

    app.cli.add_command(signing_cli)
    from .qualifications.cli import qualifications_cli

    app.cli.add_command(qualifications_cli)
    _refuse_links_without_base(app.cli)


def _refuse_links_without_base(group: click.Group) -> None:
    """A command that would write a link while PUBLIC_BASE_URL is unset (no
    request, so no trusted host) stops with one clear line, not a traceback."""
    import functools

    from .urls import PublicBaseUrlMissing

    for command in group.commands.values():
        if isinstance(command, click.Group):
            _refuse_links_without_base(command)
            continue
        callback = command.callback
        if callback is None or getattr(callback, "_refuses_without_base", False):
            continue

        @functools.wraps(callback)
        def wrapped(*args, __callback=callback, **kwargs):
            try:
                return __callback(*args, **kwargs)
            except PublicBaseUrlMissing as exc:
                raise click.ClickException(str(exc)) from None

        wrapped._refuses_without_base = True  # type: ignore[attr-defined]  # our marker, read back with getattr above
        command.callback = wrapped
