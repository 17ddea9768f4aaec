"""The platform's own recurring work, run by the scheduler (training/scheduler.py).

Each task is idempotent (runs are reminded once, certificates issued once);
the matching CLI commands stay for cron users. Other domains register theirs
with ``jobs.recurring`` in their own modules.
"""

from __future__ import annotations

from datetime import timedelta

from .jobs import recurring

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@recurring("enrolment.reminders", HOUR)
def enrolment_reminders():
    from .enrolment.services import send_reminders

    return {str(k): v for k, v in send_reminders(48).items()}


@recurring("enrolment.expire_offers", timedelta(minutes=15))
def enrolment_expire_offers():
    from .enrolment.offers import expire_offers

    return {"expired": expire_offers()}


@recurring("certificates.auto_issue", HOUR)
def certificates_auto_issue():
    from .certificates.services import auto_issue_due

    return {str(k): v for k, v in auto_issue_due().items()}


@recurring("certificates.expiry_reminders", DAY)
def certificates_expiry_reminders():
    from .certificates.services import send_expiry_reminders

    return {"reminded": send_expiry_reminders()}


@recurring("outbox.prune", DAY, run_as_job=False)
def outbox_prune():
    from .outbox import prune

    return {"pruned": prune()}


@recurring("attendance.open_register_reminders", HOUR)
def open_register_reminders():
    from .attendance.registers import remind_open_registers

    return {str(k): v for k, v in remind_open_registers().items()}


@recurring("qualifications.renewal_reminders", DAY)
def qualification_renewal_reminders():
    from .qualifications.services import send_renewal_reminders

    return {"reminded": send_renewal_reminders()}


@recurring("reports.feedback_surveys", HOUR)
def feedback_surveys():
    from .reports.feedback import send_due_surveys

    return {"invited": send_due_surveys()}


@recurring("reports.scheduled_reports", HOUR)
def scheduled_reports():
    from .reports.scheduled import send_scheduled

    return send_scheduled()


@recurring("companies.release_seats", timedelta(minutes=5))
def companies_release_seats():
    from .companies.services import release_due

    return {str(k): v for k, v in release_due().items()}


@recurring("companies.warn_release", HOUR)
def companies_warn_release():
    from .companies.services import warn_before_release

    return {str(k): v for k, v in warn_before_release().items()}


@recurring("companies.monthly_reports", DAY)
def companies_monthly_reports():
    from .companies.reports import send_monthly_reports

    return {"sent": send_monthly_reports()}


@recurring("figures.refresh_summaries", timedelta(minutes=1), run_as_job=False)
def figures_refresh_summaries():
    """The report summaries: the runs that changed, or whose meetings started or ended (a full rebuild daily)."""
    from .figures.summaries import refresh

    return refresh()
