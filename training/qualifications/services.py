"""Qualifications: the rules.

- Skills carry a level scale (default I-L-U-O, four levels) and an optional
  validity in months; positions carry requirements (skill, minimum level,
  people needed per shift) and the people who work them.
- A grant's state on a date comes from ``models.grant_state`` only. A person
  is *qualified* for (skill, level) on a date when a grant of that skill at that
  level or higher is valid or expiring on it; *expiring* when every such grant
  lapses within the window (``QUALIFICATION_EXPIRING_DAYS``, default 90).
  Expired and revoked grants stay visible and count as not qualified.
- Certificates create, revoke and replace their grants in their own
  transaction through ``training.signals`` (receivers at the bottom; they
  never commit).
- Each public function that changes data is one unit of work: it checks
  access, validates, writes, commits once, and on a domain error leaves the
  session clean and raises a ``training.errors`` error.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from dateutil.relativedelta import relativedelta
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from .. import mail, signals
from ..accounts.models import Role, User
from ..audit import record
from ..catalogue.models import Course, Run, RunStatus
from ..catalogue.services import enrol_deadline
from ..certificates.documents import DocumentMissing
from ..certificates.models import Certificate
from ..enrolment import services as enrolment_services
from ..enrolment.models import Enrolment
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..permissions import Action, Viewer, can
from ..transactions import unit_of_work
from ..types import org_today, utcnow
from . import evidence as evidence_files
from .models import (
    DEFAULT_LEVELS,
    MAX_LEVELS,
    CourseSkill,
    Grant,
    GrantSource,
    Position,
    PositionPerson,
    PositionRequirement,
    QualificationReminder,
    QualificationState,
    Skill,
    grant_state,
)

CODE_RE = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
REMINDER_DAYS = (90, 30, 7)
MAX_EVIDENCE = 2000
MAX_IDS = 5000
MAX_ID = 2**31 - 1  # ids beyond a 32-bit integer exist nowhere (and SQLite would overflow on them)


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


REMINDER_SUBJECT = _l("Your qualification %(skill)s expires on %(date)s")
REMINDER_SUBJECT_ADMIN = _l("Qualification expiring: %(person)s, %(skill)s on %(date)s")


def expiring_window() -> int:
    return int(current_app.config.get("QUALIFICATION_EXPIRING_DAYS", 90))


# --- input checks -------------------------------------------------------------------


def _fail(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field_name: message})


def _text(data: dict[str, Any], name: str, limit: int, *, required: bool = False, default: str = "") -> str:
    value = data.get(name, default)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _fail(name, _("%(field)s must be text.", field=name))
    value = " ".join(value.split()) if "\n" not in value else value.strip()
    if required and not value:
        raise _fail(name, _("%(field)s is required.", field=name))
    if len(value) > limit:
        raise _fail(name, _("%(field)s is longer than %(n)s characters.", field=name, n=limit))
    return value


def _int(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
            value = int(value.strip())
        else:
            raise _fail(name, _("%(field)s must be a whole number.", field=name))
    if not low <= value <= high:
        raise _fail(name, _("%(field)s must be between %(low)s and %(high)s.", field=name, low=low, high=high))
    return value


def parse_date(value: object, name: str = "on") -> date:
    """A YYYY-MM-DD date between 1970 and 2200, or a 422 naming the field."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise _fail(name, _("%(field)s must be a date (YYYY-MM-DD).", field=name))
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        raise _fail(name, _("%(field)s must be a date (YYYY-MM-DD).", field=name)) from None
    if not 1970 <= parsed.year <= 2200:
        raise _fail(name, _("%(field)s must be between 1970 and 2200.", field=name))
    return parsed


def on_date(value: object) -> date:
    """The date asked for, default today in the organisation's zone."""
    return org_today() if value in (None, "") else parse_date(value)


def _code(data: dict[str, Any]) -> str:
    code = data.get("code")
    if not isinstance(code, str) or not CODE_RE.fullmatch(code.strip()):
        raise _fail("code", _("The code must be 1 to 32 letters, digits, dots, dashes or underscores."))
    return code.strip()


def _levels(value: object) -> list[dict[str, Any]]:
    if value is None:
        return [dict(level) for level in DEFAULT_LEVELS]
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LEVELS:
        raise _fail("levels", _("Give 1 to %(n)s levels.", n=MAX_LEVELS))
    levels = []
    for i, item in enumerate(value, 1):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise _fail("levels", _("Each level is a name or an object with code, name and name_zh."))
        name = _text(item, "name", 100, required=True)
        levels.append({"code": _text(item, "code", 8) or str(i), "name": name, "name_zh": _text(item, "name_zh", 100)})
    return levels


def _validity(value: object) -> int | None:
    return None if value is None else _int(value, "validity_months", 1, 600)


def _commit_or_conflict(message: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(message, code="duplicate") from None


def _check(actor: Viewer, action: Action, obj: object = None, message: str | None = None) -> None:
    if not can(actor, action, obj):
        raise Forbidden(message or _("You are not allowed to do this."))


# --- skills ------------------------------------------------------------------------


def _skill_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": _code(data),
        "name": _text(data, "name", 200, required=True),
        "name_zh": _text(data, "name_zh", 200),
        "category": _text(data, "category", 100),
        "levels": _levels(data.get("levels")),
        "validity_months": _validity(data.get("validity_months")),
    }


def _code_taken(model: type[Skill] | type[Position], code: str, own_id: int | None = None) -> bool:
    stmt = select(model.id).where(model.code == code)
    if own_id is not None:
        stmt = stmt.where(model.id != own_id)
    return db.session.scalar(stmt.limit(1)) is not None


@unit_of_work
def create_skill(actor: User, data: dict[str, Any]) -> Skill:
    _check(actor, "manage_qualifications", message=_("Only an admin can define skills."))
    fields = _skill_fields(data)
    skill = Skill(**fields)
    if _code_taken(Skill, skill.code):
        raise Conflict(
            _("A skill with the code %(code)s exists already.", code=skill.code),
            code="duplicate",
            fields={"code": "taken"},
        )
    db.session.add(skill)
    db.session.flush()
    record(actor, "skill.create", skill, skill.code)
    _commit_or_conflict(_("A skill with the code %(code)s exists already.", code=skill.code))
    return skill


