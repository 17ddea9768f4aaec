"""Attendance: marking (roster, API, self check-in), the audit trail, and the
completion rule that alone decides certificate eligibility.

Contract used by other areas: ``mark``, ``roster``, ``load_progress``,
``eligibility``, ``eligibility_for_run`` and ``set_assessment``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, exists, func, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from ..accounts.models import User
from ..audit import record
from ..catalogue.models import Course, Meeting, Run, RunStatus, run_trainers
from ..catalogue.seats import confirmed_counts
from ..enrolment.models import Enrolment, EnrolmentStatus
from ..errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..permissions import can, is_admin
from ..types import utcnow
from .models import Attendance, AttendanceChange, AttendanceReceipt, AttendanceSource, AttendanceStatus

STATUSES = tuple(s.value for s in AttendanceStatus)
MAX_RECORDS = 5000
NOTE_MAX = 1000
CONFIRMED = EnrolmentStatus.confirmed.value


def get_meeting(meeting_id: int) -> Meeting:
    meeting = db.session.scalar(
        select(Meeting)
        .where(Meeting.id == meeting_id)
        .options(
            selectinload(Meeting.run).selectinload(Run.trainers), selectinload(Meeting.run).selectinload(Run.course)
        )
    )
    if meeting is None:
        raise NotFound(_("No such meeting."))
    return meeting


def get_run(run_id: int) -> Run:
    run = db.session.scalar(
        select(Run)
        .where(Run.id == run_id)
        .options(selectinload(Run.trainers), selectinload(Run.course), selectinload(Run.meetings))
    )
    if run is None:
        raise NotFound(_("No such run."))
    return run


def confirmed_enrolments(run_id: int) -> list[Enrolment]:
    """Confirmed trainees of a run with their user, sorted by name."""
    enrolments = list(
        db.session.scalars(
            select(Enrolment)
            .where(Enrolment.run_id == run_id, Enrolment.status == CONFIRMED)
            .options(selectinload(Enrolment.user))
        )
    )
    enrolments.sort(key=lambda e: (e.user.display_name.casefold(), e.id))
    return enrolments


def roster(meeting: Meeting) -> list[tuple[Enrolment, Attendance | None]]:
    """Confirmed trainees of the meeting's run with their record (and who marked
    it), sorted by name, in a fixed number of queries."""
    enrolments = confirmed_enrolments(meeting.run_id)
    records = {
        a.enrolment_id: a
        for a in db.session.scalars(
            select(Attendance).where(Attendance.meeting_id == meeting.id).options(selectinload(Attendance.marked_by))
        )
    }
    return [(e, records.get(e.id)) for e in enrolments]


def device_flags(meeting: Meeting) -> set[int]:
    """Users involved in a check-in from a browser another account also used for
    this meeting (the refused attempt and the account that checked in there)."""
    from .models import CheckinDevice

    rows = list(
        db.session.execute(
            select(CheckinDevice.device_hash, CheckinDevice.user_id, CheckinDevice.refused).where(
                CheckinDevice.meeting_id == meeting.id
            )
        )
    )
    shared = {h for h, _u, refused in rows if refused}
    return {u for h, u, _r in rows if h in shared}


def roster_counts(rows: Iterable[tuple[Enrolment, Attendance | None]]) -> dict[str, int]:
    counts = {s: 0 for s in STATUSES}
    counts["unmarked"] = 0
    for _enrolment, row in rows:
        counts[row.status if row is not None else "unmarked"] += 1
    return counts


def check_can_mark(actor: User, meeting: Meeting) -> None:
    """Refuse, with the reason in words, anyone who may not mark this meeting now."""
    if not can(actor, "mark_attendance", meeting):
        if can(actor, "view_meeting_roster", meeting):
            raise Forbidden(_("Attendance can be marked from 30 minutes before the meeting starts."), code="too_early")
        raise Forbidden(_("Only the run's trainers and admins can mark attendance."))
    if meeting.run.status == RunStatus.cancelled.value:
        raise Conflict(_("This run was cancelled; its attendance can no longer be changed."), code="run_cancelled")


# --- marking -------------------------------------------------------------------


class RegisterFinalised(Conflict):
    code = "register_finalised"


def check_register_open(meeting: Meeting) -> None:
    """Refuse any change to a cancelled meeting or a signed-off register."""
    if meeting.cancelled_at is not None:
        raise Conflict(
            _("This meeting was cancelled; its attendance can no longer be changed."), code="meeting_cancelled"
        )
    if meeting.finalised_at is not None:
        raise RegisterFinalised(_("This register was finalised; an admin must reopen it before it can change."))


def lock_meeting(meeting_id: int) -> Meeting:
    """The meeting, its row locked until the transaction ends (PostgreSQL), with
    fresh values: marks, check-ins, finalising and cancelling of one meeting
    happen one after the other."""
    meeting = db.session.scalar(
        select(Meeting).where(Meeting.id == meeting_id).with_for_update().execution_options(populate_existing=True)
    )
    if meeting is None:
        raise NotFound(_("No such meeting."))
    return get_meeting(meeting_id)


@dataclass
class _Wanted:
    enrolment_id: int
    status: str
    note: str
    key: str | None
    recorded_at: datetime | None = None
    index: int = 0


class Marked(list[Attendance]):
    """The records a marking changed (a list, as before) and the marks that
    were not applied because a newer fact was already recorded (``conflicts``)."""

    def __init__(self, rows: Iterable[Attendance] = (), conflicts: list[dict[str, Any]] | None = None) -> None:
        super().__init__(rows)
        self.conflicts: list[dict[str, Any]] = conflicts or []


def parse_moment(value: object, field_name: str) -> datetime | None:
    """An ISO 8601 moment with its offset (e.g. 2026-11-30T09:02:11+08:00 or ...Z), as UTC; None when absent."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValidationFailed(
            _("%(field)s must be an ISO 8601 date and time with its offset.", field=field_name),
            fields={field_name: "invalid"},
        )
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            _("%(field)s must be an ISO 8601 date and time with its offset.", field=field_name),
            fields={field_name: "invalid"},
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationFailed(
            _("%(field)s needs a time zone offset, such as +08:00 or Z.", field=field_name),
            fields={field_name: "no offset"},
        )
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationFailed(
            _("%(field)s is out of range.", field=field_name), fields={field_name: "out of range"}
        ) from None


