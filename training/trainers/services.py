"""Trainer profiles: the public directory and profile pages, editing, photos.

Trainers edit their own profile, admins any (permissions: edit_trainer_profile).
Every list is built in a fixed number of queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import selectinload

from .. import content_i18n
from ..accounts.models import Role, TrainerProfile, User
from ..accounts.services import clean_name
from ..audit import record
from ..catalogue.models import Course, Run, RunStatus, run_trainers
from ..catalogue.queries import PUBLIC_RUN_STATUSES
from ..catalogue.search import _like_escape
from ..catalogue.seats import confirmed_counts, seats_by_run
from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..paging import Page
from ..permissions import Viewer, can
from ..transactions import unit_of_work
from ..types import org_today, utcnow
from . import photos

MAX_TAGS = 20
MAX_TAG_LENGTH = 60


@dataclass
class TrainerCard:
    user: User
    upcoming: int = 0  # upcoming public runs they teach


def _public_trainers() -> Select[User]:
    return (
        select(User)
        .join(TrainerProfile, TrainerProfile.user_id == User.id)
        .where(User.role == Role.trainer.value, User.active.is_(True), TrainerProfile.public.is_(True))
    )


def _upcoming_run_conditions() -> list[ColumnElement[bool]]:
    return [
        Run.status.in_(PUBLIC_RUN_STATUSES),
        Run.ends_on >= org_today(),
        # Correlated, so that each of the trainer's few runs looks up its course by key (an IN list would
        # first gather every published course: 10,000 of them in catalogue_bench).
        select(Course.id)
        .where(Course.id == Run.course_id, Course.published.is_(True), Course.archived.is_(False))
        .exists(),
    ]


def list_trainers(q: str = "", page: int = 1, per_page: int = 24) -> Page[TrainerCard]:
    """Public trainers, matching ``q`` in name, title, organisation or expertise;
    those teaching soonest first is less useful than a stable order, so by name."""
    stmt = _public_trainers()
    for term in (q or "").split()[:5]:
        like = f"%{_like_escape(term.lower()[:60])}%"
        stmt = stmt.where(
            or_(
                *(
                    func.lower(column).like(like, escape="\\")
                    for column in (
                        User.display_name,
                        TrainerProfile.title,
                        TrainerProfile.title_translation,
                        TrainerProfile.organisation,
                        TrainerProfile.expertise,
                    )
                )
            )
        )
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    users = list(
        db.session.scalars(
            stmt.order_by(User.display_name, User.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
            .options(selectinload(User.trainer_profile))
        )
    )
    counts: dict[int, int] = {}
    if users:
        counts = dict(
            db.session.execute(
                select(run_trainers.c.user_id, func.count())
                .join(Run, Run.id == run_trainers.c.run_id)
                .where(run_trainers.c.user_id.in_([u.id for u in users]), *_upcoming_run_conditions())
                .group_by(run_trainers.c.user_id)
            ).all()
        )
    return Page(items=[TrainerCard(u, counts.get(u.id, 0)) for u in users], page=page, per_page=per_page, total=total)


def get_trainer(user_id: int, viewer: Viewer = None) -> User:
    """A trainer whose profile the viewer may see: public ones for everyone,
    hidden ones for themselves and admins."""
    user: User | None = db.session.scalar(
        select(User).where(User.id == user_id).options(selectinload(User.trainer_profile))
    )
    if user is None or user.role != Role.trainer.value:
        raise NotFound(_("No such trainer."))
    visible = user.active and user.trainer_profile is not None and user.trainer_profile.public
    if not visible and not can(viewer, "edit_trainer_profile", user):
        raise NotFound(_("No such trainer."))
    if user.trainer_profile is None:
        user.trainer_profile = TrainerProfile(bio="", expertise="")
        db.session.flush()
    return user


def profile_of(user: User) -> TrainerProfile:
    """The profile of a trainer that get_trainer or _editable handed out (they create a missing one)."""
    assert user.trainer_profile is not None
    return user.trainer_profile


@dataclass
class TakenCourse:
    course: Course
    runs: int
    last: date | None  # date of the last run


@dataclass
class TrainerDetail:
    user: User
    profile: TrainerProfile
    upcoming: list[Run]  # runs, course and category loaded
    seats: dict[int, int]  # run id -> seats left
    courses_taught: list[TakenCourse] = field(default_factory=list)


def trainer_detail(user_id: int, viewer: Viewer = None) -> TrainerDetail:
    """The profile page: who they are, the runs they teach next and the
    courses they have taught (published ones), in five queries."""
    user = get_trainer(user_id, viewer)
    taught = select(run_trainers.c.run_id).where(run_trainers.c.user_id == user.id)
    upcoming = list(
        db.session.scalars(
            select(Run)
            .where(Run.id.in_(taught), *_upcoming_run_conditions())
            .order_by(Run.starts_on, Run.id)
            .limit(20)
            .options(selectinload(Run.course).selectinload(Course.category))
        )
    )
    counts = confirmed_counts(r.id for r in upcoming)
    # Their past runs grouped by course first, then the courses: starting from the trainer's runs, not
    # from every published course (SQLite would otherwise walk the whole catalogue).
    past = (
        select(Run.course_id, func.count(Run.id).label("runs"), func.max(Run.ends_on).label("last"))
        .where(Run.id.in_(taught), Run.ends_on < org_today(), Run.status != RunStatus.cancelled.value)
        .group_by(Run.course_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Course, past.c.runs, past.c.last)
        .join(past, past.c.course_id == Course.id)
        .where(Course.published.is_(True), Course.archived.is_(False))
        .order_by(past.c.last.desc(), Course.id)
        .limit(50)
    ).all()
    return TrainerDetail(
        user=user,
        profile=profile_of(user),
        upcoming=upcoming,
        seats=seats_by_run(upcoming, counts),
        courses_taught=[TakenCourse(c, n, last) for c, n, last in rows],
    )


def _editable(actor: User, user_id: int) -> tuple[User, TrainerProfile]:
    user = db.session.get(User, user_id)
    if user is None or user.role != Role.trainer.value:
        raise NotFound(_("No such trainer."))
    if not can(actor, "edit_trainer_profile", user):
        raise Forbidden(_("You can only edit your own trainer profile."))
    if user.trainer_profile is None:
        user.trainer_profile = TrainerProfile(bio="", expertise="")
    return user, user.trainer_profile


def normalise_tags(value: str) -> str:
    """Expertise tags from text separated by commas (also 、，；;): trimmed,
    without duplicates, stored comma-separated."""
    tags: list[str] = []
    for tag in re.split(r"[,，、;；\n]+", value or ""):
        tag = " ".join(tag.split())
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise ValidationFailed(
                _("A tag is longer than %(n)s characters: %(tag)s", n=MAX_TAG_LENGTH, tag=tag[:20] + "…"),
                fields={"expertise": "tag too long"},
            )
        if tag.lower() not in {t.lower() for t in tags}:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationFailed(_("Use at most %(n)s expertise tags.", n=MAX_TAGS), fields={"expertise": "too many"})
    joined = ", ".join(tags)
    if len(joined) > 500:
        raise ValidationFailed(
            _("The expertise tags are too long together (500 characters at most)."), fields={"expertise": "too long"}
        )
    return joined


def _text(value: object, field_name: str, limit: int) -> str:
    text = value if isinstance(value, str) else ""
    text = text.replace("\r\n", "\n").strip()
    if len(text) > limit:
        raise ValidationFailed(
            _("%(field)s is longer than %(n)s characters.", field=field_name, n=limit), fields={field_name: "too long"}
        )
    return text


@unit_of_work
def update_profile(actor: User, user_id: int, data: dict[str, Any]) -> TrainerProfile:
    """Save the profile fields given in ``data`` (name, title, organisation,
    expertise, bio, public). Nothing is saved when one of them is invalid."""
    user, profile = _editable(actor, user_id)
    changes: dict[str, object] = {}
    name = clean_name(data.get("name") or "") if "name" in data else None
    if "organisation" in data:
        changes["organisation"] = _text(data.get("organisation"), "organisation", 200) or None
    if "expertise" in data:
        expertise = data.get("expertise")
        changes["expertise"] = normalise_tags(expertise if isinstance(expertise, str) else "")
    # Job title and bio: in both languages (title / title_i18n, bio / bio_i18n, original_language).
    content_i18n.apply_texts(profile, data, {"title": 200, "bio": 20000})
    if "public" in data:
        changes["public"] = bool(data.get("public"))
    if name is not None:
        user.display_name = name
    for key, value in changes.items():
        setattr(profile, key, value)
    profile.updated_at = utcnow()
    record(actor, "trainer.update", user, ", ".join(sorted(k for k in data)))
    db.session.commit()
    return profile


@unit_of_work
def set_photo(actor: User, user_id: int, stream: IO[bytes]) -> TrainerProfile:
    """Replace the trainer's photo. The upload is read (5 MB at most), checked
    and re-encoded before anything changes; the old files go after the commit."""
    user, profile = _editable(actor, user_id)
    sizes = photos.render_sizes(photos.read_upload(stream))
    stem = photos.store(sizes)
    old = profile.photo
    profile.photo = stem
    profile.updated_at = utcnow()
    record(actor, "trainer.photo", user, "")
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        photos.delete(stem)
        raise
    photos.delete(old)
    return profile


@unit_of_work
def remove_photo(actor: User, user_id: int) -> TrainerProfile:
    user, profile = _editable(actor, user_id)
    old = profile.photo
    profile.photo = None
    record(actor, "trainer.photo_remove", user, "")
    db.session.commit()
    photos.delete(old)
    return profile