def highest_level_in_use(skill_id: int) -> int:
    """The highest level any grant, course or position uses of the skill (0: none)."""
    found = [
        db.session.scalar(select(func.max(model.level)).where(model.skill_id == skill_id))
        for model in (Grant, CourseSkill, PositionRequirement)
    ]
    return max([n for n in found if n is not None], default=0)


@unit_of_work
def update_skill(actor: User, skill_id: object, data: dict[str, Any]) -> Skill:
    """Change a skill's code, names, category, level scale or validity. The scale may
    not lose a level that a grant, a course or a position uses; a new validity applies
    to grants made from now on (existing grants keep their dates)."""
    _check(actor, "manage_qualifications", message=_("Only an admin can change skills."))
    skill = db.session.get(Skill, skill_id, with_for_update=True) if _is_id(skill_id) else None
    if skill is None:
        raise NotFound(_("No such skill."))
    fields = _skill_fields(data)
    in_use = highest_level_in_use(skill.id)
    if len(fields["levels"]) < in_use:
        raise _fail(
            "levels", _("Level %(n)s is in use (grants, courses or positions): keep at least %(n)s levels.", n=in_use)
        )
    if _code_taken(Skill, fields["code"], skill.id):
        raise Conflict(
            _("A skill with the code %(code)s exists already.", code=fields["code"]),
            code="duplicate",
            fields={"code": "taken"},
        )
    changed = sorted(k for k, v in fields.items() if getattr(skill, k) != v)
    for key, value in fields.items():
        setattr(skill, key, value)
    record(actor, "skill.update", skill, f"{skill.code}: {', '.join(changed) or 'no change'}")
    _commit_or_conflict(_("A skill with the code %(code)s exists already.", code=skill.code))
    return skill


def list_skills() -> list[Skill]:
    return list(db.session.scalars(select(Skill).order_by(Skill.code)))


def get_skill(skill_id: object) -> Skill:
    skill = db.session.get(Skill, skill_id) if _is_id(skill_id) else None
    if skill is None:
        raise NotFound(_("No such skill."), fields={"skill_id": "unknown"})
    return skill


def skill_by_code(code: str) -> Skill:
    skill = db.session.scalar(select(Skill).where(Skill.code == code)) if isinstance(code, str) else None
    if skill is None:
        raise NotFound(_("No such skill."), fields={"skill": "unknown"})
    return skill


def _skill_level(item: dict[str, Any], index: int, key: str = "grants") -> tuple[Skill, int]:
    if not isinstance(item, dict):
        raise _fail(key, _("Item %(n)s must be an object.", n=index))
    skill_id = item.get("skill_id")
    skill = db.session.get(Skill, skill_id) if _is_id(skill_id) else None
    if skill is None:
        raise _fail(key, _("Item %(n)s: no such skill.", n=index))
    return skill, _int(item.get("level"), "level", 1, skill.level_count)


@unit_of_work
def set_course_skills(actor: User, course_id: int, data: dict[str, Any]) -> list[CourseSkill]:
    """Replace the skills that completing the course grants."""
    _check(actor, "manage_qualifications", message=_("Only an admin can change what a course grants."))
    course = db.session.get(Course, course_id)
    if course is None:
        raise NotFound(_("No such course."))
    items = data.get("grants")
    if not isinstance(items, list) or len(items) > 300:
        raise _fail("grants", _("grants must be a list of at most 300 {skill_id, level} objects."))
    wanted: dict[int, int] = {}
    for i, item in enumerate(items, 1):
        skill, level = _skill_level(item, i)
        if skill.id in wanted:
            raise _fail("grants", _("Skill %(code)s is listed twice.", code=skill.code))
        wanted[skill.id] = level
    existing = {
        cs.skill_id: cs for cs in db.session.scalars(select(CourseSkill).where(CourseSkill.course_id == course.id))
    }
    for skill_id, cs in existing.items():
        if skill_id not in wanted:
            db.session.delete(cs)
    for skill_id, level in wanted.items():
        if skill_id in existing:
            existing[skill_id].level = level
        else:
            db.session.add(CourseSkill(course_id=course.id, skill_id=skill_id, level=level))
    record(actor, "course.skills", course, ", ".join(f"{k}:{v}" for k, v in sorted(wanted.items())))
    _commit_or_conflict(_("The course's skills were changed by someone else; try again."))
    return course_skills(course.id)


def course_skills(course_id: int) -> list[CourseSkill]:
    return list(
        db.session.scalars(
            select(CourseSkill)
            .where(CourseSkill.course_id == course_id)
            .options(selectinload(CourseSkill.skill))
            .order_by(CourseSkill.skill_id)
        )
    )


# --- positions -------------------------------------------------------------------------


def _requirements(data: dict[str, Any]) -> list[tuple[int, int, int]]:
    items = data.get("requirements", [])
    if not isinstance(items, list) or len(items) > 300:
        raise _fail("requirements", _("requirements must be a list of at most 300 objects."))
    out, seen = [], set()
    for i, item in enumerate(items, 1):
        skill, level = _skill_level(item, i, "requirements")
        if skill.id in seen:
            raise _fail("requirements", _("Skill %(code)s is listed twice.", code=skill.code))
        seen.add(skill.id)
        out.append((skill.id, level, _int(item.get("min_people", 1), "min_people", 0, 10000)))
    return out


def _position_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": _code(data),
        "name": _text(data, "name", 200, required=True),
        "name_zh": _text(data, "name_zh", 200),
        "site": _text(data, "site", 100),
        "department": _text(data, "department", 100),
    }