def _parse_records(records: object, enrolment_ids: set[int]) -> list[_Wanted]:
    if not isinstance(records, list) or not records:
        raise ValidationFailed(_("records must be a non-empty list."), fields={"records": "required"})
    if len(records) > MAX_RECORDS:
        raise ValidationFailed(_("At most %(n)s records at once.", n=MAX_RECORDS), fields={"records": "too many"})
    wanted = []
    for i, item in enumerate(records):
        if not isinstance(item, dict):
            raise ValidationFailed(_("records[%(i)s] must be an object.", i=i), fields={f"records[{i}]": "invalid"})
        enrolment_id, status = item.get("enrolment_id"), item.get("status")
        if isinstance(enrolment_id, bool) or not isinstance(enrolment_id, int) or enrolment_id not in enrolment_ids:
            raise ValidationFailed(
                _(
                    "records[%(i)s]: enrolment %(id)s is not a confirmed trainee of this run.",
                    i=i,
                    id=repr(enrolment_id)[:40],
                ),
                fields={f"records[{i}].enrolment_id": "unknown"},
            )
        if not isinstance(status, str) or status not in STATUSES:
            raise ValidationFailed(
                _("records[%(i)s]: status must be present, late, absent or excused.", i=i),
                fields={f"records[{i}].status": "unknown"},
            )
        note = item.get("note")
        note = "" if note is None else note
        if not isinstance(note, str) or len(note) > NOTE_MAX:
            raise ValidationFailed(
                _("records[%(i)s]: note must be text of at most %(n)s characters.", i=i, n=NOTE_MAX),
                fields={f"records[{i}].note": "invalid"},
            )
        key = item.get("idempotency_key")
        if key is not None and (not isinstance(key, str) or not 8 <= len(key) <= 64):
            raise ValidationFailed(
                _("records[%(i)s]: idempotency_key must be 8 to 64 characters.", i=i),
                fields={f"records[{i}].idempotency_key": "invalid"},
            )
        # PostgreSQL stores no NUL: the roster's own JSON comes here without the API's body check.
        for name, text in (("note", note), ("idempotency_key", key)):
            if text is not None and "\x00" in text:
                raise ValidationFailed(
                    _("records[%(i)s]: %(field)s must not contain NUL characters.", i=i, field=name),
                    code="nul_character",
                    fields={f"records[{i}].{name}": "invalid"},
                )
        recorded_at = parse_moment(item.get("recorded_at"), f"records[{i}].recorded_at")
        wanted.append(_Wanted(enrolment_id, status, note.strip(), key or None, recorded_at, i))
    return wanted


