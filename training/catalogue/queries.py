"""Catalogue read models: what the course page, the run pages, the personal
calendar feed and the admin listings show. Each builds everything its page
shows in a fixed number of queries, so templates never load lazily in a loop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..accounts.models import User
from ..errors import NotFound
from ..extensions import db
from ..permissions import Viewer, can, is_admin
from ..types import org_today, utcnow
from .models import Category, Course, Run, RunStatus, run_trainers
from .seats import PlaceRow, active_places, confirmed_counts, confirmed_run_ids, places, seats_by_run, waitlist_position
from .services import enrol_deadline

PUBLIC_RUN_STATUSES = (RunStatus.open.value, RunStatus.closed.value)


def load_run_for_page(run_id: int) -> Run:
    run = db.session.scalar(
        select(Run)
        .where(Run.id == run_id)
        .options(selectinload(Run.meetings), selectinload(Run.trainers), selectinload(Run.course))
    )
    if run is None:
        raise NotFound(_("No such run."))
    return run


@dataclass
class CourseDetail:
    course: Course
    runs: list[Run]  # upcoming runs the viewer may see, meetings and trainers loaded
    seats: dict[int, int]  # run id -> seats left
    states: dict[int, str]  # run id -> what the viewer can do: see run_state()
    enrolments: dict[int, Any]  # run id -> the viewer's active enrolment (a seats.PlaceRow)
    positions: dict[int, int | None]  # run id -> the viewer's waitlist position
    trainers: list[User]  # who teaches (or taught) the course, profiles loaded
    leads_to: list[Course]  # published courses that require this one
    deadlines: dict[int, datetime]  # run id -> last moment to enrol (aware datetime)


def run_state(run: Run, seats: int, enrolment: PlaceRow | None = None, viewer: Viewer = None) -> str:
    """What the course page offers for a run: enrolled, waitlisted, pending,
    offered (a seat waits for the viewer's answer), cancelled, closed, approval (request a place), full (join the waitlist)
    or open. Mirrors the rules enrolment.services.enrol applies."""
    p = places()
    if enrolment is not None and enrolment.status in p.active_statuses:
        return "enrolled" if enrolment.status == p.confirmed else enrolment.status
    if run.status == RunStatus.cancelled.value:
        return "cancelled"
    if run.status != RunStatus.open.value or utcnow() > enrol_deadline(run):
        return "closed"
    if run.requires_approval:
        return "approval"
    return "open" if seats > 0 else "full"


def course_detail(course_id: int, viewer: Viewer = None) -> CourseDetail:
    """The course page: the course, its upcoming runs with seats and the
    viewer's state in each, its trainers and the courses it opens the way to.
    Unpublished or archived courses exist only for admins."""
    admin = is_admin(viewer)
    course = db.session.scalar(
        select(Course)
        .where(Course.id == course_id)
        .options(selectinload(Course.category), selectinload(Course.prerequisite_course))
    )
    if course is None or not can(viewer, "view_course", course):
        raise NotFound(_("No such course."))
    statuses = PUBLIC_RUN_STATUSES + ((RunStatus.draft.value, RunStatus.cancelled.value) if admin else ())
    runs = list(
        db.session.scalars(
            select(Run)
            .where(Run.course_id == course.id, Run.status.in_(statuses), Run.ends_on >= org_today())
            .order_by(Run.starts_on, Run.id)
            .options(selectinload(Run.meetings), selectinload(Run.trainers).selectinload(User.trainer_profile))
        )
    )
    seats = seats_by_run(runs)
    enrolments: dict[int, Any] = {}
    if viewer is not None and getattr(viewer, "is_authenticated", False) and runs:
        enrolments = active_places(viewer.id, seats)
    positions = {run_id: waitlist_position(e) for run_id, e in enrolments.items() if e.status == places().waitlisted}
    states = {r.id: run_state(r, seats[r.id], enrolments.get(r.id), viewer) for r in runs}
    trainers: list[User] = []
    for run in runs:
        trainers.extend(t for t in run.trainers if t not in trainers)
    if not trainers:  # nothing scheduled: who taught it before
        trainers = list(
            db.session.scalars(
                select(User)
                .join(run_trainers, run_trainers.c.user_id == User.id)
                .join(Run, Run.id == run_trainers.c.run_id)
                .where(Run.course_id == course.id, Run.status != RunStatus.cancelled.value)
                .group_by(User.id)
                .order_by(func.max(Run.starts_on).desc())
                .limit(6)
                .options(selectinload(User.trainer_profile))
            )
        )
    # Filtered and sorted here, not in SQL: with "published ... ORDER BY title" the planner may walk
    # the whole title index instead of the few rows of ix_courses_prerequisite_set.
    leads_to = sorted(
        (
            c
            for c in db.session.scalars(select(Course).where(Course.prerequisite_course_id == course.id))
            if c.published and not c.archived
        ),
        key=lambda c: (c.title, c.id),
    )[:10]
    return CourseDetail(
        course=course,
        runs=runs,
        seats=seats,
        states=states,
        enrolments=enrolments,
        positions=positions,
        trainers=trainers,
        leads_to=leads_to,
        deadlines={r.id: enrol_deadline(r) for r in runs},
    )


def visible_run(run_id: int, viewer: Viewer = None) -> Run:
    """The run, loaded for a page, if ``viewer`` may see it (``view_run``):
    the run page, its calendar and the API load it here, so they cannot drift."""
    run = load_run_for_page(run_id)
    if not can(viewer, "view_run", run):
        raise NotFound(_("No such run."))
    return run


def calendar_feed_runs(token: str) -> tuple[User, list[Run]]:
    """The owner of a calendar token and the runs in their personal feed: the
    runs they hold a confirmed place in, and for trainers the runs they teach."""
    if not token or len(token) > 64:
        raise NotFound(_("No such calendar."))
    user = db.session.scalar(select(User).where(User.calendar_token == token))
    if user is None or not user.active:
        raise NotFound(_("No such calendar."))
    confirmed = confirmed_run_ids(user.id)
    taught = select(run_trainers.c.run_id).where(run_trainers.c.user_id == user.id)
    runs = list(
        db.session.scalars(
            select(Run)
            .where((Run.id.in_(confirmed)) | (Run.id.in_(taught)), Run.status != RunStatus.draft.value)
            .order_by(Run.starts_on)
            .limit(500)
            .options(selectinload(Run.meetings), selectinload(Run.course))
        )
    )
    return user, runs


def list_categories() -> list[tuple[Category, int]]:
    """Every category with its number of courses (archived included)."""
    return list(
        db.session.execute(
            select(Category, func.count(Course.id))
            .outerjoin(Course, Course.category_id == Category.id)
            .group_by(Category.id)
            .order_by(Category.name)
        ).all()
    )


def course_runs_for_admin(course_id: int) -> tuple[Course, list[Run], dict[int, int]]:
    course = db.session.scalar(select(Course).where(Course.id == course_id).options(selectinload(Course.category)))
    if course is None:
        raise NotFound(_("No such course."))
    runs = list(
        db.session.scalars(
            select(Run)
            .where(Run.course_id == course.id)
            .order_by(Run.starts_on.desc())
            .options(selectinload(Run.trainers), selectinload(Run.meetings))
        )
    )
    return course, runs, confirmed_counts(r.id for r in runs)


def list_runs_for_admin(
    when: str = "upcoming", status: str | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[Run], int, dict[int, int]]:
    """Runs for the admin list: upcoming (not ended) or past, newest first for past."""
    today = org_today()
    stmt = select(Run)
    if when == "upcoming":
        stmt = stmt.where(Run.ends_on >= today)
    elif when == "past":
        stmt = stmt.where(Run.ends_on < today)
    if status in {s.value for s in RunStatus}:
        stmt = stmt.where(Run.status == status)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = Run.starts_on.desc() if when == "past" else Run.starts_on
    runs = list(
        db.session.scalars(
            stmt.order_by(order, Run.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
            .options(selectinload(Run.course), selectinload(Run.trainers))
        )
    )
    return runs, total, confirmed_counts(r.id for r in runs)


def trainer_choices() -> list[User]:
    """People who can be assigned to teach a run."""
    return list(
        db.session.scalars(
            select(User).where(User.role.in_(("trainer", "admin")), User.active.is_(True)).order_by(User.display_name)
        )
    )


def course_by_code(code: str) -> Course | None:
    code = (code or "").strip()
    if not code:
        return None
    return db.session.scalar(select(Course).where(func.lower(Course.code) == code.lower()))