def _people_ids(data: dict[str, Any]) -> set[int] | None:
    """``user_ids`` (the API) or ``emails`` (the admin page); None when neither is given."""
    if "user_ids" in data:
        ids = data.get("user_ids")
        if not isinstance(ids, list) or len(ids) > MAX_IDS or not all(_is_id(i) for i in ids):
            raise _fail("user_ids", _("user_ids must be a list of user ids."))
        wanted = set(ids)
        if len(wanted) != len(ids):
            raise _fail("user_ids", _("A person is listed twice."))
        found = set(db.session.scalars(select(User.id).where(User.id.in_(wanted)))) if wanted else set()
        if found != wanted:
            raise _fail("user_ids", _("No such user: %(ids)s.", ids=", ".join(map(str, sorted(wanted - found)))))
        return wanted
    if "emails" in data:
        emails = data.get("emails")
        if not isinstance(emails, list) or len(emails) > MAX_IDS or not all(isinstance(e, str) for e in emails):
            raise _fail("emails", _("emails must be a list of e-mail addresses."))
        wanted_emails = {e.strip().lower() for e in emails if e.strip()}
        if not wanted_emails:
            return set()
        rows = db.session.execute(select(User.id, User.email).where(func.lower(User.email).in_(wanted_emails))).all()
        unknown = wanted_emails - {r.email.lower() for r in rows}
        if unknown:
            raise _fail(
                "emails", _("No account has the e-mail address %(emails)s.", emails=", ".join(sorted(unknown)[:10]))
            )
        return {r.id for r in rows}
    return None


def _set_people(position: Position, wanted: set[int], actor: User) -> None:
    current = (
        {
            p.user_id: p
            for p in db.session.scalars(select(PositionPerson).where(PositionPerson.position_id == position.id))
        }
        if position.id
        else {}
    )
    for user_id, row in current.items():
        if user_id not in wanted:
            db.session.delete(row)
    for user_id in sorted(wanted - current.keys()):
        db.session.add(PositionPerson(position_id=position.id, user_id=user_id, assigned_by_id=actor.id))


@unit_of_work
def create_position(actor: User, data: dict[str, Any]) -> Position:
    """A position with its requirements (and, when given, its people: ``user_ids`` or ``emails``)."""
    _check(actor, "manage_qualifications", message=_("Only an admin can define positions."))
    fields = _position_fields(data)
    position = Position(**fields)
    for skill_id, level, min_people in _requirements(data):
        position.requirements.append(PositionRequirement(skill_id=skill_id, level=level, min_people=min_people))
    people = _people_ids(data)
    if _code_taken(Position, position.code):
        raise Conflict(
            _("A position with the code %(code)s exists already.", code=position.code),
            code="duplicate",
            fields={"code": "taken"},
        )
    db.session.add(position)
    db.session.flush()
    if people:
        _set_people(position, people, actor)
    record(actor, "position.create", position, position.code)
    _commit_or_conflict(_("A position with the code %(code)s exists already.", code=position.code))
    return get_position(position.id)


@unit_of_work
def update_position(actor: User, position_id: object, data: dict[str, Any]) -> Position:
    """Change a position's code, names, site, department and requirements (replaced by the
    list given) and, when given, its people."""
    _check(actor, "manage_qualifications", message=_("Only an admin can change positions."))
    position = db.session.get(Position, position_id, with_for_update=True) if _is_id(position_id) else None
    if position is None:
        raise NotFound(_("No such position."))
    fields = _position_fields(data)
    wanted = {skill_id: (level, min_people) for skill_id, level, min_people in _requirements(data)}
    people = _people_ids(data)
    if _code_taken(Position, fields["code"], position.id):
        raise Conflict(
            _("A position with the code %(code)s exists already.", code=fields["code"]),
            code="duplicate",
            fields={"code": "taken"},
        )
    for key, value in fields.items():
        setattr(position, key, value)
    current = {r.skill_id: r for r in position.requirements}
    for skill_id, row in current.items():
        if skill_id not in wanted:
            position.requirements.remove(row)
    for skill_id, (level, min_people) in wanted.items():
        if skill_id in current:
            current[skill_id].level, current[skill_id].min_people = level, min_people
        else:
            position.requirements.append(PositionRequirement(skill_id=skill_id, level=level, min_people=min_people))
    if people is not None:
        _set_people(position, people, actor)
    record(
        actor,
        "position.update",
        position,
        f"{position.code}: "
        + ", ".join(f"{k}:{lv}x{n}" for k, (lv, n) in sorted(wanted.items()))
        + (f"; people {len(people)}" if people is not None else ""),
    )
    _commit_or_conflict(_("A position with the code %(code)s exists already.", code=position.code))
    db.session.expire(position)
    return get_position(position.id)


def get_position(position_id: object) -> Position:
    position = None
    if _is_id(position_id):
        position = db.session.scalar(
            select(Position)
            .where(Position.id == position_id)
            .options(
                selectinload(Position.requirements).selectinload(PositionRequirement.skill),
                selectinload(Position.people),
            )
        )
    if position is None:
        raise NotFound(_("No such position."))
    return position


@unit_of_work
def set_position_people(actor: User, position_id: int, data: dict[str, Any]) -> Position:
    """Replace who works on the position."""
    _check(actor, "manage_qualifications", message=_("Only an admin can assign people to positions."))
    position = db.session.get(Position, position_id, with_for_update=True) if _is_id(position_id) else None
    if position is None:
        raise NotFound(_("No such position."))
    if "user_ids" not in data:
        raise _fail("user_ids", _("user_ids must be a list of user ids."))
    wanted = _people_ids(data)
    assert wanted is not None  # "user_ids" is in data
    _set_people(position, wanted, actor)
    record(actor, "position.people", position, ", ".join(map(str, sorted(wanted))))
    _commit_or_conflict(_("The position's people were changed by someone else; try again."))
    db.session.expire(position)
    return get_position(position.id)


@dataclass
class SkillRow:
    skill: Skill
    grants: int  # grants not revoked and not replaced (expired ones included)
    positions: int  # positions that require it
    courses: int  # courses whose certificate grants it


def skill_rows(viewer: Viewer) -> list[SkillRow]:
    """Every skill with how much uses it, in a fixed number of queries."""
    _check(viewer, "manage_qualifications")

    def counts(stmt: Select[int, int]) -> dict[int, int]:
        return dict(db.session.execute(stmt).tuples().all())

    grants = counts(
        select(Grant.skill_id, func.count())
        .where(Grant.revoked_at.is_(None), Grant.replaced_by_id.is_(None))
        .group_by(Grant.skill_id)
    )
    positions = counts(select(PositionRequirement.skill_id, func.count()).group_by(PositionRequirement.skill_id))
    courses = counts(select(CourseSkill.skill_id, func.count()).group_by(CourseSkill.skill_id))
    return [SkillRow(s, grants.get(s.id, 0), positions.get(s.id, 0), courses.get(s.id, 0)) for s in list_skills()]


