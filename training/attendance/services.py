"""Attendance: marking (roster, API, self check-in), the audit trail, and the
completion rule that alone decides certificate eligibility.

Contract used by other areas: ``mark``, ``roster``, ``load_progress``,
``eligibility``, ``eligibility_for_run`` and ``set_assessment``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from ..admin.models import record
from ..catalogue.models import Course, Meeting, Run, RunStatus, run_trainers
from ..enrolment.models import Enrolment, EnrolmentStatus
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..permissions import can, is_admin
from ..types import utcnow
from .models import Attendance, AttendanceChange, AttendanceReceipt, AttendanceStatus

STATUSES = tuple(s.value for s in AttendanceStatus)
MAX_RECORDS = 5000
NOTE_MAX = 1000
CONFIRMED = EnrolmentStatus.confirmed.value


def get_meeting(meeting_id: int) -> Meeting:
    meeting = db.session.scalar(select(Meeting).where(Meeting.id == meeting_id).options(
        selectinload(Meeting.run).selectinload(Run.trainers),
        selectinload(Meeting.run).selectinload(Run.course)))
    if meeting is None:
        raise NotFound(_("No such meeting."))
    return meeting


def get_run(run_id: int) -> Run:
    run = db.session.scalar(select(Run).where(Run.id == run_id).options(
        selectinload(Run.trainers), selectinload(Run.course), selectinload(Run.meetings)))
    if run is None:
        raise NotFound(_("No such run."))
    return run


def confirmed_enrolments(run_id: int) -> list[Enrolment]:
    """Confirmed trainees of a run with their user, sorted by name."""
    enrolments = list(db.session.scalars(select(Enrolment).where(
        Enrolment.run_id == run_id, Enrolment.status == CONFIRMED).options(selectinload(Enrolment.user))))
    enrolments.sort(key=lambda e: (e.user.display_name.casefold(), e.id))
    return enrolments


def roster(meeting: Meeting) -> list[tuple[Enrolment, Attendance | None]]:
    """Confirmed trainees of the meeting's run with their record (and who marked
    it), sorted by name, in a fixed number of queries."""
    enrolments = confirmed_enrolments(meeting.run_id)
    records = {a.enrolment_id: a for a in db.session.scalars(select(Attendance).where(
        Attendance.meeting_id == meeting.id).options(selectinload(Attendance.marked_by)))}
    return [(e, records.get(e.id)) for e in enrolments]


def roster_counts(rows) -> dict[str, int]:
    counts = {s: 0 for s in STATUSES}
    counts["unmarked"] = 0
    for _enrolment, row in rows:
        counts[row.status if row is not None else "unmarked"] += 1
    return counts


def check_can_mark(actor, meeting: Meeting) -> None:
    """Refuse, with the reason in words, anyone who may not mark this meeting now."""
    if not can(actor, "mark_attendance", meeting):
        if can(actor, "view_meeting_roster", meeting):
            raise Forbidden(_("Attendance can be marked from 30 minutes before the meeting starts."),
                            code="too_early")
        raise Forbidden(_("Only the run's trainers and admins can mark attendance."))
    if meeting.run.status == RunStatus.cancelled.value:
        raise Conflict(_("This run was cancelled; its attendance can no longer be changed."),
                       code="run_cancelled")


# --- marking -------------------------------------------------------------------

@dataclass
class _Wanted:
    enrolment_id: int
    status: str
    note: str
    key: str | None


def _parse_records(records, enrolment_ids: set[int]) -> list[_Wanted]:
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
                _("records[%(i)s]: enrolment %(id)s is not a confirmed trainee of this run.", i=i, id=repr(enrolment_id)),
                fields={f"records[{i}].enrolment_id": "unknown"})
        if status not in STATUSES:
            raise ValidationFailed(_("records[%(i)s]: status must be present, late, absent or excused.", i=i),
                                   fields={f"records[{i}].status": "unknown"})
        note = item.get("note")
        note = "" if note is None else note
        if not isinstance(note, str) or len(note) > NOTE_MAX:
            raise ValidationFailed(_("records[%(i)s]: note must be text of at most %(n)s characters.", i=i, n=NOTE_MAX),
                                   fields={f"records[{i}].note": "invalid"})
        key = item.get("idempotency_key")
        if key is not None and (not isinstance(key, str) or not 8 <= len(key) <= 64):
            raise ValidationFailed(_("records[%(i)s]: idempotency_key must be 8 to 64 characters.", i=i),
                                   fields={f"records[{i}].idempotency_key": "invalid"})
        wanted.append(_Wanted(enrolment_id, status, note.strip(), key or None))
    return wanted


def write_record(meeting_id: int, current: dict[int, Attendance], enrolment_id: int, status: str, note: str,
           actor_id: int | None, now: datetime, source: str, key: str | None) -> Attendance | None:
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
    row.marked_by_id, row.marked_at, row.source = actor_id, now, source
    db.session.add(AttendanceChange(enrolment_id=enrolment_id, meeting_id=meeting_id, old_status=old,
                                    new_status=status, note=note, changed_by_id=actor_id, changed_at=now,
                                    source=source, idempotency_key=key))
    return row


def _mark(actor, meeting_id: int, records, source: str) -> list[Attendance]:
    meeting = get_meeting(meeting_id)
    check_can_mark(actor, meeting)
    enrolment_ids = set(db.session.scalars(select(Enrolment.id).where(
        Enrolment.run_id == meeting.run_id, Enrolment.status == CONFIRMED)))
    wanted = _parse_records(records, enrolment_ids)
    keys = {w.key for w in wanted if w.key}
    applied = set(db.session.scalars(select(AttendanceReceipt.idempotency_key).where(
        AttendanceReceipt.idempotency_key.in_(keys)))) if keys else set()
    current = {a.enrolment_id: (a.id, a.status, a.note) for a in db.session.scalars(select(Attendance).where(
        Attendance.meeting_id == meeting.id, Attendance.enrolment_id.in_({w.enrolment_id for w in wanted})))}
    state = {eid: (status, note) for eid, (_id, status, note) in current.items()}
    now = utcnow()
    changes, receipts, changed = [], [], set()
    # In order: a trainee marked twice in one batch (present, then late) ends as the last mark.
    for w in wanted:
        if w.key:
            if w.key in applied:
                continue  # a replay: this mark was already counted
            applied.add(w.key)
            receipts.append({"idempotency_key": w.key, "meeting_id": meeting.id, "enrolment_id": w.enrolment_id,
                             "received_at": now})
        old = state.get(w.enrolment_id)
        if old == (w.status, w.note):
            continue
        changes.append({"enrolment_id": w.enrolment_id, "meeting_id": meeting.id,
                        "old_status": old[0] if old else None, "new_status": w.status, "note": w.note,
                        "changed_by_id": actor.id, "changed_at": now, "source": source,
                        "idempotency_key": w.key})
        state[w.enrolment_id] = (w.status, w.note)
        changed.add(w.enrolment_id)
    # Bulk statements: the number of queries does not grow with the roster.
    common = {"marked_by_id": actor.id, "marked_at": now, "source": source}
    inserts = [{"enrolment_id": eid, "meeting_id": meeting.id, "status": state[eid][0], "note": state[eid][1],
                **common} for eid in changed if eid not in current]
    updates = [{"id": current[eid][0], "status": state[eid][0], "note": state[eid][1], **common}
               for eid in changed if eid in current]
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
        return []
    return list(db.session.scalars(select(Attendance).where(
        Attendance.meeting_id == meeting.id, Attendance.enrolment_id.in_(changed))))


def mark(actor, meeting_id: int, records: list[dict], *, source: str = "roster") -> list[Attendance]:
    """Set the status of several trainees at one meeting in one transaction.

    ``records``: [{enrolment_id, status, note?, idempotency_key?}]. A record whose
    idempotency key was already received is skipped, so offline replays count
    once. Nothing is saved if any record is invalid. Returns the changed records.
    The number of SQL statements does not grow with the number of records.
    """
    try:
        return _mark(actor, meeting_id, records, source)
    except IntegrityError:
        # Two deliveries of the same marks at once (PostgreSQL): the second finds the first's receipts.
        db.session.rollback()
    try:
        return _mark(actor, meeting_id, records, source)
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("Someone saved this roster at the same moment; please save again."),
                       code="concurrent_update") from None


def history(meeting: Meeting, *, limit: int = 1000) -> list[AttendanceChange]:
    """The audit trail of a meeting, newest first."""
    return list(db.session.scalars(
        select(AttendanceChange).where(AttendanceChange.meeting_id == meeting.id)
        .order_by(AttendanceChange.changed_at.desc(), AttendanceChange.id.desc()).limit(limit)
        .options(selectinload(AttendanceChange.changed_by),
                 selectinload(AttendanceChange.enrolment).selectinload(Enrolment.user))))


# --- the trainer's day -------------------------------------------------------

@dataclass
class TeachingDay:
    today: list[Meeting]
    upcoming: list[Meeting]
    runs: list[Run]
    confirmed: dict[int, int]  # run id -> confirmed trainees
    marked: dict[int, int]  # meeting id -> records taken


def _taught_meetings(user):
    stmt = select(Meeting).join(Run, Meeting.run_id == Run.id).where(Run.status != RunStatus.cancelled.value)
    if not is_admin(user):
        stmt = stmt.join(run_trainers, run_trainers.c.run_id == Run.id).where(run_trainers.c.user_id == user.id)
    return stmt.options(selectinload(Meeting.run).selectinload(Run.course),
                        selectinload(Meeting.run).selectinload(Run.trainers))


def teaching_day(user, *, now: datetime | None = None, upcoming_limit: int = 8) -> TeachingDay:
    """The meetings a trainer teaches today (in each run's time zone) and next,
    and the runs they teach. Admins see every run's meetings."""
    from ..catalogue.services import confirmed_counts
    now = now or utcnow()
    near = list(db.session.scalars(_taught_meetings(user).where(
        Meeting.starts_at >= now - timedelta(hours=38), Meeting.starts_at <= now + timedelta(hours=38))
        .order_by(Meeting.starts_at)))

    def is_today(m: Meeting) -> bool:
        tz = m.run.tz
        return m.starts_at.astimezone(tz).date() == now.astimezone(tz).date() or m.starts_at <= now < m.ends_at
    today = [m for m in near if is_today(m)]
    seen = {m.id for m in today}
    upcoming = [m for m in db.session.scalars(_taught_meetings(user).where(Meeting.starts_at > now)
                                              .order_by(Meeting.starts_at).limit(upcoming_limit + len(today)))
                if m.id not in seen][:upcoming_limit]
    runs_stmt = select(Run).where(Run.status != RunStatus.cancelled.value,
                                  Run.ends_on >= (now - timedelta(days=45)).date())
    if is_admin(user):
        runs_stmt = runs_stmt.where(Run.starts_on <= (now + timedelta(days=1)).date(),
                                    Run.ends_on >= (now - timedelta(days=1)).date())
    else:
        runs_stmt = runs_stmt.join(run_trainers, run_trainers.c.run_id == Run.id).where(
            run_trainers.c.user_id == user.id)
    runs = list(db.session.scalars(runs_stmt.order_by(Run.starts_on, Run.id).limit(100).options(
        selectinload(Run.course), selectinload(Run.meetings))))
    meeting_ids = [m.id for m in today + upcoming]
    marked = dict(db.session.execute(select(Attendance.meeting_id, func.count()).where(
        Attendance.meeting_id.in_(meeting_ids)).group_by(Attendance.meeting_id)).all()) if meeting_ids else {}
    confirmed = confirmed_counts({m.run_id for m in today + upcoming} | {r.id for r in runs})
    return TeachingDay(today, upcoming, runs, confirmed, marked)


# --- completion ----------------------------------------------------------------

@dataclass
class Progress:
    """Where one trainee stands against the course's completion rule. Weights
    are 1 per meeting, or minutes when the course weights by meeting length."""
    attended_weight: float = 0.0
    planned_weight: float = 0.0
    meetings_total: int = 0
    meetings_taken: int = 0  # meetings where attendance was taken for anyone
    counts: dict = field(default_factory=dict)  # status -> meetings, for this trainee
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
            100 * (self.attended_weight + self.remaining_weight) >= self.required_pct * self.planned_weight - 1e-9)

    @property
    def at_risk(self) -> bool:
        """The trainee can no longer reach the completion threshold."""
        return self.meetings_total > 0 and not self.can_still_reach


