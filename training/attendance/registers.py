"""Signed-off registers: a meeting's register is open until a trainer of the
run (or an admin) finalises it; a finalised register takes no self check-ins
and no changes until an admin reopens it, with a reason (audited).

Certificates need every register of the run (cancelled meetings aside) to be
finalised, see ``services.eligibility``. Trainers see their open registers on
"Today" and are e-mailed about them the morning after (``remind_open_registers``,
run hourly by the scheduler, see training/recurring_tasks.py: each meeting is reminded once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, NoReturn, cast

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, func, select, update

from .. import mail
from ..accounts.models import User
from ..audit import record
from ..catalogue.models import Meeting, RunStatus
from ..errors import Conflict, DomainError, Forbidden, ValidationFailed
from ..extensions import db
from ..permissions import can
from ..types import utcnow
from ..urls import public_base_url
from . import services

REASON_MAX = 500
MORNING_HOUR = 7  # reminders go out from 07:00 in the run's time zone, about meetings of earlier days


def _fail(exc: DomainError) -> NoReturn:
    db.session.rollback()
    raise exc


def reason_text(reason: object, field_name: str = "reason") -> str:
    """A required reason in words: text, 3 to 500 characters."""
    if not isinstance(reason, str) or not 3 <= len(reason.strip()) <= REASON_MAX:
        raise ValidationFailed(
            _("Give a reason of 3 to %(n)s characters.", n=REASON_MAX), fields={field_name: "required"}
        )
    return reason.strip()


def finalise(actor: User, meeting_id: int, *, now: datetime | None = None) -> Meeting:
    """Sign the register off. From the meeting's start; finalising a finalised
    register again changes nothing (a double tap). The moment of sign-off is
    read once the meeting is locked: a mark that held the lock meanwhile is
    part of the register, so it was finalised after that mark."""
    meeting = services.get_meeting(meeting_id)
    if not can(actor, "finalise_register", meeting):
        raise Forbidden(_("Only the run's trainers and admins can finalise this register."))
    meeting = services.lock_meeting(meeting_id)
    now = now or utcnow()
    if meeting.finalised_at is not None:
        db.session.rollback()
        return services.get_meeting(meeting_id)
    if meeting.run.status == RunStatus.cancelled.value:
        _fail(Conflict(_("This run was cancelled."), code="run_cancelled"))
    if meeting.cancelled_at is not None:
        _fail(Conflict(_("This meeting was cancelled; it has no register to finalise."), code="meeting_cancelled"))
    if now < meeting.starts_at:
        _fail(Conflict(_("A register can be finalised from the meeting's start."), code="too_early"))
    meeting.finalised_at, meeting.finalised_by_id = now, actor.id
    record(actor, "register.finalise", meeting, f"run {meeting.run_id}")
    db.session.commit()
    return services.get_meeting(meeting_id)


def reopen(actor: User, meeting_id: int, reason: object) -> Meeting:
    """An admin reopens a finalised register, saying why; the trainer finalises it again."""
    meeting = services.get_meeting(meeting_id)
    if not can(actor, "reopen_register", meeting):
        raise Forbidden(_("Only an admin can reopen a register."))
    text = reason_text(reason)
    meeting = services.lock_meeting(meeting_id)
    if meeting.finalised_at is None:
        _fail(Conflict(_("This register is open already."), code="register_open"))
    detail = f"finalised {meeting.finalised_at.isoformat()} by user {meeting.finalised_by_id}; reason: {text}"
    meeting.finalised_at, meeting.finalised_by_id = None, None
    record(actor, "register.reopen", meeting, detail)
    db.session.commit()
    return services.get_meeting(meeting_id)


open_registers = services.open_registers
_open_query = services.open_registers_query


OPEN_REGISTERS_SUBJECT = _l("Registers to finalise: %(n)s")


@dataclass
class _Due:
    trainer: User
    meetings: list[Meeting]


def remind_open_registers(now: datetime | None = None) -> dict[int, int]:
    """E-mail each trainer the registers of theirs still open from meetings that
    ended before today (in the run's time zone): the morning after, from
    ``MORNING_HOUR``. Each meeting
    is reminded once (``register_reminded_at``), even when two schedulers run
    this at the same moment. Returns {trainer id: registers}."""
    now = now or utcnow()
    base_url = public_base_url()  # refuse before any work when links cannot be written
    candidates = [
        m
        for m in db.session.scalars(
            _open_query(now).where(Meeting.register_reminded_at.is_(None)).order_by(Meeting.ends_at)
        )
        if m.ends_at < datetime.combine(now.astimezone(m.run.tz).date(), time(0), m.run.tz)
        and now.astimezone(m.run.tz).hour >= MORNING_HOUR
        and m.run.trainers
    ]
    db.session.rollback()
    due: dict[int, _Due] = {}
    for meeting in candidates:
        claimed = cast(  # an UPDATE hands back a CursorResult, which has the row count
            CursorResult[Any],
            db.session.execute(
                update(Meeting)
                .where(Meeting.id == meeting.id, Meeting.register_reminded_at.is_(None), Meeting.finalised_at.is_(None))
                .values(register_reminded_at=now)
            ),
        ).rowcount
        if not claimed:
            continue
        for trainer in meeting.run.trainers:
            if trainer.active:
                due.setdefault(trainer.id, _Due(trainer, [])).meetings.append(meeting)
    for item in due.values():
        mail.queue(
            mail.build(
                item.trainer.email,
                OPEN_REGISTERS_SUBJECT,
                "open_registers",
                locale=item.trainer.locale,
                subject_args={"n": len(item.meetings)},
                user=item.trainer,
                meetings=item.meetings,
                base_url=base_url,
            )
        )
    if due:
        record(None, "register.reminders", None, f"{sum(len(d.meetings) for d in due.values())} registers")
    db.session.commit()
    return {tid: len(d.meetings) for tid, d in due.items()}


def open_count(run_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Meeting)
            .where(Meeting.run_id == run_id, Meeting.cancelled_at.is_(None), Meeting.finalised_at.is_(None))
        )
        or 0
    )