def skill_for_edit(viewer: Viewer, skill_id: object) -> Skill:
    _check(viewer, "manage_qualifications")
    return get_skill(skill_id)


def positions_for_admin(viewer: Viewer) -> list[Position]:
    """Every position with its requirements and people loaded (three queries)."""
    _check(viewer, "manage_qualifications")
    return list(
        db.session.scalars(
            select(Position)
            .options(
                selectinload(Position.requirements).selectinload(PositionRequirement.skill),
                selectinload(Position.people),
            )
            .order_by(Position.site, Position.department, Position.code)
        )
    )


def position_for_edit(viewer: Viewer, position_id: object) -> tuple[Position, list[str]]:
    """The position and the e-mail addresses of its people."""
    _check(viewer, "manage_qualifications")
    position = get_position(position_id)
    ids = [p.user_id for p in position.people]
    emails = list(db.session.scalars(select(User.email).where(User.id.in_(ids)).order_by(User.email))) if ids else []
    return position, emails


def list_positions() -> list[Position]:
    return list(db.session.scalars(select(Position).order_by(Position.site, Position.department, Position.code)))


# --- grants ----------------------------------------------------------------------------


def _person(user_id: object) -> User:
    user = db.session.get(User, user_id) if _is_id(user_id) else None
    if user is None:
        raise NotFound(_("No such person."))
    return user