def _counts_as_attended(status: str, course: Course) -> bool:
    return status in ("present", "late") or (status == "excused" and course.excused_counts)


def progress_for(enrolment: Enrolment, meetings: list[Meeting], records: dict[int, Attendance],
                 taken_meeting_ids: set[int], *, course: Course | None = None,
                 now: datetime | None = None) -> Progress:
    """Attendance against every planned meeting of the run, not only past ones.

    A meeting still counts as open for the trainee (``remaining_weight``) while
    they have no record there, no attendance was taken there yet and the run
    has not ended."""
    course = course or enrolment.run.course
    now = now or utcnow()
    run_ended = bool(meetings) and max(m.ends_at for m in meetings) <= now
    result = Progress(meetings_total=len(meetings), required_pct=course.min_attendance_pct,
                      weighted=course.weight_by_length, run_ended=run_ended, excused_counts=course.excused_counts)
    for meeting in meetings:
        weight = meeting.minutes if course.weight_by_length else 1.0
        result.planned_weight += weight
        row = records.get(meeting.id)
        if meeting.id in taken_meeting_ids:
            result.meetings_taken += 1
        if row is not None:
            result.counts[row.status] = result.counts.get(row.status, 0) + 1
            if _counts_as_attended(row.status, course):
                result.attended_weight += weight
        elif meeting.id not in taken_meeting_ids and not run_ended:
            result.remaining_weight += weight
    return result