def recorded_time(row: Attendance) -> datetime:
    return row.recorded_at or row.marked_at


def write_record(
    meeting_id: int,
    current: dict[int, Attendance],
    enrolment_id: int,
    status: str,
    note: str,
    actor_id: int | None,
    now: datetime,
    source: str,
    key: str | None,
) -> Attendance | None:
    """Set one record and log the change; nothing is written when nothing changes."""
    row = current.get(enrolment_id)
    if row is not None and row.status == status and row.note == note:
        return None
    old = row.status if row is not None else None
    if row is None:
        row = Attendance(enrolment_id=enrolment_id, meeting_id=meeting_id)
        db.session.add(row)
        current[enrolment_id] = row
    row.status, row.note = status, note
    row.marked_by_id, row.marked_at, row.source, row.recorded_at = actor_id, now, source, now
    db.session.add(
        AttendanceChange(
            enrolment_id=enrolment_id,
            meeting_id=meeting_id,
            old_status=old,
            new_status=status,
            note=note,
            changed_by_id=actor_id,
            changed_at=now,
            source=source,
            idempotency_key=key,
            recorded_at=now,
        )
    )
    return row


def _source(actor: User, meeting: Meeting, channel: str, recorded_at: datetime | None, now: datetime) -> str:
    """The server decides where a mark came from; whatever the client says is ignored."""
    if channel == AttendanceSource.api.value:
        return AttendanceSource.api.value
    if not meeting.run.is_taught_by(actor):
        return AttendanceSource.admin.value
    threshold = timedelta(seconds=int(current_app.config.get("OFFLINE_MARK_AFTER_SECONDS", 60)))
    if recorded_at is not None and now - recorded_at > threshold:
        return AttendanceSource.offline.value
    return AttendanceSource.roster.value


def _offer(row_or_wanted: Attendance | _Wanted) -> dict[str, Any]:
    if isinstance(row_or_wanted, Attendance):
        row = row_or_wanted
        return {
            "status": row.status,
            "note": row.note,
            "source": row.source,
            "recorded_at": recorded_time(row).isoformat(),
            "marked_by": row.marked_by.display_name if row.marked_by else None,
        }
    w = row_or_wanted
    assert w.recorded_at is not None  # _mark gives every wanted mark its time before offering it
    return {"status": w.status, "note": w.note, "recorded_at": w.recorded_at.isoformat()}