@unit_of_work
def grant(actor: User, user_id: int, data: dict[str, Any], upload: evidence_files.Upload | None = None) -> Grant:
    """A manual grant or level-up by an assessor or an admin, with evidence (a note, an
    attached PDF or image, or both: at least one); audited. The file goes write-once into
    the document store before the row is written; a refusal stores nothing."""
    _check(actor, "grant_qualification", message=_("Only an assessor or an admin can grant a qualification."))
    person = _person(user_id)
    skill_id = data.get("skill_id")
    if isinstance(skill_id, bool) or not isinstance(skill_id, int):
        raise _fail("skill_id", _("skill_id must be a whole number."))
    skill = db.session.get(Skill, skill_id) if _is_id(skill_id) else None
    if skill is None:
        raise _fail("skill_id", _("No such skill."))
    level = _int(data.get("level"), "level", 1, skill.level_count)
    source = data.get("source", GrantSource.assessment.value)
    if source not in (GrantSource.assessment.value, GrantSource.manual.value):
        raise _fail("source", _("source must be assessment or manual."))
    evidence = _text(data, "evidence", MAX_EVIDENCE, required=upload is None)
    today = org_today()
    valid_from = parse_date(data["valid_from"], "valid_from") if data.get("valid_from") not in (None, "") else today
    valid_until: date | None
    if data.get("valid_until") not in (None, ""):
        valid_until = parse_date(data["valid_until"], "valid_until")
    else:
        valid_until = valid_from + relativedelta(months=skill.validity_months) if skill.validity_months else None
    if valid_until is not None and valid_until < valid_from:
        raise _fail("valid_until", _("valid_until must not be before valid_from."))
    if person.id == actor.id:
        raise Forbidden(_("Nobody can grant a qualification to themself."), code="own_grant")
    checked = evidence_files.check(upload) if upload is not None else None
    row = Grant(
        user_id=person.id,
        skill_id=skill.id,
        level=level,
        source=source,
        evidence=evidence,
        granted_by_id=actor.id,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    if checked is not None:
        row.evidence_sha256 = evidence_files.store().put(checked.data)
        row.evidence_filename, row.evidence_mimetype = checked.filename, checked.mimetype
        row.evidence_size = checked.size
    db.session.add(row)
    db.session.flush()
    record(
        actor,
        "qualification.grant",
        row,
        f"{person.email} {skill.code} level {level} ({source})"
        + (f" file {checked.filename} sha256 {row.evidence_sha256}" if checked is not None else ""),
    )
    db.session.commit()
    return row


def evidence_file(viewer: Viewer, grant_id: object) -> tuple[Grant, bytes]:
    """A grant's attached file, for those who may see the person's qualifications."""
    row = db.session.get(Grant, grant_id) if _is_id(grant_id) else None
    if row is None:
        raise NotFound(_("No such qualification."))
    _check(viewer, "view_qualifications", row.user)
    if row.evidence_sha256 is None:
        raise NotFound(_("This qualification has no attached file."))
    try:
        data = evidence_files.store().get(row.evidence_sha256)
    except DocumentMissing:
        current_app.logger.error("evidence file %s of grant %s is missing or damaged", row.evidence_sha256, row.id)
        raise NotFound(
            _("The attached file is missing from the document store; tell an administrator."), code="document_missing"
        ) from None
    return row, data


def _grants_query(
    user_ids: Iterable[int] | None = None, skill_ids: Iterable[int] | None = None, on: date | None = None
) -> Select[Grant]:
    stmt = select(Grant).where(Grant.replaced_by_id.is_(None))
    if user_ids is not None:
        stmt = stmt.where(Grant.user_id.in_(list(user_ids)))
    if skill_ids is not None:
        stmt = stmt.where(Grant.skill_id.in_(list(skill_ids)))
    if on is not None:
        stmt = stmt.where(Grant.valid_from <= on)
    return stmt


@dataclass
class Row:
    grant: Grant
    state: QualificationState | None  # None: not valid yet on the date (renewals can list such a grant)


def person_grants(user_id: int, on: date) -> list[Row]:
    """Every grant of the person that exists on the date (valid, expiring, expired, revoked)."""
    rows = db.session.scalars(
        _grants_query([user_id], on=on).options(
            selectinload(Grant.skill), selectinload(Grant.certificate), selectinload(Grant.granted_by)
        )
    )
    window = expiring_window()
    out = [Row(g, g.state_on(on, window)) for g in rows]
    return sorted(
        [r for r in out if r.state is not None], key=lambda r: (r.grant.skill.code, -r.grant.level, r.grant.valid_from)
    )


def person_qualifications(viewer: Viewer, user_id: int, on: date) -> tuple[User, list[Row]]:
    person = _person(user_id)
    _check(viewer, "view_qualifications", person)
    return person, person_grants(person.id, on)


# --- who holds what: one computation for pages, API and exports -------------------------


@dataclass
class Cell:
    """A person's standing in one skill on a date."""

    level: int | None = None  # best level usable on the date (valid or expiring), else the last one held
    state: QualificationState | None = None
    valid_until: date | None = None
    valid_level: int = 0  # highest level valid (not expiring) on the date
    usable_level: int = 0  # highest level valid or expiring on the date

    def qualifies(self, level: int) -> QualificationState | None:
        """valid / expiring when qualified at ``level`` or higher, else None."""
        if self.valid_level >= level:
            return QualificationState.valid
        if self.usable_level >= level:
            return QualificationState.expiring
        return None


def _cells(grants: Iterable[GrantFacts], on: date, window: int) -> dict[tuple[int, int], Cell]:
    cells: dict[tuple[int, int], Cell] = {}
    shown: dict[tuple[int, int], tuple[int, int, int, date, date]] = {}
    for g in grants:
        state = grant_state(g.valid_from, g.valid_until, g.revoked_at, on, window)
        if state is None:
            continue
        key = (g.user_id, g.skill_id)
        cell = cells.setdefault(key, Cell())
        if state is QualificationState.valid:
            cell.valid_level = max(cell.valid_level, g.level)
        if state.qualifies:
            cell.usable_level = max(cell.usable_level, g.level)
        # What the cell shows: the best usable grant; else the latest lapsed one.
        rank = (
            1 if state.qualifies else 0,
            g.level if state.qualifies else 0,
            1 if state is QualificationState.valid else 0,
            g.valid_until or date.max,
            g.valid_from,
        )
        if key not in shown or rank > shown[key]:
            shown[key] = rank
            cell.level, cell.state, cell.valid_until = g.level, state, g.valid_until
    return cells


class GrantFacts(Protocol):
    """What decides who holds what: a Grant, or a row of _grant_columns."""

    @property
    def user_id(self) -> int: ...
    @property
    def skill_id(self) -> int: ...
    @property
    def level(self) -> int: ...
    @property
    def valid_from(self) -> date: ...
    @property
    def valid_until(self) -> date | None: ...
    @property
    def revoked_at(self) -> datetime | None: ...


def _grant_columns() -> Select[int, int, int, date, date | None, datetime | None]:
    return select(
        Grant.user_id, Grant.skill_id, Grant.level, Grant.valid_from, Grant.valid_until, Grant.revoked_at
    ).where(Grant.replaced_by_id.is_(None))


def cells_for(
    user_ids: Iterable[int], skill_ids: Iterable[int], on: date, min_level: int = 1
) -> dict[tuple[int, int], Cell]:
    users, skills = list(user_ids), list(skill_ids)
    if not users or not skills:
        return {}
    stmt = _grant_columns().where(Grant.skill_id.in_(skills), Grant.valid_from <= on)
    if len(users) <= 2000:
        stmt = stmt.where(Grant.user_id.in_(users))
    if min_level > 1:
        stmt = stmt.where(Grant.level >= min_level)
    wanted = set(users)
    rows = [r for r in db.session.execute(stmt) if r.user_id in wanted]
    return _cells(rows, on, expiring_window())


@dataclass
class Coverage:
    requirement: PositionRequirement
    qualified: list[int]
    expiring: list[int]

    @property
    def gap(self) -> int:
        return max(0, self.requirement.min_people - len(self.qualified))


def _coverage(positions: list[Position], cells: dict[tuple[int, int], Cell]) -> dict[int, list[Coverage]]:
    out: dict[int, list[Coverage]] = {}
    for position in positions:
        people = [p.user_id for p in position.people]
        items = []
        for req in position.requirements:
            qualified, expiring = [], []
            for user_id in people:
                cell = cells.get((user_id, req.skill_id))
                state = cell.qualifies(req.level) if cell else None
                if state is not None:
                    qualified.append(user_id)
                    if state is QualificationState.expiring:
                        expiring.append(user_id)
            items.append(Coverage(req, qualified, expiring))
        out[position.id] = items
    return out


def position_coverage(viewer: Viewer, position_id: int, on: date) -> tuple[Position, list[Coverage]]:
    """Per requirement: the position's people qualified on the date (expiring ones
    included, and also listed in ``expiring``) and the gap to ``min_people``."""
    _check(viewer, "view_matrix")
    position = get_position(position_id)
    cells = cells_for([p.user_id for p in position.people], [r.skill_id for r in position.requirements], on)
    return position, _coverage([position], cells)[position.id]


@dataclass
class Qualified:
    user: User
    level: int
    valid_until: date | None
    state: QualificationState


def qualified_for_skill(viewer: Viewer, skill: Skill, level: int, on: date) -> list[Qualified]:
    """Everyone qualified in the skill at ``level`` or higher on the date."""
    _check(viewer, "view_matrix")
    rows = list(
        db.session.execute(
            _grant_columns().where(Grant.skill_id == skill.id, Grant.level >= level, Grant.valid_from <= on)
        )
    )
    cells = _cells(rows, on, expiring_window())
    qualified = {user_id: cell for (user_id, _s), cell in cells.items() if cell.qualifies(level)}
    users = (
        {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(list(qualified)), User.active.is_(True)))}
        if qualified
        else {}
    )
    window = expiring_window()
    until: dict[int, date | None] = {}
    for r in rows:  # the last day of the grant that qualifies longest (None: no end)
        if r.user_id in users and grant_state(r.valid_from, r.valid_until, r.revoked_at, on, window) in (
            QualificationState.valid,
            QualificationState.expiring,
        ):
            current = until.get(r.user_id, date.min)
            until[r.user_id] = None if r.valid_until is None or current is None else max(current, r.valid_until)
    out = [
        Qualified(users[uid], cell.usable_level, until.get(uid), state)
        for uid, cell in qualified.items()
        if uid in users and (state := cell.qualifies(level)) is not None  # not None: ``qualified`` holds those
    ]
    return sorted(out, key=lambda q: (q.state is QualificationState.expiring, q.user.display_name.casefold()))


# --- the matrix ------------------------------------------------------------------------


