"""Attendance: marking, the audit trail, and the completion rule that decides
certificate eligibility."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..catalogue.models import Course, Meeting, Run
from ..enrolment.models import Enrolment, EnrolmentStatus
from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..permissions import can
from ..types import utcnow
from .models import Attendance, AttendanceChange, AttendanceStatus

STATUSES = {s.value for s in AttendanceStatus}


def get_meeting(meeting_id: int) -> Meeting:
    meeting = db.session.scalar(select(Meeting).where(Meeting.id == meeting_id).options(
        selectinload(Meeting.run).selectinload(Run.trainers),
        selectinload(Meeting.run).selectinload(Run.course)))
    if meeting is None:
        raise NotFound("No such meeting.")
    return meeting


def roster(meeting: Meeting) -> list[tuple[Enrolment, Attendance | None]]:
    """Confirmed trainees of the meeting's run with their record, in two queries."""
    enrolments = list(db.session.scalars(select(Enrolment).where(
        Enrolment.run_id == meeting.run_id, Enrolment.status == EnrolmentStatus.confirmed.value
    ).options(selectinload(Enrolment.user))))
    records = {a.enrolment_id: a for a in db.session.scalars(select(Attendance).where(
        Attendance.meeting_id == meeting.id).options(selectinload(Attendance.marked_by)))}
    enrolments.sort(key=lambda e: e.user.display_name.casefold())
    return [(e, records.get(e.id)) for e in enrolments]


def mark(actor, meeting_id: int, records: list[dict], *, source: str = "roster") -> list[Attendance]:
    """Set the status of several trainees at one meeting in one transaction.

    ``records``: [{enrolment_id, status, note?, idempotency_key?}]. A record whose
    idempotency key was already applied is skipped, so offline replays count once.
    Nothing is saved if any record is invalid.
    """
    meeting = get_meeting(meeting_id)
    if not can(actor, "mark_attendance", meeting):
        if can(actor, "view_meeting_roster", meeting):
            raise Forbidden("Attendance can be marked from 30 minutes before the meeting starts.",
                            code="too_early")
        raise Forbidden("You do not teach this run.")
    if not isinstance(records, list) or not records:
        raise ValidationFailed("records must be a non-empty list.", fields={"records": "required"})
    if len(records) > 5000:
        raise ValidationFailed("At most 5000 records at once.", fields={"records": "too many"})
    enrolments = {e.id: e for e in db.session.scalars(select(Enrolment).where(
        Enrolment.run_id == meeting.run_id, Enrolment.status == EnrolmentStatus.confirmed.value))}
    wanted: dict[int, dict] = {}
    keys = []
    for i, item in enumerate(records):
        if not isinstance(item, dict):
            raise ValidationFailed(f"records[{i}] must be an object.", fields={"records": "invalid"})
        enrolment_id, status = item.get("enrolment_id"), item.get("status")
        if isinstance(enrolment_id, bool) or not isinstance(enrolment_id, int) or enrolment_id not in enrolments:
            raise ValidationFailed(f"records[{i}]: enrolment {enrolment_id!r} is not a confirmed trainee of this run.",
                                   fields={f"records[{i}].enrolment_id": "unknown"})
        if status not in STATUSES:
            raise ValidationFailed(f"records[{i}]: status must be present, late, absent or excused.",
                                   fields={f"records[{i}].status": "unknown"})
        note = item.get("note") or ""
        if not isinstance(note, str) or len(note) > 1000:
            raise ValidationFailed(f"records[{i}]: note must be text of at most 1000 characters.",
                                   fields={f"records[{i}].note": "invalid"})
        key = item.get("idempotency_key")
        if key is not None and (not isinstance(key, str) or not 8 <= len(key) <= 64):
            raise ValidationFailed(f"records[{i}]: idempotency_key must be 8 to 64 characters.",
                                   fields={f"records[{i}].idempotency_key": "invalid"})
        if key:
            keys.append(key)
        wanted[enrolment_id] = {"status": status, "note": note.strip(), "key": key}
    applied = set(db.session.scalars(select(AttendanceChange.idempotency_key).where(
        AttendanceChange.idempotency_key.in_(keys)))) if keys else set()
    existing = {a.enrolment_id: a for a in db.session.scalars(select(Attendance).where(
        Attendance.meeting_id == meeting.id, Attendance.enrolment_id.in_(list(wanted))))}
    now = utcnow()
    changed = []
    for enrolment_id, item in wanted.items():
        if item["key"] and item["key"] in applied:
            continue
        row = existing.get(enrolment_id)
        old = row.status if row else None
        if row is not None and row.status == item["status"] and row.note == item["note"]:
            continue
        if row is None:
            row = Attendance(enrolment_id=enrolment_id, meeting_id=meeting.id)
            db.session.add(row)
        row.status, row.note = item["status"], item["note"]
        row.marked_by_id, row.marked_at, row.source = actor.id, now, source
        db.session.add(AttendanceChange(enrolment_id=enrolment_id, meeting_id=meeting.id, old_status=old,
                                        new_status=item["status"], note=item["note"], changed_by_id=actor.id,
                                        changed_at=now, source=source, idempotency_key=item["key"]))
        changed.append(row)
    db.session.commit()
    return changed


# --- completion ----------------------------------------------------------------