def _mark(actor: User, meeting_id: int, records: object, channel: str) -> Marked:
    meeting = get_meeting(meeting_id)
    check_can_mark(actor, meeting)
    enrolment_ids = set(
        db.session.scalars(
            select(Enrolment.id).where(Enrolment.run_id == meeting.run_id, Enrolment.status == CONFIRMED)
        )
    )
    wanted = _parse_records(records, enrolment_ids)
    meeting = lock_meeting(meeting_id)
    check_register_open(meeting)
    now = utcnow()
    for w in wanted:
        # No record, or one from a device whose clock runs ahead: the server's time.
        if w.recorded_at is None or w.recorded_at > now:
            w.recorded_at = now
    keys = {w.key for w in wanted if w.key}
    applied = (
        set(
            db.session.scalars(
                select(AttendanceReceipt.idempotency_key).where(AttendanceReceipt.idempotency_key.in_(keys))
            )
        )
        if keys
        else set()
    )
    current = {
        a.enrolment_id: a
        for a in db.session.scalars(
            select(Attendance)
            .where(Attendance.meeting_id == meeting.id, Attendance.enrolment_id.in_({w.enrolment_id for w in wanted}))
            .options(selectinload(Attendance.marked_by))
        )
    }
    # enrolment id -> (status, note, recorded at, source)
    state = {eid: (a.status, a.note, recorded_time(a), a.source) for eid, a in current.items()}
    changes, receipts, changed, conflicts = [], [], {}, []
    # The newest recorded mark wins, whatever order the marks arrive in; within one
    # batch, equal times keep the order sent (present, then late ends as late).
    for w in sorted(wanted, key=lambda w: (w.recorded_at, w.index)):
        if w.key:
            if w.key in applied:
                continue  # a replay: this mark was already counted
            applied.add(w.key)
            receipts.append(
                {"idempotency_key": w.key, "meeting_id": meeting.id, "enrolment_id": w.enrolment_id, "received_at": now}
            )
        recorded_at = w.recorded_at
        assert recorded_at is not None  # every mark was given a time above
        old = state.get(w.enrolment_id)
        if old is not None and old[:2] == (w.status, w.note):
            continue
        if old is not None and recorded_at < old[2]:
            kept = current.get(w.enrolment_id)
            conflicts.append(
                {
                    "enrolment_id": w.enrolment_id,
                    "kept": _offer(kept)
                    if kept is not None and w.enrolment_id not in changed
                    else {
                        "status": old[0],
                        "note": old[1],
                        "source": old[3],
                        "recorded_at": old[2].isoformat(),
                        "marked_by": actor.display_name,
                    },
                    "offered": _offer(w),
                }
            )
            continue
        source = _source(actor, meeting, channel, w.recorded_at, now)
        changes.append(
            {
                "enrolment_id": w.enrolment_id,
                "meeting_id": meeting.id,
                "old_status": old[0] if old else None,
                "new_status": w.status,
                "note": w.note,
                "changed_by_id": actor.id,
                "changed_at": now,
                "source": source,
                "idempotency_key": w.key,
                "recorded_at": w.recorded_at,
            }
        )
        state[w.enrolment_id] = (w.status, w.note, recorded_at, source)
        changed[w.enrolment_id] = True

    # Bulk statements: the number of queries does not grow with the roster.
    def values(eid: int) -> dict[str, Any]:
        status, note, recorded_at, source = state[eid]
        return {
            "status": status,
            "note": note,
            "recorded_at": recorded_at,
            "source": source,
            "marked_by_id": actor.id,
            "marked_at": now,
        }

    inserts = [{"enrolment_id": eid, "meeting_id": meeting.id, **values(eid)} for eid in changed if eid not in current]
    updates = [{"id": current[eid].id, **values(eid)} for eid in changed if eid in current]
    if inserts:
        db.session.execute(insert(Attendance), inserts)
    if updates:
        db.session.execute(update(Attendance), updates)
    if changes:
        db.session.execute(insert(AttendanceChange), changes)
    if receipts:
        db.session.execute(insert(AttendanceReceipt), receipts)
    db.session.commit()
    if not changed:
        return Marked([], conflicts)
    return Marked(
        db.session.scalars(
            select(Attendance)
            .where(Attendance.meeting_id == meeting.id, Attendance.enrolment_id.in_(list(changed)))
            .execution_options(populate_existing=True)
        ),
        conflicts,
    )


def mark(actor: User, meeting_id: int, records: object, *, source: str = "roster") -> Marked:
    """Set the status of several trainees at one meeting in one transaction.

    ``records``: [{enrolment_id, status, note?, idempotency_key?, recorded_at?}].
    ``recorded_at`` is when the mark was made on the device (server time when
    absent): a mark older than the record it would replace is not applied and
    comes back in ``.conflicts``. A record whose idempotency key was already
    received is skipped, so offline replays count once. Nothing is saved if any
    record is invalid, the meeting was cancelled or its register is finalised.
    ``source`` is the channel, "roster" or "api"; the source stored with each
    mark is decided here (roster, offline, admin, api), never by the client.
    The number of SQL statements does not grow with the number of records.
    """
    channel = AttendanceSource.api.value if source == AttendanceSource.api.value else AttendanceSource.roster.value
    try:
        return _mark(actor, meeting_id, records, channel)
    except IntegrityError:
        # Two deliveries of the same marks at once (PostgreSQL): the second finds the first's receipts.
        db.session.rollback()
    except DomainError:
        db.session.rollback()
        raise
    try:
        return _mark(actor, meeting_id, records, channel)
    except IntegrityError:
        db.session.rollback()
        raise Conflict(
            _("Someone saved this roster at the same moment; please save again."), code="concurrent_update"
        ) from None
    except DomainError:
        db.session.rollback()
        raise