@dataclass
class SkillColumn:
    skill: Skill
    level: int  # the lowest level a position in view requires
    required: int  # people needed per shift, summed over the positions in view
    qualified: int = 0  # people in view qualified at ``level`` on the date
    expiring: int = 0

    @property
    def gap(self) -> int:
        return max(0, self.required - self.qualified)


@dataclass
class Matrix:
    on: date
    site: str
    department: str
    position: Position | None
    positions: list[Position]
    people: list[User]
    columns: list[SkillColumn]
    cells: dict[tuple[int, int], Cell]
    coverage: dict[int, list[Coverage]]
    positions_of: dict[int, list[Position]] = field(default_factory=dict)
    sites: list[str] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)
    all_positions: list[Position] = field(default_factory=list)

    def cell(self, user_id: int, skill_id: int) -> Cell | None:
        return self.cells.get((user_id, skill_id))


def matrix(
    viewer: Viewer, *, site: str = "", department: str = "", position_id: int | None = None, on: date | None = None
) -> Matrix:
    """People x skills for a site, a department or one position on a date, with
    coverage per skill and per position. A fixed number of queries whatever the size."""
    _check(viewer, "view_matrix")
    on = on or org_today()
    all_positions = list_positions()
    position = None
    if position_id is not None:
        position = next((p for p in all_positions if p.id == position_id), None)
        if position is None:
            raise NotFound(_("No such position."))
    chosen = [
        p
        for p in all_positions
        if (position is None or p.id == position.id)
        and (not site or p.site == site)
        and (not department or p.department == department)
    ]
    ids = [p.id for p in chosen]
    if ids:
        db.session.scalars(
            select(Position)
            .where(Position.id.in_(ids))
            .options(selectinload(Position.requirements), selectinload(Position.people))
        ).all()
    skill_ids = sorted({r.skill_id for p in chosen for r in p.requirements})
    skills = {s.id: s for s in db.session.scalars(select(Skill).where(Skill.id.in_(skill_ids)))} if skill_ids else {}
    user_ids = sorted({pp.user_id for p in chosen for pp in p.people})
    people = list(db.session.scalars(select(User).where(User.id.in_(user_ids)))) if user_ids else []
    people.sort(key=lambda u: u.display_name.casefold())
    cells = cells_for(user_ids, skill_ids, on)
    coverage = _coverage(chosen, cells)
    columns = []
    for skill_id in sorted(skill_ids, key=lambda i: skills[i].code):
        reqs = [r for p in chosen for r in p.requirements if r.skill_id == skill_id]
        column = SkillColumn(skills[skill_id], min(r.level for r in reqs), sum(r.min_people for r in reqs))
        for user in people:
            state = cells[(user.id, skill_id)].qualifies(column.level) if (user.id, skill_id) in cells else None
            if state is not None:
                column.qualified += 1
                column.expiring += state is QualificationState.expiring
        columns.append(column)
    positions_of: dict[int, list[Position]] = defaultdict(list)
    for p in chosen:
        for pp in p.people:
            positions_of[pp.user_id].append(p)
    return Matrix(
        on=on,
        site=site,
        department=department,
        position=position,
        positions=chosen,
        people=people,
        columns=columns,
        cells=cells,
        coverage=coverage,
        positions_of=dict(positions_of),
        sites=sorted({p.site for p in all_positions if p.site}),
        departments=sorted({p.department for p in all_positions if p.department and (not site or p.site == site)}),
        all_positions=all_positions,
    )


# --- a person: what they may work on, what they miss ------------------------------------


@dataclass
class Gap:
    position: Position
    requirement: PositionRequirement
    cell: Cell | None
    run: Run | None


@dataclass
class PersonView:
    person: User
    on: date
    rows: list[Row]
    assigned: list[Position]
    may_work: list[Position]
    gaps: list[Gap]
    expiring: list[tuple[Position, PositionRequirement]]


def next_run_for(skill_id: int, level: int) -> Run | None:
    """The next run open for enrolment whose course grants the skill at ``level`` or higher."""
    now = utcnow()
    candidates = db.session.scalars(
        select(Run)
        .join(Course, Run.course_id == Course.id)
        .join(CourseSkill, CourseSkill.course_id == Course.id)
        .where(
            CourseSkill.skill_id == skill_id,
            CourseSkill.level >= level,
            Run.status == RunStatus.open.value,
            Course.published.is_(True),
            Course.archived.is_(False),
            Run.ends_on >= org_today(),
        )
        .options(selectinload(Run.meetings), selectinload(Run.course))
        .order_by(Run.starts_on, Run.id)
        .limit(20)
    )
    for run in candidates:
        if run.meetings and enrol_deadline(run) > now:
            return run
    return None


def person_view(viewer: Viewer, user_id: int, on: date) -> PersonView:
    person, rows = person_qualifications(viewer, user_id, on)
    positions = db.session.scalars(
        select(Position)
        .options(
            selectinload(Position.requirements).selectinload(PositionRequirement.skill), selectinload(Position.people)
        )
        .order_by(Position.site, Position.code)
    ).all()
    cells = _cells([r.grant for r in rows], on, expiring_window())
    assigned = [p for p in positions if any(pp.user_id == person.id for pp in p.people)]
    may_work, gaps, expiring = [], [], []
    runs: dict[tuple[int, int], Run | None] = {}
    for p in positions:
        states = [
            (r, cells[(person.id, r.skill_id)].qualifies(r.level) if (person.id, r.skill_id) in cells else None)
            for r in p.requirements
        ]
        if p.requirements and all(s is not None for _r, s in states):
            may_work.append(p)
        if p in assigned:
            for req, state in states:
                if state is None:
                    key = (req.skill_id, req.level)
                    if key not in runs:
                        runs[key] = next_run_for(*key)
                    gaps.append(Gap(p, req, cells.get((person.id, req.skill_id)), runs[key]))
                elif state is QualificationState.expiring:
                    expiring.append((p, req))
    return PersonView(person, on, rows, assigned, may_work, gaps, expiring)