@dataclass
class Progress:
    """Where one trainee stands against the course's completion rule."""
    attended_weight: float = 0.0
    planned_weight: float = 0.0
    meetings_total: int = 0
    meetings_taken: int = 0
    counts: dict = field(default_factory=dict)
    remaining_weight: float = 0.0

    @property
    def percent(self) -> float:
        return round(100 * self.attended_weight / self.planned_weight, 1) if self.planned_weight else 0.0

    @property
    def best_possible(self) -> float:
        if not self.planned_weight:
            return 0.0
        return round(100 * (self.attended_weight + self.remaining_weight) / self.planned_weight, 1)


def _counts_as_attended(status: str, course: Course) -> bool:
    return status in ("present", "late") or (status == "excused" and course.excused_counts)


def progress_for(enrolment: Enrolment, meetings: list[Meeting], records: dict[int, Attendance],
                 taken_meeting_ids: set[int]) -> Progress:
    """Attendance against every planned meeting of the run, not only past ones."""
    course = enrolment.run.course
    result = Progress(meetings_total=len(meetings))
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
        elif meeting.id not in taken_meeting_ids and meeting.ends_at > utcnow():
            result.remaining_weight += weight
    return result


def load_progress(enrolments: list[Enrolment]) -> dict[int, Progress]:
    """Progress of many enrolments (possibly of several runs) in three queries."""
    if not enrolments:
        return {}
    run_ids = {e.run_id for e in enrolments}
    meetings_by_run: dict[int, list[Meeting]] = {}
    for meeting in db.session.scalars(select(Meeting).where(Meeting.run_id.in_(run_ids)).order_by(Meeting.starts_at)):
        meetings_by_run.setdefault(meeting.run_id, []).append(meeting)
    meeting_ids = [m.id for ms in meetings_by_run.values() for m in ms]
    taken: set[int] = set()
    records: dict[int, dict[int, Attendance]] = {}
    if meeting_ids:
        enrolment_ids = [e.id for e in enrolments]
        for row in db.session.scalars(select(Attendance).where(Attendance.enrolment_id.in_(enrolment_ids))):
            records.setdefault(row.enrolment_id, {})[row.meeting_id] = row
        taken = set(db.session.scalars(select(Attendance.meeting_id).where(
            Attendance.meeting_id.in_(meeting_ids)).distinct()))
    return {e.id: progress_for(e, meetings_by_run.get(e.run_id, []), records.get(e.id, {}), taken)
            for e in enrolments}


@dataclass
class Eligibility:
    eligible: bool
    reason: str  # in words, shown to people
    code: str
    progress: Progress | None = None


def eligibility(enrolment: Enrolment, progress: Progress) -> Eligibility:
    """The completion rule, alone deciding certificate eligibility."""
    run, course = enrolment.run, enrolment.run.course
    if enrolment.status != EnrolmentStatus.confirmed.value:
        return Eligibility(False, "The enrolment is not confirmed.", "not_confirmed", progress)
    if progress.meetings_total == 0:
        return Eligibility(False, "The run has no meetings.", "no_meetings", progress)
    last_end = max(m.ends_at for m in run.meetings) if run.meetings else None
    run_ended = last_end is not None and last_end <= utcnow()
    if progress.meetings_taken < progress.meetings_total and not run_ended:
        return Eligibility(False, f"Attendance has been taken at {progress.meetings_taken} of "
                                  f"{progress.meetings_total} meetings and the run has not ended yet.",
                           "incomplete", progress)
    if progress.percent < course.min_attendance_pct:
        return Eligibility(False, f"Attendance {progress.percent:g}% is below the required "
                                  f"{course.min_attendance_pct}%.", "attendance_below_minimum", progress)
    if course.pass_mark is not None:
        if enrolment.assessment_score is None:
            return Eligibility(False, "The final assessment has no score yet.", "no_assessment", progress)
        if enrolment.assessment_score < course.pass_mark:
            return Eligibility(False, f"Assessment score {enrolment.assessment_score} is below the pass mark "
                                      f"{course.pass_mark}.", "assessment_failed", progress)
    return Eligibility(True, f"Completed with {progress.percent:g}% attendance.", "eligible", progress)


def eligibility_for_run(run_id: int) -> list[tuple[Enrolment, Eligibility]]:
    enrolments = list(db.session.scalars(select(Enrolment).where(
        Enrolment.run_id == run_id, Enrolment.status == EnrolmentStatus.confirmed.value
    ).options(selectinload(Enrolment.user), selectinload(Enrolment.run).selectinload(Run.course),
              selectinload(Enrolment.run).selectinload(Run.meetings))))
    progress = load_progress(enrolments)
    return [(e, eligibility(e, progress[e.id])) for e in enrolments]


def set_assessment(actor, enrolment_id: int, score: int | None) -> Enrolment:
    enrolment = db.session.get(Enrolment, enrolment_id)
    if enrolment is None:
        raise NotFound("No such enrolment.")
    if not can(actor, "view_roster", enrolment.run):
        raise Forbidden("You do not teach this run.")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100):
        raise ValidationFailed("The score must be a whole number from 0 to 100.", fields={"score": "out of range"})
    enrolment.assessment_score = score
    db.session.commit()
    return enrolment