def history(meeting: Meeting, *, limit: int = 1000) -> list[AttendanceChange]:
    """The audit trail of a meeting, newest first."""
    return list(
        db.session.scalars(
            select(AttendanceChange)
            .where(AttendanceChange.meeting_id == meeting.id)
            .order_by(AttendanceChange.changed_at.desc(), AttendanceChange.id.desc())
            .limit(limit)
            .options(
                selectinload(AttendanceChange.changed_by),
                selectinload(AttendanceChange.enrolment).selectinload(Enrolment.user),
            )
        )
    )


# --- the trainer's day -------------------------------------------------------


def open_registers_query(now: datetime) -> Select[Meeting]:
    return (
        select(Meeting)
        .join(Run, Meeting.run_id == Run.id)
        .where(
            Run.status != RunStatus.cancelled.value,
            Meeting.cancelled_at.is_(None),
            Meeting.finalised_at.is_(None),
            Meeting.ends_at <= now,
        )
        .options(
            selectinload(Meeting.run).selectinload(Run.course), selectinload(Meeting.run).selectinload(Run.trainers)
        )
    )


def open_registers(user: User, *, now: datetime | None = None, limit: int = 100) -> list[Meeting]:
    """Registers still open after their meeting ended: a trainer's own; for an
    admin, those of every run that has ended (all its meetings over)."""
    now = now or utcnow()
    stmt = open_registers_query(now)
    if is_admin(user):
        later_meeting = Meeting.__table__.alias("later_meeting")
        stmt = stmt.where(
            ~exists().where(
                later_meeting.c.run_id == Run.id, later_meeting.c.ends_at > now, later_meeting.c.cancelled_at.is_(None)
            )
        )
    else:
        stmt = stmt.join(run_trainers, run_trainers.c.run_id == Run.id).where(run_trainers.c.user_id == user.id)
    return list(db.session.scalars(stmt.order_by(Meeting.ends_at, Meeting.id).limit(limit)))


@dataclass
class TeachingDay:
    today: list[Meeting]
    upcoming: list[Meeting]
    runs: list[Run]
    confirmed: dict[int, int]  # run id -> confirmed trainees
    marked: dict[int, int]  # meeting id -> records taken
    open_registers: list[Meeting] = field(default_factory=list)  # ended, not finalised yet


def _taught_meetings(user: User) -> Select[Meeting]:
    stmt = select(Meeting).join(Run, Meeting.run_id == Run.id).where(Run.status != RunStatus.cancelled.value)
    if not is_admin(user):
        stmt = stmt.join(run_trainers, run_trainers.c.run_id == Run.id).where(run_trainers.c.user_id == user.id)
    return stmt.options(
        selectinload(Meeting.run).selectinload(Run.course), selectinload(Meeting.run).selectinload(Run.trainers)
    )


def teaching_day(user: User, *, now: datetime | None = None, upcoming_limit: int = 8) -> TeachingDay:
    """The meetings a trainer teaches today (in each run's time zone) and next,
    and the runs they teach. Admins see every run's meetings."""

    now = now or utcnow()
    near = list(
        db.session.scalars(
            _taught_meetings(user)
            .where(Meeting.starts_at >= now - timedelta(hours=38), Meeting.starts_at <= now + timedelta(hours=38))
            .order_by(Meeting.starts_at)
        )
    )

    def is_today(m: Meeting) -> bool:
        tz = m.run.tz
        return m.starts_at.astimezone(tz).date() == now.astimezone(tz).date() or m.starts_at <= now < m.ends_at

    today = [m for m in near if is_today(m)]
    seen = {m.id for m in today}
    upcoming = [
        m
        for m in db.session.scalars(
            _taught_meetings(user)
            .where(Meeting.starts_at > now)
            .order_by(Meeting.starts_at)
            .limit(upcoming_limit + len(today))
        )
        if m.id not in seen
    ][:upcoming_limit]
    runs_stmt = select(Run).where(
        Run.status != RunStatus.cancelled.value, Run.ends_on >= (now - timedelta(days=45)).date()
    )
    if is_admin(user):
        runs_stmt = runs_stmt.where(
            Run.starts_on <= (now + timedelta(days=1)).date(), Run.ends_on >= (now - timedelta(days=1)).date()
        )
    else:
        runs_stmt = runs_stmt.join(run_trainers, run_trainers.c.run_id == Run.id).where(
            run_trainers.c.user_id == user.id
        )
    runs = list(
        db.session.scalars(
            runs_stmt.order_by(Run.starts_on, Run.id)
            .limit(100)
            .options(selectinload(Run.course), selectinload(Run.meetings))
        )
    )
    meeting_ids = [m.id for m in today + upcoming]
    marked = (
        dict(
            db.session.execute(
                select(Attendance.meeting_id, func.count())
                .where(Attendance.meeting_id.in_(meeting_ids))
                .group_by(Attendance.meeting_id)
            ).all()
        )
        if meeting_ids
        else {}
    )
    confirmed = confirmed_counts({m.run_id for m in today + upcoming} | {r.id for r in runs})
    return TeachingDay(today, upcoming, runs, confirmed, marked, open_registers(user, now=now))


