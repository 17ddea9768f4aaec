"""Scheduled reports: subscriptions and their deliveries.

``send_scheduled(now)`` is what cron (or any scheduler) calls, as often as it
likes: for each subscription it delivers the last complete week (Monday to
Sunday) or month in the organisation's time zone, once. A delivery row with a
unique (subscription, period) key is written in the same transaction that
queues the e-mail, so a second run, or two at once, sends nothing more. An
empty report is recorded as skipped and not sent.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from dateutil.relativedelta import relativedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..accounts.models import User
from ..catalogue.models import Course
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..permissions import report_limits
from ..types import org_today, utcnow
from .models import Frequency, ReportDelivery, ReportSubscription

FREQUENCY_LABELS = {Frequency.weekly.value: _l("weekly"), Frequency.monthly.value: _l("monthly")}


def subscriptions() -> list[ReportSubscription]:
    return list(
        db.session.scalars(
            select(ReportSubscription)
            .options(selectinload(ReportSubscription.user), selectinload(ReportSubscription.course))
            .order_by(ReportSubscription.id)
        )
    )


def subscribe(actor: User, email: str, frequency: str, course_id: int | None = None) -> ReportSubscription:
    """An admin subscribes a person allowed to see reports (admin, trainer, coordinator)."""
    from ..audit import record

    if frequency not in FREQUENCY_LABELS:
        raise ValidationFailed(_("Choose weekly or monthly."), fields={"frequency": "unknown"})
    user = db.session.scalar(select(User).where(User.email == (email or "").strip().lower()[:254]))
    if user is None or not user.active:
        raise ValidationFailed(_("No active account has this e-mail address."), fields={"email": "unknown"})
    if report_limits(user) is None:
        raise ValidationFailed(
            _("This person may not see reports (only admins, trainers and coordinators)."),
            fields={"email": "not allowed"},
        )
    if course_id is not None and db.session.get(Course, course_id) is None:
        raise ValidationFailed(_("No such course."), fields={"course_id": "unknown"})
    subscription = ReportSubscription(user_id=user.id, frequency=frequency, course_id=course_id, created_by_id=actor.id)
    db.session.add(subscription)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(
            _(
                "%(email)s already receives the %(frequency)s report.",
                email=user.email,
                frequency=FREQUENCY_LABELS[frequency],
            ),
            code="already_subscribed",
        ) from None
    record(actor, "report.subscribe", user, frequency)
    db.session.commit()
    return subscription


def unsubscribe(actor: User, subscription_id: int) -> None:
    from ..audit import record

    subscription = db.session.get(ReportSubscription, subscription_id)
    if subscription is None:
        raise NotFound(_("No such subscription."))
    record(actor, "report.unsubscribe", subscription.user, subscription.frequency)
    db.session.delete(subscription)
    db.session.commit()


def last_period(frequency: str, today: date) -> tuple[str, date, date]:
    """The last complete week or month before ``today``: (key, first day, last day)."""
    if frequency == Frequency.weekly.value:
        monday = today - timedelta(days=today.weekday() + 7)
        year, week, _day = monday.isocalendar()
        return f"{year}-W{week:02d}", monday, monday + timedelta(days=6)
    first = today.replace(day=1) - relativedelta(months=1)
    return first.strftime("%Y-%m"), first, today.replace(day=1) - timedelta(days=1)


def send_scheduled(now: datetime | None = None) -> dict[str, int]:
    """Deliver every due report once; returns {"sent": n, "skipped": n}."""
    from .. import mail
    from . import exports, services

    now = now or utcnow()
    today = org_today(now)
    result = {"sent": 0, "skipped": 0}
    for subscription_id in list(db.session.scalars(select(ReportSubscription.id).order_by(ReportSubscription.id))):
        subscription = db.session.get(ReportSubscription, subscription_id)
        if subscription is None:
            continue
        user = subscription.user
        if user is None or not user.active or report_limits(user) is None:
            continue
        key, first, last = last_period(subscription.frequency, today)
        if db.session.scalar(
            select(ReportDelivery.id).where(
                ReportDelivery.subscription_id == subscription.id, ReportDelivery.period_key == key
            )
        ):
            continue
        args = {"from": first.isoformat(), "to": last.isoformat()}
        if subscription.course_id:
            args["course_id"] = str(subscription.course_id)
        dashboard = services.dashboard(user, args)
        delivery = ReportDelivery(
            subscription_id=subscription.id, period_key=key, sent=not dashboard.empty, created_at=now
        )
        db.session.add(delivery)
        if not dashboard.empty:
            data = exports.workbook(dashboard)
            mail.queue(
                mail.build(
                    user.email,
                    _l("Training report %(period)s"),
                    "report_scheduled",
                    locale=user.locale,
                    user=user,
                    d=dashboard,
                    period=key,
                    subject_args={"period": key},
                    attachments=[
                        (
                            f"training-report-{key}.xlsx",
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                            data,
                        )
                    ],
                )
            )
        try:
            db.session.commit()
        except IntegrityError:  # another run delivered it at the same moment
            db.session.rollback()
            continue
        result["sent" if delivery.sent else "skipped"] += 1
    return result
