"""Enrolment notifications: what each e-mail to a trainee says and how it
is queued.

One message is queued in the transaction that changes the enrolment and sent
after it commits (training.mail); a rollback drops it. The confirmation,
waitlist and approval e-mail of ``enrol`` is written to the outbox in the
enrolment's transaction and rendered by the outbox relay (``render_enrolment``,
registered with ``mail.renderer``), not in the request. Many at once (a
cancelled run, a bulk import, reminders) are rendered and sent by a background
job (``notify_job``) once the transaction has committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction, joinedload

from .. import jobs, mail
from ..catalogue.calendar import run_calendar, run_fingerprint
from ..catalogue.models import Run
from ..catalogue.seats import waitlist_positions
from ..catalogue.services import cancel_cutoff
from ..content_i18n import localized, normalise_lang
from ..extensions import db
from ..lru import LRU
from ..urls import public_base_url
from .models import Enrolment, EnrolmentStatus

S = EnrolmentStatus

# Mail subjects: marked for translation here, rendered in the recipient's language by mail.build.
SUBJECTS = {
    "enrol_confirmed": _l("Your place is confirmed: %(course)s"),
    "enrol_waitlisted": _l("You are on the waitlist: %(course)s"),
    "enrol_pending": _l("Your enrolment request was received: %(course)s"),
    "enrol_promoted": _l("A place became free, you are confirmed: %(course)s"),
    "enrol_offered": _l("A place is offered to you: %(course)s"),
    "enrol_offer_expired": _l("The offered place has passed on: %(course)s"),
    "enrol_approved": _l("Your enrolment request was approved: %(course)s"),
    "enrol_rejected": _l("Your enrolment request was declined: %(course)s"),
    "enrol_cancelled": _l("Your enrolment was cancelled: %(course)s"),
    "run_cancelled": _l("Course run cancelled: %(course)s"),
    "reminder": _l("Reminder: %(course)s starts soon"),
}
# Which template renders each notification (approval reuses the confirmation/waitlist bodies).
TEMPLATES = {"enrol_approved": "enrol_confirmed"}


def run_moment(moment: datetime, run: Run) -> str:
    """A moment as trainees of the run read it: in the run's time zone, named."""
    return f"{mail.local_time(moment, run.tz)} ({run.timezone})"


_RUN_TEXTS: LRU[str] = LRU(256)


def run_text(run: Run, locale: str) -> str:
    """The run's part of its e-mails (``templates/email/_run.txt``: course, dates, place, meetings) in
    ``locale``, rendered once per change of the run and kept per process, as its calendar is: the key is
    every column of the run, its course and its meetings (``run_fingerprint``), so a change to any of
    them renders it again and an e-mail never shows an old one."""
    key = (locale, run_fingerprint(run, "", locale))
    text = _RUN_TEXTS.get(key)
    if text is not None:
        return text
    with force_locale(locale):
        text = current_app.jinja_env.get_template("email/_run.txt").render(
            run=run, course=run.course, local_time=mail.local_time, local_date=mail.local_date
        )
    _RUN_TEXTS.put(key, text)
    return text


def message(
    enrolment: Enrolment,
    kind: str,
    *,
    calendar: bytes | None = None,
    base_url: str | None = None,
    run_part: str | None = None,
    **extra: Any,
) -> EmailMessage:
    """The e-mail ``kind`` about ``enrolment``; ``run_part`` is ``run_text(run, locale)`` when the
    caller has it already (the relay's batch: once per run and language)."""
    user, run = enrolment.user, enrolment.run
    locale = user.locale or "en"
    attachments: list[tuple[str, str, bytes]] = []
    if calendar is not None:
        attachments.append(("course.ics", "text/calendar", calendar))
    subject = SUBJECTS[kind]
    return mail.build(
        user.email,
        subject,
        TEMPLATES.get(kind, kind),
        locale=user.locale,
        attachments=attachments,
        subject_args={"course": localized(run.course, "title", locale)},
        user=user,
        run=run,
        run_text=run_part if run_part is not None else run_text(run, locale),
        course=run.course,
        enrolment=enrolment,
        kind=kind,
        base_url=base_url or public_base_url(),
        cutoff=cancel_cutoff(run),
        **extra,
    )


def notify(enrolment: Enrolment, kind: str, *, with_calendar: bool = False, **extra: Any) -> None:
    """Queue one notification in the current transaction (sent after commit)."""
    calendar = run_calendar(enrolment.run, public_base_url(), enrolment.user.locale or "en") if with_calendar else None
    mail.queue(message(enrolment, kind, calendar=calendar, **extra))


def notify_later(enrolment_ids: list[int], kind: str, **extra: Any) -> None:
    """Many notifications: rendered and sent by a background job once the
    current transaction has committed (whoever commits it), dropped if it
    rolls back."""
    if enrolment_ids:
        db.session.info.setdefault(_BULK_KEY, []).append(
            {"enrolment_ids": list(enrolment_ids), "kind": kind, "extra": extra}
        )