# --- completion ----------------------------------------------------------------


@dataclass
class Progress:
    """Where one trainee stands against the course's completion rule. Weights
    are 1 per meeting, or minutes when the course weights by meeting length."""

    attended_weight: float = 0.0
    planned_weight: float = 0.0
    meetings_total: int = 0
    meetings_taken: int = 0  # meetings whose register is finalised
    registers_open: int = 0  # meetings (not cancelled) whose register is not finalised yet
    counts: dict[str, int] = field(default_factory=dict)  # status -> meetings, for this trainee
    remaining_weight: float = 0.0  # meetings still open for this trainee
    required_pct: int = 0
    weighted: bool = False
    run_ended: bool = False
    excused_counts: bool = False

    @property
    def percent(self) -> float:
        return round(100 * self.attended_weight / self.planned_weight, 1) if self.planned_weight else 0.0

    @property
    def best_possible(self) -> float:
        if not self.planned_weight:
            return 0.0
        return round(100 * (self.attended_weight + self.remaining_weight) / self.planned_weight, 1)

    @property
    def reached(self) -> bool:
        """Exact comparison: 79.96% is not 80% even though it displays so."""
        return self.planned_weight > 0 and 100 * self.attended_weight >= self.required_pct * self.planned_weight - 1e-9

    @property
    def can_still_reach(self) -> bool:
        return self.planned_weight > 0 and (
            100 * (self.attended_weight + self.remaining_weight) >= self.required_pct * self.planned_weight - 1e-9
        )

    @property
    def at_risk(self) -> bool:
        """The trainee can no longer reach the completion threshold."""
        return self.meetings_total > 0 and not self.can_still_reach


def _counts_as_attended(status: str, course: Course) -> bool:
    return status in (AttendanceStatus.present, AttendanceStatus.late) or (
        status == AttendanceStatus.excused and course.excused_counts
    )


def progress_for(
    enrolment: Enrolment,
    meetings: list[Meeting],
    records: dict[int, Attendance],
    taken_meeting_ids: set[int] | None = None,
    *,
    course: Course | None = None,
    now: datetime | None = None,
) -> Progress:
    """Attendance against every planned meeting of the run that was not
    cancelled, not only past ones. A cancelled meeting counts for no one (its
    marks stay in the audit trail).

    A meeting is *taken* once its register is finalised; until then it still
    counts as open for a trainee without a record there (``remaining_weight``)."""
    course = course or enrolment.run.course
    now = now or utcnow()
    meetings = [m for m in meetings if m.cancelled_at is None]
    run_ended = bool(meetings) and max(m.ends_at for m in meetings) <= now
    result = Progress(
        meetings_total=len(meetings),
        required_pct=course.min_attendance_pct,
        weighted=course.weight_by_length,
        run_ended=run_ended,
        excused_counts=course.excused_counts,
    )
    for meeting in meetings:
        weight = meeting.minutes if course.weight_by_length else 1.0
        result.planned_weight += weight
        row = records.get(meeting.id)
        if meeting.finalised_at is not None:
            result.meetings_taken += 1
        else:
            result.registers_open += 1
        if row is not None:
            result.counts[row.status] = result.counts.get(row.status, 0) + 1
            if _counts_as_attended(row.status, course):
                result.attended_weight += weight
        elif meeting.finalised_at is None:
            result.remaining_weight += weight
    return result