def _attendance_by_enrolment(enrolment_ids) -> dict[int, dict[int, Attendance]]:
    records: dict[int, dict[int, Attendance]] = {}
    if enrolment_ids:
        for row in db.session.scalars(select(Attendance).where(Attendance.enrolment_id.in_(list(enrolment_ids)))):
            records.setdefault(row.enrolment_id, {})[row.meeting_id] = row
    return records


def load_progress(enrolments: list[Enrolment], *, now: datetime | None = None) -> dict[int, Progress]:
    """Progress of many enrolments (possibly of several runs) in five queries,
    however many enrolments."""
    if not enrolments:
        return {}
    run_ids = {e.run_id for e in enrolments}
    runs = {r.id: r for r in db.session.scalars(select(Run).where(Run.id.in_(run_ids)).options(
        selectinload(Run.course)))}
    for e in enrolments:  # attach the runs so that e.run.course never costs a query later
        if "run" in inspect(e).unloaded:
            set_committed_value(e, "run", runs[e.run_id])
    meetings_by_run: dict[int, list[Meeting]] = {}
    for meeting in db.session.scalars(select(Meeting).where(Meeting.run_id.in_(run_ids)).order_by(Meeting.starts_at)):
        meetings_by_run.setdefault(meeting.run_id, []).append(meeting)
    meeting_ids = [m.id for ms in meetings_by_run.values() for m in ms]
    records = _attendance_by_enrolment([e.id for e in enrolments]) if meeting_ids else {}
    taken = set(db.session.scalars(select(Attendance.meeting_id).where(
        Attendance.meeting_id.in_(meeting_ids)).distinct())) if meeting_ids else set()
    return {e.id: progress_for(e, meetings_by_run.get(e.run_id, []), records.get(e.id, {}), taken,
                               course=runs[e.run_id].course, now=now)
            for e in enrolments}