_BULK_KEY = "enrolment_bulk_notify"
_BULK_READY = "enrolment_bulk_notify_committed"


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    committed = session.info.pop(_BULK_KEY, None)
    if committed:
        session.info.setdefault(_BULK_READY, []).extend(committed)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # Only once the committed transaction has given its connection back to the pool
    # (fire_and_forget writes its outbox row on a connection of its own).
    if transaction.parent is None:
        for item in session.info.pop(_BULK_READY, None) or []:
            jobs.fire_and_forget("enrolment_notify", **item)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_BULK_KEY, None)


@jobs.job("enrolment_notify")
def notify_job(
    progress: jobs.Progress, enrolment_ids: list[int], kind: str, extra: dict[str, Any] | None = None
) -> int:
    """Render and send one notification per enrolment, in batches. Uses a
    session of its own: it may run inside the commit that queued it."""
    extra = extra or {}
    calendars: dict[tuple[int, str], bytes] = {}
    sent = 0
    batch_size = 200
    total = len(enrolment_ids)
    with Session(db.engine) as session:
        for start in range(0, total, batch_size):
            ids = enrolment_ids[start : start + batch_size]
            rows = _enrolments_for_mail(session, ids, with_trainers=True)  # reminders name the trainers
            positions: dict[int, int] = {}
            if kind == "enrol_waitlisted":
                positions = waitlist_positions({e.run_id for e in rows}, session=session)
            messages: list[bytes] = []
            for enrolment in rows:
                calendar = None
                if kind in CALENDAR_KINDS and enrolment.status == S.confirmed.value:
                    # One calendar per run and language: course titles and rooms are in the reader's.
                    key = (enrolment.run_id, normalise_lang(enrolment.user.locale))
                    if key not in calendars:
                        calendars[key] = run_calendar(enrolment.run, public_base_url(), key[1])
                    calendar = calendars[key]
                messages.append(
                    message(
                        enrolment, kind, calendar=calendar, position=positions.get(enrolment.id), **extra
                    ).as_bytes()
                )
            mail.send_messages(lambda *_a: None, messages)
            sent += len(messages)
            progress(sent, total)
        session.rollback()
    return sent


def _enrolments_for_mail(session: Session, ids: Iterable[int], *, with_trainers: bool = False) -> list[Enrolment]:
    """The enrolments with what their e-mails show (the trainee, the run with its course and
    meetings for the calendar, and its trainers when asked), in two or three statements."""
    run = joinedload(Enrolment.run)
    options = [joinedload(Enrolment.user), run.joinedload(Run.course), run.selectinload(Run.meetings)]
    if with_trainers:
        options.append(run.selectinload(Run.trainers))
    statement = select(Enrolment).where(Enrolment.id.in_(list(ids))).options(*options)
    return list(session.scalars(statement).unique())


CALENDAR_KINDS = ("enrol_confirmed", "enrol_promoted", "enrol_approved", "reminder")
OFFER_KINDS = ("enrol_offered",)


@mail.renderer("enrolment")
def render_enrolment(params: dict[str, Any]) -> EmailMessage | None:
    """The e-mail of one enrolment (``enrol``), rendered when the relay delivers
    it, in the trainee's language, with the run's calendar when confirmed."""
    result = render_enrolments([params])[0]
    if isinstance(result, Exception):
        raise result
    return result


@mail.batch_renderer("enrolment")
def render_enrolments(many: list[dict[str, Any]]) -> list[EmailMessage | None | Exception]:
    """``render_enrolment`` for the relay's batch: every enrolment, its trainee,
    run, course and meetings read in two statements, not two per e-mail."""
    with Session(db.engine) as session:  # the relay may run inside the commit that wrote the row
        ids = {params["enrolment_id"] for params in many}
        found = {enrolment.id: enrolment for enrolment in _enrolments_for_mail(session, ids)}
        results: list[EmailMessage | None | Exception] = []
        # The run's part and calendar once per run and language of the batch (one snapshot of each run).
        texts: dict[tuple[int, str], str] = {}
        calendars: dict[tuple[int, str, str], bytes] = {}
        for params in many:
            enrolment = found.get(params["enrolment_id"])
            if enrolment is None:  # deleted with its trainee before the relay came
                results.append(None)
                continue
            try:
                kind, base_url = params["kind"], params["base_url"]
                locale = enrolment.user.locale or "en"
                text = texts.get((enrolment.run_id, locale))
                if text is None:
                    text = texts[enrolment.run_id, locale] = run_text(enrolment.run, locale)
                calendar = None
                if kind in CALENDAR_KINDS:
                    calendar = calendars.get((enrolment.run_id, locale, base_url))
                    if calendar is None:
                        calendar = calendars[enrolment.run_id, locale, base_url] = run_calendar(
                            enrolment.run, base_url, locale
                        )
                results.append(
                    message(
                        enrolment,
                        kind,
                        calendar=calendar,
                        base_url=base_url,
                        run_part=text,
                        position=params.get("position"),
                    )
                )
            except Exception as exc:  # noqa: BLE001 - this e-mail is retried, the others go out
                results.append(exc)
        session.rollback()
    return results