def _attendance_by_enrolment(enrolment_ids: list[int]) -> dict[int, dict[int, Attendance]]:
    records: dict[int, dict[int, Attendance]] = {}
    if enrolment_ids:
        for row in db.session.scalars(select(Attendance).where(Attendance.enrolment_id.in_(list(enrolment_ids)))):
            records.setdefault(row.enrolment_id, {})[row.meeting_id] = row
    return records


def load_progress(enrolments: list[Enrolment], *, now: datetime | None = None) -> dict[int, Progress]:
    """Progress of many enrolments (possibly of several runs) in four queries,
    however many enrolments."""
    if not enrolments:
        return {}
    run_ids = {e.run_id for e in enrolments}
    runs = {
        r.id: r for r in db.session.scalars(select(Run).where(Run.id.in_(run_ids)).options(selectinload(Run.course)))
    }
    for e in enrolments:  # attach the runs so that e.run.course never costs a query later
        if "run" in inspect(e).unloaded:
            set_committed_value(e, "run", runs[e.run_id])
    meetings_by_run: dict[int, list[Meeting]] = {}
    for meeting in db.session.scalars(select(Meeting).where(Meeting.run_id.in_(run_ids)).order_by(Meeting.starts_at)):
        meetings_by_run.setdefault(meeting.run_id, []).append(meeting)
    meeting_ids = [m.id for ms in meetings_by_run.values() for m in ms]
    records = _attendance_by_enrolment([e.id for e in enrolments]) if meeting_ids else {}
    return {
        e.id: progress_for(
            e, meetings_by_run.get(e.run_id, []), records.get(e.id, {}), course=runs[e.run_id].course, now=now
        )
        for e in enrolments
    }


@dataclass
class Eligibility:
    eligible: bool
    reason: str  # in words, shown to people
    code: str
    progress: Progress


def eligibility(enrolment: Enrolment, progress: Progress) -> Eligibility:
    """The completion rule, alone deciding certificate eligibility: the
    register of every meeting that was not cancelled is finalised, attendance
    is at or above the course's minimum (present and late count, excused when
    the course says so), and the final assessment is at or above the pass mark
    when the course has one."""
    course = enrolment.run.course
    if enrolment.status != CONFIRMED:
        return Eligibility(False, _("The enrolment is not confirmed."), "not_confirmed", progress)
    if progress.meetings_total == 0:
        return Eligibility(False, _("The run has no meetings."), "no_meetings", progress)
    if progress.registers_open:
        return Eligibility(
            False,
            _(
                "The registers of %(open)s of %(total)s meetings are not finalised yet.",
                open=progress.registers_open,
                total=progress.meetings_total,
            ),
            "register_open",
            progress,
        )
    if not progress.reached:
        reason = _(
            "Attendance is %(pct)s%%, below the required %(min)s%%.",
            pct=f"{progress.percent:g}",
            min=course.min_attendance_pct,
        )
        if progress.counts.get("excused") and not course.excused_counts:
            reason += " " + _("Excused absences do not count as attendance for this course.")
        return Eligibility(False, reason, "attendance_below_minimum", progress)
    if course.pass_mark is not None:
        if enrolment.assessment_score is None:
            return Eligibility(False, _("The final assessment has no score yet."), "no_assessment", progress)
        if enrolment.assessment_score < course.pass_mark:
            return Eligibility(
                False,
                _(
                    "The assessment score %(score)s is below the pass mark %(mark)s.",
                    score=enrolment.assessment_score,
                    mark=course.pass_mark,
                ),
                "assessment_failed",
                progress,
            )
    return Eligibility(
        True, _("Completed with %(pct)s%% attendance.", pct=f"{progress.percent:g}"), "eligible", progress
    )