@dataclass
class Eligibility:
    eligible: bool
    reason: str  # in words, shown to people
    code: str
    progress: Progress | None = None


def eligibility(enrolment: Enrolment, progress: Progress) -> Eligibility:
    """The completion rule, alone deciding certificate eligibility:
    every meeting taken (or the run ended), attendance at or above the course's
    minimum (present and late count, excused when the course says so), and the
    final assessment at or above the pass mark when the course has one."""
    course = enrolment.run.course
    if enrolment.status != CONFIRMED:
        return Eligibility(False, _("The enrolment is not confirmed."), "not_confirmed", progress)
    if progress.meetings_total == 0:
        return Eligibility(False, _("The run has no meetings."), "no_meetings", progress)
    if progress.meetings_taken < progress.meetings_total and not progress.run_ended:
        return Eligibility(False, _("Attendance has been taken at %(taken)s of %(total)s meetings and the run "
                                    "has not ended yet.", taken=progress.meetings_taken,
                                    total=progress.meetings_total), "incomplete", progress)
    if not progress.reached:
        reason = _("Attendance is %(pct)s%%, below the required %(min)s%%.",
                   pct=f"{progress.percent:g}", min=course.min_attendance_pct)
        if progress.counts.get("excused") and not course.excused_counts:
            reason += " " + _("Excused absences do not count as attendance for this course.")
        return Eligibility(False, reason, "attendance_below_minimum", progress)
    if course.pass_mark is not None:
        if enrolment.assessment_score is None:
            return Eligibility(False, _("The final assessment has no score yet."), "no_assessment", progress)
        if enrolment.assessment_score < course.pass_mark:
            return Eligibility(False, _("The assessment score %(score)s is below the pass mark %(mark)s.",
                                        score=enrolment.assessment_score, mark=course.pass_mark),
                               "assessment_failed", progress)
    return Eligibility(True, _("Completed with %(pct)s%% attendance.", pct=f"{progress.percent:g}"),
                       "eligible", progress)


