"""Catalogue: courses, runs, meetings and categories, and the rules that keep
them possible (the commands; each public one is a unit of work).

Beside it: ``parsing`` (input checks shared by forms and the API), ``seats``
(the seat read model), ``queries`` (what the pages show), ``search`` (the
listing) and ``calendar`` (iCalendar)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from .. import content_i18n, signals
from ..accounts.models import User
from ..accounts.services import new_calendar_token
from ..audit import record
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..transactions import unit_of_work
from .models import Category, Course, Level, Meeting, Mode, Run, RunStatus
from .parsing import parse_date, parse_datetime, parse_int, parse_text, parse_timezone
from .seats import (
    confirmed_count,
)

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
LANGUAGES = ("en", "zh", "en+zh", "de")


# --- courses ---------------------------------------------------------------


def get_course(course_id: int) -> Course:
    course = db.session.get(Course, course_id)
    if course is None:
        raise NotFound(_("No such course."))
    return course


def category_by_slug_or_name(value: str | None) -> Category | None:
    if not value:
        return None
    value = value.strip()
    slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or value
    category = db.session.scalar(
        select(Category).where((Category.slug == slug) | (Category.name == value) | (Category.name_zh == value))
    )
    if category is None:
        category = Category(slug=slug[:64], name=value[:120])
        db.session.add(category)
        db.session.flush()
    return category


COURSE_FIELDS = (
    "code",
    "title",
    "summary",
    "description",
    "outcomes",
    "prerequisites",
    "audience",
    "category",
    "level",
    "hours",
    "language",
    "min_attendance_pct",
    "excused_counts",
    "weight_by_length",
    "pass_mark",
    "validity_months",
    "auto_issue",
    "published",
    "prerequisite_course_id",
    "original_language",
    "title_i18n",
    "summary_i18n",
    "description_i18n",
    "outcomes_i18n",
    "prerequisites_i18n",
    "audience_i18n",
)
COURSE_TEXT_LIMITS = {
    "title": 200,
    "summary": 500,
    "description": 50000,
    "outcomes": 20000,
    "prerequisites": 20000,
    "audience": 20000,
}


def _apply_course(course: Course, data: dict[str, Any], *, creating: bool) -> None:
    if creating or "code" in data:
        code = parse_text(data.get("code"), "code", max_length=32, required=True)
        if not CODE_RE.match(code):
            raise ValidationFailed(
                _("code may hold letters, digits, dot, dash and underscore only."), fields={"code": "invalid"}
            )
        clash = db.session.scalar(select(Course.id).where(func.lower(Course.code) == code.lower()))
        if clash is not None and clash != course.id:
            raise Conflict(
                _("A course with code %(code)s already exists.", code=code), code="code_taken", fields={"code": "taken"}
            )
        course.code = code
    # Title, summary, description, outcomes, prerequisites, audience: in both languages.
    content_i18n.apply_texts(course, data, COURSE_TEXT_LIMITS, creating=creating)
    if creating or "hours" in data:
        given_hours: Any = data.get("hours")  # a number, or text from a form: float() decides
        try:
            hours = float(given_hours)
        except (TypeError, ValueError):
            raise ValidationFailed(_("hours must be a number."), fields={"hours": "not a number"}) from None
        if isinstance(data.get("hours"), bool) or not 0 < hours <= 10000:
            raise ValidationFailed(_("hours must be more than 0 and at most 10000."), fields={"hours": "out of range"})
        course.hours = hours
    if "category" in data or creating:
        category = parse_text(data.get("category"), "category", max_length=120)
        course.category = category_by_slug_or_name(category)
    if "level" in data or creating:
        level = data.get("level") or Level.beginner.value
        if level not in {lv.value for lv in Level}:
            raise ValidationFailed(_("level must be beginner, intermediate or advanced."), fields={"level": "unknown"})
        course.level = level
    if "language" in data or creating:
        language = data.get("language") or "en"
        if language not in LANGUAGES:
            raise ValidationFailed(
                _("language must be one of %(value)s.", value=", ".join(LANGUAGES)), fields={"language": "unknown"}
            )
        course.language = language
    if "min_attendance_pct" in data or creating:
        value = data.get("min_attendance_pct")
        course.min_attendance_pct = 80 if value in (None, "") else parse_int(value, "min_attendance_pct", maximum=100)
    for field in ("pass_mark", "validity_months"):
        if field in data:
            value = data.get(field)
            setattr(
                course,
                field,
                None
                if value in (None, "")
                else parse_int(
                    value, field, minimum=0 if field == "pass_mark" else 1, maximum=100 if field == "pass_mark" else 600
                ),
            )
    for field in ("excused_counts", "weight_by_length", "auto_issue", "published"):
        if field in data:
            setattr(course, field, bool(data[field]))
        elif creating:
            setattr(course, field, field == "published")
    if "prerequisite_course_id" in data:
        value = data.get("prerequisite_course_id")
        if value in (None, "", 0):
            course.prerequisite_course_id = None
        else:
            prereq = db.session.get(Course, parse_int(value, "prerequisite_course_id", minimum=1, maximum=2**31))
            if prereq is None or prereq.id == course.id:
                raise ValidationFailed(
                    _("The prerequisite course does not exist."), fields={"prerequisite_course_id": "unknown"}
                )
            course.prerequisite_course_id = prereq.id


@unit_of_work
def create_course(actor: User, data: dict[str, Any]) -> Course:
    course = Course()
    _apply_course(course, data, creating=True)
    db.session.add(course)
    db.session.flush()
    record(actor, "course.create", course, course.code)
    db.session.commit()
    return course


@unit_of_work
def update_course(actor: User, course: Course, data: dict[str, Any]) -> Course:
    _apply_course(course, data, creating=False)
    record(actor, "course.update", course, ", ".join(sorted(k for k in data if k in COURSE_FIELDS)))
    db.session.commit()
    return course


@unit_of_work
def archive_course(actor: User, course: Course) -> Course:
    """Courses with history are archived, never deleted."""
    course.archived = True
    course.published = False
    record(actor, "course.archive", course, course.code)
    db.session.commit()
    return course


# --- runs --------------------------------------------------------------------


def get_run(run_id: int, *, lock: bool = False, with_course_and_meetings: bool = False) -> Run:
    """The run, or NotFound. ``with_course_and_meetings``: its course and meetings
    read in the same statement (for checks that read all three: one query, not three)."""
    if with_course_and_meetings and not lock:  # every enrolment's first read: built once
        run = db.session.execute(_run_course_meetings(), {"run_id": run_id}).unique().scalar_one_or_none()
        if run is None:
            raise NotFound(_("No such run."))
        return run
    stmt = select(Run).where(Run.id == run_id)
    if with_course_and_meetings:
        stmt = stmt.options(joinedload(Run.course), joinedload(Run.meetings))
    if lock:
        # Serialises everything that counts this run's seats (PostgreSQL row lock;
        # SQLite transactions here are BEGIN IMMEDIATE, which serialises writers).
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    run = db.session.execute(stmt).unique().scalar_one_or_none()
    if run is None:
        raise NotFound(_("No such run."))
    return run


_RUN_COURSE_MEETINGS: list[Select[Run]] = []


def _run_course_meetings() -> Select[Run]:
    if not _RUN_COURSE_MEETINGS:
        _RUN_COURSE_MEETINGS.append(
            select(Run).where(Run.id == bindparam("run_id")).options(joinedload(Run.course), joinedload(Run.meetings))
        )
    return _RUN_COURSE_MEETINGS[0]


def lock_run(run: Run) -> Run:
    """Take the run lock on a run already loaded in this transaction: its columns
    (status, capacity, ...) are read again under the lock, its course, meetings
    and trainers are not (nothing about seats is in them), so the lock is held
    for one statement fewer than three."""
    row = db.session.execute(_lock_run_statement(), {"run_id": run.id}).one_or_none()
    if row is None:
        raise NotFound(_("No such run."))
    # What a refresh of these columns does, without building its query each time (the enrolment hot path).
    for prop, value in zip(Run.__mapper__.column_attrs, row, strict=True):
        set_committed_value(run, prop.key, value)
    return run


_LOCK_RUN: list[Select[Any]] = []


def _lock_run_statement() -> Select[Any]:
    """Every column of the run (in ``column_attrs`` order), read ``FOR UPDATE``; built once."""
    if not _LOCK_RUN:
        columns = [prop.columns[0] for prop in Run.__mapper__.column_attrs]
        _LOCK_RUN.append(select(*columns).where(Run.id == bindparam("run_id")).with_for_update())
    return _LOCK_RUN[0]


def _trainers_by_email(emails: object) -> list[User]:
    if emails is None:
        return []
    if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
        raise ValidationFailed(
            _("trainer_emails must be a list of e-mail addresses."), fields={"trainer_emails": "invalid"}
        )
    wanted = {e.strip().lower() for e in emails if e.strip()}
    trainers = list(db.session.scalars(select(User).where(User.email.in_(wanted))))
    found = {t.email for t in trainers}
    missing = sorted(wanted - found)
    if missing:
        raise ValidationFailed(
            _("No user with e-mail %(value)s.", value=", ".join(missing)), fields={"trainer_emails": "unknown"}
        )
    not_trainers = sorted(t.email for t in trainers if t.role not in ("trainer", "admin"))
    if not_trainers:
        raise ValidationFailed(
            _("%(value)s is not a trainer.", value=", ".join(not_trainers)), fields={"trainer_emails": "not a trainer"}
        )
    return trainers


def _parse_meetings(items: object, tz: ZoneInfo) -> list[tuple[datetime, datetime, str]]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValidationFailed(_("meetings must be a list."), fields={"meetings": "invalid"})
    if len(items) > 500:
        raise ValidationFailed(_("A run has at most 500 meetings."), fields={"meetings": "too many"})
    parsed = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValidationFailed(_("meetings[%(i)s] must be an object.", i=i), fields={"meetings": "invalid"})
        starts = parse_datetime(item.get("starts_at"), f"meetings[{i}].starts_at", tz)
        ends = parse_datetime(item.get("ends_at"), f"meetings[{i}].ends_at", tz)
        if ends <= starts:
            raise ValidationFailed(
                _("meetings[%(i)s] ends before it starts.", i=i), fields={"meetings": "times out of order"}
            )
        if ends - starts > timedelta(hours=24):
            raise ValidationFailed(_("meetings[%(i)s] lasts more than 24 hours.", i=i), fields={"meetings": "too long"})
        title = parse_text(item.get("title"), f"meetings[{i}].title", max_length=200)
        parsed.append((starts, ends, title))
    return sorted(parsed)


def _check_meetings_inside(
    run: Run, meetings: Iterable[tuple[datetime, datetime] | tuple[datetime, datetime, str]]
) -> None:
    tz = run.tz
    for starts, ends, *_rest in meetings:
        if starts.astimezone(tz).date() < run.starts_on or ends.astimezone(tz).date() > run.ends_on:
            raise ValidationFailed(
                _(
                    "A meeting on %(when)s lies outside the run's dates (%(first)s to %(last)s).",
                    when=f"{starts.astimezone(tz):%Y-%m-%d %H:%M}",
                    first=run.starts_on.isoformat(),
                    last=run.ends_on.isoformat(),
                ),
                fields={"meetings": "outside the run"},
            )


def run_end(run: Run) -> datetime:
    if run.meetings:
        return max(m.ends_at for m in run.meetings)
    return datetime.combine(run.ends_on, time(23, 59, 59), tzinfo=run.tz)


def run_start(run: Run) -> datetime:
    if run.meetings:
        return min(m.starts_at for m in run.meetings)
    return datetime.combine(run.starts_on, time(0, 0), tzinfo=run.tz)


def enrol_deadline(run: Run) -> datetime:
    """Trainees may enrol until this moment: the run's own deadline, else the
    start of its first meeting."""
    return run.enrol_deadline or run_start(run)


def cancel_cutoff(run: Run) -> datetime:
    """After this moment only an admin can cancel a confirmed place: the run's
    own cut-off, else the start of its first meeting."""
    return run.cancel_cutoff or run_start(run)


RUN_FIELDS = (
    "starts_on",
    "ends_on",
    "capacity",
    "timezone",
    "location",
    "city",
    "mode",
    "enrol_deadline",
    "cancel_cutoff",
    "requires_approval",
    "status",
    "notes",
    "trainer_emails",
    "original_language",
    "location_i18n",
    "notes_i18n",
)
RUN_TEXT_LIMITS = {"location": 300, "notes": 5000}


def _apply_run(run: Run, data: dict[str, Any], *, creating: bool) -> None:
    if creating or "timezone" in data:
        run.timezone = parse_timezone(data.get("timezone"))
    tz = run.tz
    if creating or "starts_on" in data:
        run.starts_on = parse_date(data.get("starts_on"), "starts_on")
    if creating or "ends_on" in data:
        run.ends_on = parse_date(data.get("ends_on"), "ends_on")
    if run.ends_on < run.starts_on:
        raise ValidationFailed(_("The run ends before it starts."), fields={"ends_on": "before starts_on"})
    if creating or "capacity" in data:
        run.capacity = parse_int(data.get("capacity"), "capacity", minimum=1, maximum=100000)
    if creating or "mode" in data:
        mode = data.get("mode") or Mode.in_person.value
        if not isinstance(mode, str) or mode not in {m.value for m in Mode}:
            raise ValidationFailed(_("mode must be in_person, online or blended."), fields={"mode": "unknown"})
        run.mode = mode
    if creating or "city" in data:
        run.city = parse_text(data.get("city"), "city", max_length=100)
    # Location and notes: in both languages.
    content_i18n.apply_texts(run, data, RUN_TEXT_LIMITS, creating=creating)
    for field in ("enrol_deadline", "cancel_cutoff"):
        if field in data or creating:
            value = data.get(field)
            setattr(run, field, None if value in (None, "") else parse_datetime(value, field, tz))
    if "requires_approval" in data:
        run.requires_approval = bool(data["requires_approval"])
    elif creating:
        run.requires_approval = False
    if "status" in data or creating:
        status = data.get("status") or RunStatus.open.value
        if not isinstance(status, str) or status not in {s.value for s in RunStatus}:
            raise ValidationFailed(_("status must be draft, open, closed or cancelled."), fields={"status": "unknown"})
        if status == RunStatus.cancelled.value and run.status != RunStatus.cancelled.value and not creating:
            raise ValidationFailed(
                _("Cancel a run with its own action, which tells every trainee."), fields={"status": "use cancel"}
            )
        run.status = status
    if "trainer_emails" in data or creating:
        run.trainers = _trainers_by_email(data.get("trainer_emails") or [])


def _check_deadline(run: Run) -> None:
    if run.enrol_deadline is not None and run.enrol_deadline > run_end(run):
        raise ValidationFailed(
            _("The enrolment deadline can be at most the end of the run."), fields={"enrol_deadline": "after the run"}
        )


def check_meeting_times(run: Run) -> None:
    """The run's meetings as they are now (one just moved, say) lie within its dates and
    end no earlier than its enrolment deadline: the same rules as adding or editing them."""
    _check_meetings_inside(run, [(m.starts_at, m.ends_at) for m in run.meetings])
    _check_deadline(run)


@unit_of_work
def create_run(actor: User, course: Course, data: dict[str, Any]) -> Run:
    if course.archived:
        raise Conflict(_("This course is archived; runs cannot be added."), code="course_archived")
    run = Run(course_id=course.id)
    if data.get("original_language") is None:
        # Unless told: the language the location is written in, else the course's original.
        typed = " ".join(str(data.get(k) or "") for k in ("location", "notes"))
        data = {
            **data,
            "original_language": content_i18n.detect_language(typed, content_i18n.original_language(course)),
        }
    with db.session.no_autoflush:
        _apply_run(run, data, creating=True)
        meetings = _parse_meetings(data.get("meetings"), run.tz)
        _check_meetings_inside(run, meetings)
        run.meetings = [Meeting(starts_at=s, ends_at=e, title=t) for s, e, t in meetings]
        _check_deadline(run)
    run.course = course
    db.session.add(run)
    db.session.flush()
    record(actor, "run.create", run, f"{course.code} {run.starts_on}")
    db.session.commit()
    return run


@unit_of_work
def update_run(actor: User, run_id: int, data: dict[str, Any]) -> Run:
    """Edit a run; capacity never drops below the confirmed trainees, and added
    seats promote the waitlist in the same transaction (``signals.run_changed``)."""
    run = get_run(run_id, lock=True)
    if run.status == RunStatus.cancelled.value:
        raise Conflict(_("This run is cancelled and can no longer be changed."), code="run_cancelled")
    _apply_run(run, data, creating=False)
    confirmed = confirmed_count(run.id)
    if run.capacity < confirmed:
        raise ValidationFailed(
            _("Capacity cannot be below the %(confirmed)s confirmed trainees.", confirmed=confirmed),
            fields={"capacity": "below confirmed"},
        )
    if "meetings" in data:
        replace_meetings(run, _parse_meetings(data.get("meetings"), run.tz))
    check_meeting_times(run)
    signals.run_changed.send(run)
    record(actor, "run.update", run, ", ".join(sorted(k for k in data if k in RUN_FIELDS or k == "meetings")))
    db.session.commit()
    return run


def replace_meetings(run: Run, meetings: Iterable[tuple[datetime, datetime, str]]) -> None:
    """Keep the meetings given again (their titles updated), drop the others
    unless a higher domain refuses (``signals.meetings_removing``: attendance
    keeps meetings that have attendance), add the new ones."""
    wanted = {(s, e): t for s, e, t in meetings}
    dropped = [m for m in run.meetings if (m.starts_at, m.ends_at) not in wanted]
    if dropped:
        signals.meetings_removing.send(run, meetings=dropped)
    for meeting in list(run.meetings):
        key = (meeting.starts_at, meeting.ends_at)
        if key in wanted:
            meeting.title = wanted.pop(key)
        else:
            run.meetings.remove(meeting)
    for (s, e), t in wanted.items():
        run.meetings.append(Meeting(starts_at=s, ends_at=e, title=t))


@unit_of_work
def add_meeting(actor: User, run_id: int, starts_at: object, ends_at: object, title: str = "") -> Meeting:
    run = get_run(run_id, lock=True)
    ((s, e, t),) = _parse_meetings([{"starts_at": starts_at, "ends_at": ends_at, "title": title}], run.tz)
    _check_meetings_inside(run, [(s, e)])
    meeting = Meeting(run=run, starts_at=s, ends_at=e, title=t)
    db.session.add(meeting)
    db.session.flush()
    record(actor, "meeting.create", meeting, f"run {run.id}")
    db.session.commit()
    return meeting


@unit_of_work
def delete_meeting(actor: User, meeting: Meeting) -> None:
    """Remove a meeting, unless a higher domain refuses (``signals.meetings_removing``)."""
    signals.meetings_removing.send(meeting.run, meetings=[meeting])
    record(actor, "meeting.delete", meeting, f"run {meeting.run_id}")
    db.session.delete(meeting)
    db.session.commit()


# --- the personal calendar feed ------------------------------------------------


def reset_calendar_token(user: User) -> str:
    """A new secret feed URL; the old one stops working at once."""
    record(user, "calendar.reset", user, "")
    return new_calendar_token(user)


# --- categories --------------------------------------------------------------

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def get_category(category_id: int) -> Category:
    category = db.session.get(Category, category_id)
    if category is None:
        raise NotFound(_("No such category."))
    return category


@unit_of_work
def save_category(actor: User, category: Category | None, data: dict[str, Any]) -> Category:
    """Create (category None) or edit a category: a unique slug and a name in its
    original language (``name`` is the English name, ``name_zh`` the Chinese one;
    ``name_i18n`` {"en", "zh"} and ``original_language`` may be given instead)."""
    creating = category is None
    category = category or Category()
    given = data.get("name_i18n")
    if given is not None and (not isinstance(given, dict) or not set(given) <= set(content_i18n.LANGS)):
        raise ValidationFailed(
            _("%(field)s must be an object with the keys en and zh.", field="name_i18n"),
            fields={"name_i18n": "invalid"},
        )
    given = given or {}
    name = parse_text(given["en"] if "en" in given else data.get("name"), "name", max_length=120)
    name_zh: str | None = parse_text(given["zh"] if "zh" in given else data.get("name_zh"), "name_zh", max_length=120)
    original = data.get("original_language")
    if original is None:
        original = category.original_language if not creating else ("zh" if name_zh and not name else "en")
    if original not in content_i18n.LANGS:
        raise ValidationFailed(_("original_language must be en or zh."), fields={"original_language": "unknown"})
    if not (name if original == "en" else name_zh):
        raise ValidationFailed(
            _(
                "%(field)s is required in the original language (%(language)s).",
                field="name",
                language=_("English") if original == "en" else _("Chinese"),
            ),
            fields={"name" if original == "en" else "name_zh": "required"},
        )
    name_zh = name_zh or None
    slug = parse_text(data.get("slug"), "slug", max_length=64) or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not SLUG_RE.match(slug or ""):
        raise ValidationFailed(
            _("The slug may hold lower-case letters, digits and dashes only."), fields={"slug": "invalid"}
        )
    clash = db.session.scalar(select(Category.id).where(Category.slug == slug))
    if clash is not None and clash != category.id:
        raise Conflict(
            _("A category with slug %(slug)s already exists.", slug=slug), code="slug_taken", fields={"slug": "taken"}
        )
    category.name, category.name_zh, category.slug = name, name_zh, slug
    category.original_language = original
    if creating:
        db.session.add(category)
    db.session.flush()
    record(actor, "category.create" if creating else "category.update", category, slug)
    db.session.commit()
    return category


@unit_of_work
def delete_category(actor: User, category: Category) -> None:
    """Only a category no course uses can go."""
    used = db.session.scalar(select(func.count()).select_from(Course).where(Course.category_id == category.id))
    if used:
        raise Conflict(_("%(used)s course(s) use this category; move them first.", used=used), code="category_in_use")
    record(actor, "category.delete", category, category.slug)
    db.session.delete(category)
    db.session.commit()


# --- admin: courses and runs ---------------------------------------------------


def course_has_history(course: Course) -> bool:
    return (db.session.scalar(select(func.count()).select_from(Run).where(Run.course_id == course.id)) or 0) > 0


@unit_of_work
def delete_course(actor: User, course: Course) -> None:
    """A course that never had a run may be deleted; one with history is archived."""
    if course_has_history(course):
        raise Conflict(_("This course has runs; archive it instead."), code="course_has_history")
    record(actor, "course.delete", course, course.code)
    db.session.delete(course)
    db.session.commit()


@unit_of_work
def restore_course(actor: User, course: Course) -> Course:
    """Bring an archived course back, unpublished, for an admin to review."""
    course.archived = False
    record(actor, "course.restore", course, course.code)
    db.session.commit()
    return course