def eligibility_for_run(run_id: int) -> list[tuple[Enrolment, Eligibility]]:
    """Every confirmed trainee of the run with the verdict, in a fixed number of queries."""
    enrolments = list(
        db.session.scalars(
            select(Enrolment)
            .where(Enrolment.run_id == run_id, Enrolment.status == CONFIRMED)
            .options(
                selectinload(Enrolment.user),
                selectinload(Enrolment.run).selectinload(Run.course),
                selectinload(Enrolment.run).selectinload(Run.meetings),
            )
        )
    )
    progress = load_progress(enrolments)
    return [(e, eligibility(e, progress[e.id])) for e in enrolments]


@dataclass
class RegisterRow:
    enrolment: Enrolment
    records: dict[int, Attendance]  # meeting id -> record
    verdict: Eligibility

    @property
    def progress(self) -> Progress:
        return self.verdict.progress


@dataclass
class Register:
    """A run's attendance: trainees x meetings, with each trainee's progress."""

    run: Run
    meetings: list[Meeting]
    rows: list[RegisterRow]

    @property
    def at_risk(self) -> list[RegisterRow]:
        return [r for r in self.rows if r.progress.at_risk]

    @property
    def average_percent(self) -> float:
        return round(sum(r.progress.percent for r in self.rows) / len(self.rows), 1) if self.rows else 0.0


def run_register(run_id: int) -> Register:
    run = get_run(run_id)
    enrolments = confirmed_enrolments(run.id)
    progress = load_progress(enrolments)
    records = _attendance_by_enrolment([e.id for e in enrolments])
    rows = [RegisterRow(e, records.get(e.id, {}), eligibility(e, progress[e.id])) for e in enrolments]
    return Register(run, list(run.meetings), rows)


def enrolment_attendance(enrolment: Enrolment) -> tuple[list[tuple[Meeting, Attendance | None]], Eligibility]:
    """One trainee's meetings with their records, and where they stand."""
    progress = load_progress([enrolment])[enrolment.id]
    meetings = list(
        db.session.scalars(select(Meeting).where(Meeting.run_id == enrolment.run_id).order_by(Meeting.starts_at))
    )
    records = _attendance_by_enrolment([enrolment.id]).get(enrolment.id, {})
    return [(m, records.get(m.id)) for m in meetings], eligibility(enrolment, progress)


def set_assessment(actor: User, enrolment_id: int, score: int | None) -> Enrolment:
    """The trainer (or an admin) enters the final assessment score, 0 to 100, or clears it."""
    enrolment = db.session.get(Enrolment, enrolment_id)
    if enrolment is None:
        raise NotFound(_("No such enrolment."))
    if not can(actor, "view_roster", enrolment.run):
        raise Forbidden(_("Only the run's trainers and admins can enter assessment scores."))
    if enrolment.status != CONFIRMED:
        raise Conflict(_("Only confirmed trainees can be assessed."), code="not_confirmed")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100):
        raise ValidationFailed(_("The score must be a whole number from 0 to 100."), fields={"score": "out of range"})
    if enrolment.assessment_score != score:
        record(actor, "assessment.set", enrolment, f"{enrolment.assessment_score} -> {score}")
        enrolment.assessment_score = score
    db.session.commit()
    return enrolment


def set_assessments(actor: User, run_id: int, scores: dict[int, int | None]) -> int:
    """Several scores of one run in one transaction; returns how many changed."""
    run = get_run(run_id)
    if not can(actor, "view_roster", run):
        raise Forbidden(_("Only the run's trainers and admins can enter assessment scores."))
    enrolments = {
        e.id: e
        for e in db.session.scalars(
            select(Enrolment).where(
                Enrolment.run_id == run.id, Enrolment.status == CONFIRMED, Enrolment.id.in_(list(scores))
            )
        )
    }
    changed = 0
    for enrolment_id, score in scores.items():
        enrolment = enrolments.get(enrolment_id)
        if enrolment is None:
            raise ValidationFailed(
                _("Enrolment %(id)s is not a confirmed trainee of this run.", id=enrolment_id),
                fields={f"score-{enrolment_id}": "unknown"},
            )
        if score is not None and (isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100):
            raise ValidationFailed(
                _("The score must be a whole number from 0 to 100."), fields={f"score-{enrolment_id}": "out of range"}
            )
        if enrolment.assessment_score != score:
            record(actor, "assessment.set", enrolment, f"{enrolment.assessment_score} -> {score}")
            enrolment.assessment_score = score
            changed += 1
    db.session.commit()
    return changed