def eligibility_for_run(run_id: int) -> list[tuple[Enrolment, Eligibility]]:
    """Every confirmed trainee of the run with the verdict, in a fixed number of queries."""
    enrolments = list(db.session.scalars(select(Enrolment).where(
        Enrolment.run_id == run_id, Enrolment.status == CONFIRMED
    ).options(selectinload(Enrolment.user), selectinload(Enrolment.run).selectinload(Run.course),
              selectinload(Enrolment.run).selectinload(Run.meetings))))
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
    meetings = list(db.session.scalars(select(Meeting).where(Meeting.run_id == enrolment.run_id)
                                       .order_by(Meeting.starts_at)))
    records = _attendance_by_enrolment([enrolment.id]).get(enrolment.id, {})
    return [(m, records.get(m.id)) for m in meetings], eligibility(enrolment, progress)


def set_assessment(actor, enrolment_id: int, score: int | None) -> Enrolment:
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


def set_assessments(actor, run_id: int, scores: dict[int, int | None]) -> int:
    """Several scores of one run in one transaction; returns how many changed."""
    run = get_run(run_id)
    if not can(actor, "view_roster", run):
        raise Forbidden(_("Only the run's trainers and admins can enter assessment scores."))
    enrolments = {e.id: e for e in db.session.scalars(select(Enrolment).where(
        Enrolment.run_id == run.id, Enrolment.status == CONFIRMED, Enrolment.id.in_(list(scores))))}
    changed = 0
    for enrolment_id, score in scores.items():
        enrolment = enrolments.get(enrolment_id)
        if enrolment is None:
            raise ValidationFailed(_("Enrolment %(id)s is not a confirmed trainee of this run.", id=enrolment_id),
                                   fields={f"score-{enrolment_id}": "unknown"})
        if score is not None and (isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100):
            raise ValidationFailed(_("The score must be a whole number from 0 to 100."),
                                   fields={f"score-{enrolment_id}": "out of range"})
        if enrolment.assessment_score != score:
            record(actor, "assessment.set", enrolment, f"{enrolment.assessment_score} -> {score}")
            enrolment.assessment_score = score
            changed += 1
    db.session.commit()
    return changed