def enrol_for_gap(actor: User, user_id: int, skill_id: object, level: object) -> Enrolment:
    """One click from a gap: enrol the person in the next open run that grants
    the skill, through the enrolment service (every enrolment rule applies:
    deadlines, seats and waitlist, approvals, prerequisites). Trainees enrol
    themselves, admins anyone."""
    person = _person(user_id)
    _check(actor, "enrol_for_gap", person, _("Only the person or an admin can enrol them."))
    skill = get_skill(_int(skill_id, "skill_id", 1, 2**31 - 1))
    level = _int(level, "level", 1, skill.level_count)
    run = next_run_for(skill.id, level)
    if run is None:
        raise NotFound(
            _("No open run grants %(skill)s at this level; it needs an assessment.", skill=skill.code), code="no_run"
        )
    source = "self" if person.id == actor.id else "admin"
    return enrolment_services.enrol(actor, run.id, person, source=source)


@dataclass
class WhoIsQualified:
    on: date
    positions: list[Position]
    skills: list[Skill]
    position: Position | None = None
    coverage: list[Coverage] = field(default_factory=list)
    candidates: list[tuple[User, QualificationState, bool]] = field(default_factory=list)  # (person, state, assigned)
    skill: Skill | None = None
    level: int = 1
    qualified: list[Qualified] = field(default_factory=list)
    missing: list[tuple[User, Position]] = field(
        default_factory=list
    )  # assigned where the skill is needed, not qualified
    names: dict[int, User] = field(default_factory=dict)


def who_is_qualified(
    viewer: Viewer, on: date, *, position_id: int | None = None, skill_id: int | None = None, level: int = 1
) -> WhoIsQualified:
    """For a position: its coverage and everyone who meets all its requirements
    on the date; for a skill at a level: who is qualified (valid, expiring) and
    who works where it is needed without it."""
    _check(viewer, "view_matrix")
    result = WhoIsQualified(on=on, positions=list_positions(), skills=list_skills())
    if position_id is not None:
        position = get_position(position_id)
        result.position = position
        skill_ids = [r.skill_id for r in position.requirements]
        rows = (
            list(db.session.execute(_grant_columns().where(Grant.skill_id.in_(skill_ids), Grant.valid_from <= on)))
            if skill_ids
            else []
        )
        cells = _cells(rows, on, expiring_window())
        result.coverage = _coverage([position], cells)[position.id]
        assigned = {p.user_id for p in position.people}
        everyone = {r.user_id for r in rows} | assigned
        candidates = {}
        for user_id in everyone:
            states = [
                cells[(user_id, r.skill_id)].qualifies(r.level) if (user_id, r.skill_id) in cells else None
                for r in position.requirements
            ]
            if states and all(s is not None for s in states):
                candidates[user_id] = (
                    QualificationState.expiring if QualificationState.expiring in states else QualificationState.valid
                )
        result.names = (
            {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(list(everyone))))} if everyone else {}
        )
        result.candidates = sorted(
            [
                (result.names[uid], state, uid in assigned)
                for uid, state in candidates.items()
                if result.names[uid].active
            ],
            key=lambda c: (not c[2], c[1] is QualificationState.expiring, c[0].display_name.casefold()),
        )
    elif skill_id is not None:
        skill = get_skill(skill_id)
        result.skill, result.level = skill, _int(level, "level", 1, skill.level_count)
        result.qualified = qualified_for_skill(viewer, skill, result.level, on)
        ok = {q.user.id for q in result.qualified}
        needing = db.session.execute(
            select(PositionPerson.user_id, PositionRequirement.position_id)
            .join(PositionRequirement, PositionRequirement.position_id == PositionPerson.position_id)
            .where(PositionRequirement.skill_id == skill.id, PositionRequirement.level >= result.level)
        ).all()
        positions = {p.id: p for p in result.positions}
        users = (
            {
                u.id: u
                for u in db.session.scalars(
                    select(User).where(User.id.in_([n.user_id for n in needing if n.user_id not in ok]))
                )
            }
            if needing
            else {}
        )
        result.missing = sorted(
            [(users[n.user_id], positions[n.position_id]) for n in needing if n.user_id in users],
            key=lambda m: (m[1].code, m[0].display_name.casefold()),
        )
    return result


# --- renewals ----------------------------------------------------------------------------


def renewals(within_days: int = 90, today: date | None = None) -> list[Row]:
    """Unrevoked grants that lapse within ``within_days`` or lapsed in the last
    year and that no later grant of the same skill (same level or higher) renews."""
    today = today or org_today()
    window = expiring_window()
    due = list(
        db.session.scalars(
            select(Grant)
            .where(
                Grant.replaced_by_id.is_(None),
                Grant.revoked_at.is_(None),
                Grant.valid_until.is_not(None),
                Grant.valid_until <= today + timedelta(days=within_days),
                Grant.valid_until >= today - timedelta(days=365),
            )
            .options(selectinload(Grant.user), selectinload(Grant.skill), selectinload(Grant.certificate))
            .order_by(Grant.valid_until, Grant.id)
        )
    )
    if not due:
        return []
    later = db.session.execute(
        _grant_columns().where(
            Grant.user_id.in_({g.user_id for g in due}),
            Grant.skill_id.in_({g.skill_id for g in due}),
            Grant.revoked_at.is_(None),
        )
    ).all()
    out = []
    for g in due:
        renewed = any(
            r.user_id == g.user_id
            and r.skill_id == g.skill_id
            and r.level >= g.level
            and (r.valid_until is None or r.valid_until > g.valid_until)
            for r in later
        )
        if not renewed:
            out.append(Row(g, grant_state(g.valid_from, g.valid_until, g.revoked_at, today, window)))
    return out


