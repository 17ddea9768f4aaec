"""Cancelling and moving a meeting (admins). A cancelled meeting stays on
record, marked as such, and counts toward no one's completion (its marks stay
in the audit trail). Every confirmed trainee and the trainers are e-mailed in
their own language with the updated event (same UID, SEQUENCE raised)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from .. import mail, signals
from ..accounts.models import User
from ..audit import record
from ..catalogue.calendar import meeting_calendar
from ..catalogue.models import Meeting, Run, RunStatus
from ..catalogue.services import check_meeting_times
from ..content_i18n import localized, normalise_lang
from ..enrolment.models import Enrolment
from ..errors import Conflict, DomainError, Forbidden, ValidationFailed
from ..extensions import db
from ..permissions import Action, can
from ..types import utcnow
from ..urls import public_base_url
from . import services
from .models import Attendance
from .registers import reason_text

MAX_LENGTH = timedelta(hours=24)
SUBJECTS = {
    "meeting_cancelled": _l("A meeting was cancelled: %(course)s"),
    "meeting_moved": _l("A meeting was moved: %(course)s"),
}


@signals.meetings_removing.connect
def _keep_meetings_with_attendance(run: Run, *, meetings: list[Meeting], **_kwargs: object) -> None:
    """The catalogue removes no meeting that has attendance (such a meeting is cancelled here instead)."""
    ids = [m.id for m in meetings if m.id is not None]
    if ids and db.session.scalar(select(func.count()).select_from(Attendance).where(Attendance.meeting_id.in_(ids))):
        raise Conflict(_("A meeting with attendance cannot be removed."), code="meeting_has_attendance")


def _fail(exc: DomainError) -> NoReturn:
    db.session.rollback()
    raise exc


def _load(actor: User, meeting_id: int, action: Action, message: str) -> Meeting:
    meeting = services.get_meeting(meeting_id)
    if not can(actor, action, meeting):
        raise Forbidden(message)
    meeting = services.lock_meeting(meeting_id)
    if meeting.run.status == RunStatus.cancelled.value:
        _fail(Conflict(_("This run was cancelled."), code="run_cancelled"))
    if meeting.cancelled_at is not None:
        _fail(Conflict(_("This meeting was cancelled already."), code="meeting_cancelled"))
    return meeting


def _notify(meeting: Meeting, kind: str, **extra: Any) -> int:
    """Queue one e-mail per confirmed trainee and trainer, in their language (sent after commit)."""
    base_url = public_base_url()
    calendars: dict[str, bytes] = {}  # one per language: the course title and room are in the reader's
    people = {
        e.user.id: e.user
        for e in db.session.scalars(
            select(Enrolment)
            .where(Enrolment.run_id == meeting.run_id, Enrolment.status == services.CONFIRMED)
            .options(selectinload(Enrolment.user))
        )
    }
    for trainer in meeting.run.trainers:
        people.setdefault(trainer.id, trainer)
    run = meeting.run
    sent = 0
    for user in people.values():
        if not user.active:
            continue
        lang = normalise_lang(user.locale)
        if lang not in calendars:
            calendars[lang] = meeting_calendar(meeting, base_url, current_app.config["MAIL_FROM"], lang)
        mail.queue(
            mail.build(
                user.email,
                SUBJECTS[kind],
                kind,
                locale=user.locale,
                attachments=[("meeting.ics", "text/calendar", calendars[lang])],
                subject_args={"course": localized(run.course, "title", lang)},
                user=user,
                run=run,
                course=run.course,
                meeting=meeting,
                base_url=base_url,
                **extra,
            )
        )
        sent += 1
    return sent


def cancel(actor: User, meeting_id: int, reason: object) -> Meeting:
    """Cancel one meeting of a run: kept on record as cancelled, with the reason."""
    if not can(actor, "cancel_meeting", services.get_meeting(meeting_id)):
        raise Forbidden(_("Only an admin can cancel a meeting."))
    reason = reason_text(reason)
    meeting = _load(actor, meeting_id, "cancel_meeting", _("Only an admin can cancel a meeting."))
    marks = (
        db.session.scalar(select(func.count()).select_from(Attendance).where(Attendance.meeting_id == meeting.id)) or 0
    )
    meeting.cancelled_at, meeting.cancel_reason = utcnow(), reason
    meeting.sequence = (meeting.sequence or 0) + 1
    record(actor, "meeting.cancel", meeting, f"run {meeting.run_id}; {marks} marks kept; reason: {reason}")
    _notify(meeting, "meeting_cancelled", reason=reason)
    db.session.commit()
    return services.get_meeting(meeting_id)


def move(actor: User, meeting_id: int, starts_at: object, ends_at: object) -> Meeting:
    """New times for a meeting; the trainees and trainers get the updated event."""
    if not can(actor, "move_meeting", services.get_meeting(meeting_id)):
        raise Forbidden(_("Only an admin can move a meeting."))
    starts = services.parse_moment(starts_at, "starts_at")
    ends = services.parse_moment(ends_at, "ends_at")
    if starts is None or ends is None:
        raise ValidationFailed(
            _("Give the new start and end."),
            fields={k: "required" for k, v in (("starts_at", starts), ("ends_at", ends)) if v is None},
        )
    if ends <= starts:
        raise ValidationFailed(_("The meeting must end after it starts."), fields={"ends_at": "before start"})
    if ends - starts > MAX_LENGTH:
        raise ValidationFailed(_("A meeting lasts at most 24 hours."), fields={"ends_at": "too long"})
    meeting = _load(actor, meeting_id, "move_meeting", _("Only an admin can move a meeting."))
    if meeting.finalised_at is not None:
        _fail(services.RegisterFinalised(_("This register was finalised; the meeting took place and cannot be moved.")))
    if (meeting.starts_at, meeting.ends_at) == (starts, ends):
        db.session.rollback()
        return services.get_meeting(meeting_id)
    old = (meeting.starts_at, meeting.ends_at)
    meeting.starts_at, meeting.ends_at = starts, ends
    try:
        check_meeting_times(meeting.run)  # as when a meeting is added: inside the run's dates
    except DomainError as exc:
        _fail(exc)
    meeting.sequence = (meeting.sequence or 0) + 1
    record(
        actor,
        "meeting.move",
        meeting,
        f"{old[0].isoformat()}–{old[1].isoformat()} -> {starts.isoformat()}–{ends.isoformat()}",
    )
    _notify(meeting, "meeting_moved", old_starts_at=old[0], old_ends_at=old[1])
    db.session.commit()
    return services.get_meeting(meeting_id)