def send_renewal_reminders(actor: User | None = None, today: date | None = None) -> int:
    """Remind the person and the admins 90, 30 and 7 days before a grant expires,
    each reminder once (a row per grant and stage, unique). When several stages are
    due at once (a grant made late), only the nearest is sent and the earlier ones
    are recorded as passed. Mail goes out after the commit, in each reader's language.
    A function a scheduler may call; returns the number of reminders sent."""
    if actor is not None and not can(actor, "manage_qualifications"):
        raise Forbidden(_("Only an admin can send reminders."))
    today = today or org_today()
    rows = [
        r
        for r in renewals(max(REMINDER_DAYS), today)
        if r.grant.valid_until is not None and r.grant.valid_until >= today  # renewals() lists grants that end
    ]
    if not rows:
        return 0
    done = set(
        db.session.execute(
            select(QualificationReminder.grant_id, QualificationReminder.days_before).where(
                QualificationReminder.grant_id.in_([r.grant.id for r in rows])
            )
        ).all()
    )
    admins = list(db.session.scalars(select(User).where(User.role == Role.admin.value, User.active.is_(True))))
    sent = 0
    for row in rows:
        g = row.grant
        valid_until = g.valid_until
        assert valid_until is not None  # rows above all have an end date
        left = (valid_until - today).days
        stages = [d for d in REMINDER_DAYS if left <= d and (g.id, d) not in done]
        if not stages or not g.user.active:
            continue
        nearest = min(stages)
        recipients = [g.user] + [a for a in admins if a.id != g.user_id]
        for reader in recipients:
            locale = reader.locale or "en"
            context: dict[str, Any] = dict(
                person=g.user,
                reader=reader,
                grant=g,
                days=left,
                skill=g.skill.display_name(locale),
                level=g.skill.level_code(g.level),
                date=valid_until.isoformat(),
                for_admin=reader.id != g.user_id,
                url=_person_url(g.user_id),
            )
            subject = REMINDER_SUBJECT_ADMIN if reader.id != g.user_id else REMINDER_SUBJECT
            mail.queue(
                mail.build(
                    reader.email,
                    subject,
                    "qualification_expiring",
                    locale=locale,
                    subject_args={"skill": context["skill"], "date": context["date"], "person": g.user.display_name},
                    **context,
                )
            )
        for d in stages:
            db.session.add(
                QualificationReminder(grant_id=g.id, days_before=d, recipients=len(recipients) if d == nearest else 0)
            )
        sent += 1
    if sent:
        record(actor, "qualification.reminders", None, f"{sent} reminders")
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("Reminders are being sent by someone else; try again."), code="in_progress") from None
    return sent


def _person_url(user_id: int) -> str:
    from ..urls import external_url

    return external_url("qualifications.person", user_id=user_id)


# --- certificates: grants follow them in the same transaction ---------------------------


def _until(certificate: Certificate, skill: Skill) -> date | None:
    ends = [
        d
        for d in (
            certificate.expires_on,
            certificate.completed_on + relativedelta(months=skill.validity_months) if skill.validity_months else None,
        )
        if d is not None
    ]
    return min(ends) if ends else None


def _course_skills_in_transaction(course_id: int) -> list[CourseSkill]:
    """``course_skills``, read once per course and transaction: a bulk issue sends
    one signal per certificate, all of the same course, in one transaction."""
    transaction = db.session().get_transaction()
    cached = db.session.info.get("course_skills_of_transaction")
    if cached is None or cached[0] is not transaction:
        cached = db.session.info["course_skills_of_transaction"] = (transaction, {})
    by_course: dict[int, list[CourseSkill]] = cached[1]
    if course_id not in by_course:
        by_course[course_id] = course_skills(course_id)
    return by_course[course_id]


@signals.certificate_issued.connect
def _on_certificate_issued(certificate: Certificate, **_kw: object) -> None:
    enrolment = certificate.enrolment or db.session.get(Enrolment, certificate.enrolment_id)
    assert enrolment is not None  # a certificate's enrolment is a foreign key
    for cs in _course_skills_in_transaction(enrolment.run.course_id):
        db.session.add(
            Grant(
                user_id=enrolment.user_id,
                skill_id=cs.skill_id,
                level=cs.level,
                source=GrantSource.certificate.value,
                certificate_id=certificate.id,
                evidence=f"Certificate {certificate.code}",
                granted_by_id=certificate.issued_by_id,
                valid_from=certificate.completed_on,
                valid_until=_until(certificate, cs.skill),
            )
        )


@signals.certificate_revoked.connect
def _on_certificate_revoked(certificate: Certificate, **_kw: object) -> None:
    for g in db.session.scalars(
        select(Grant).where(Grant.certificate_id == certificate.id, Grant.revoked_at.is_(None))
    ):
        g.revoke(
            certificate.revoked_by_id,
            f"certificate revoked: {certificate.revoked_reason or ''}".strip(),
            at=certificate.revoked_at,
        )


@signals.certificate_superseded.connect
def _on_certificate_superseded(old: Certificate, new: Certificate | None = None, **_kw: object) -> None:
    if new is None:
        return
    olds = list(db.session.scalars(select(Grant).where(Grant.certificate_id == old.id, Grant.revoked_at.is_(None))))
    for g in olds:
        copy = Grant(
            user_id=g.user_id,
            skill_id=g.skill_id,
            level=g.level,
            source=GrantSource.certificate.value,
            certificate_id=new.id,
            evidence=f"Certificate {new.code} (reissue of {old.code})",
            granted_by_id=new.issued_by_id,
            valid_from=g.valid_from,
            valid_until=g.valid_until,
        )
        db.session.add(copy)
        db.session.flush()
        g.revoke(new.issued_by_id, f"superseded by certificate {new.code}")
        g.replaced_by_id = copy.id


@signals.credential_alignment.connect
def _credential_alignment(certificate: Certificate, **_kw: object) -> list[dict[str, Any]]:
    """The skills a certificate grants, as Open Badges 3.0 alignments, so a skill
    travels with the person to another employer."""
    from ..urls import external_url

    out = []
    for g in grants_of_certificate(certificate.id):
        skill = g.skill
        out.append(
            {
                "type": ["Alignment"],
                "targetType": "ceasn:Competency",
                "targetCode": skill.code,
                "targetName": skill.name + (f" / {skill.name_zh}" if skill.name_zh else ""),
                "targetDescription": f"Level {skill.level_code(g.level)} "
                f"({skill.level_name(g.level)}) of {skill.level_count}",
                "targetUrl": external_url("qualifications.skill", code=skill.code),
            }
        )
    return out


def grants_of_certificate(certificate_id: int) -> list[Grant]:
    return list(
        db.session.scalars(
            select(Grant)
            .where(Grant.certificate_id == certificate_id)
            .options(selectinload(Grant.skill))
            .order_by(Grant.skill_id)
        )
    )
