"""Admin: user management, the dashboard's figures and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from ..accounts.models import Role, TrainerProfile, User
from ..accounts.services import clean_name, end_all_sessions
from ..catalogue.models import Course, Run, RunStatus
from ..catalogue.seats import confirmed_counts, seats_by_run
from ..certificates.models import Certificate
from ..enrolment.models import Enrolment, EnrolmentStatus
from ..enrolment.services import release_seats_of
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..transactions import unit_of_work
from ..types import org_today, utcnow
from .models import AuditEntry, record


def list_users(q: str = "", role: str = "", page: int = 1, per_page: int = 50) -> tuple[list[User], int]:
    stmt = select(User)
    if q:
        like = f"%{q.strip().lower()[:100]}%"
        stmt = stmt.where(
            or_(User.email.like(like), func.lower(User.display_name).like(like), func.lower(User.company).like(like))
        )
    if role in {r.value for r in Role}:
        stmt = stmt.where(User.role == role)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    users = list(
        db.session.scalars(
            stmt.order_by(User.display_name, User.id).limit(per_page).offset((max(page, 1) - 1) * per_page)
        )
    )
    return users, total


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("No such user."))
    return user


@unit_of_work
def update_user(
    actor: User, user: User, *, name: str, role: str, company: str | None, phone: str | None, active: bool
) -> User:
    if not isinstance(role, str) or role not in {r.value for r in Role}:
        raise ValidationFailed(_("Unknown role."), fields={"role": "unknown"})
    if user.id == actor.id and (role != Role.admin.value or not active):
        raise Conflict(_("You cannot remove your own admin rights or deactivate yourself."), code="self_demotion")
    changes = []
    name = clean_name(name)
    for attr, value in (
        ("display_name", name),
        ("role", role),
        ("company", company or None),
        ("phone", phone or None),
        ("active", active),
    ):
        if getattr(user, attr) != value:
            changes.append(f"{attr}: {getattr(user, attr)!r} -> {value!r}")
            setattr(user, attr, value)
    if role == Role.trainer.value and user.trainer_profile is None:
        user.trainer_profile = TrainerProfile(bio="", expertise="")
    deactivated = user.active is False and any(c.startswith("active:") for c in changes)
    if deactivated:
        end_all_sessions(user, commit=False)  # every login and API token, for good (not only while closed)
    elif not active:
        user.session_version = (user.session_version or 1) + 1  # ends their sessions at once
    if changes:
        record(actor, "user.update", user, "; ".join(changes))
    if deactivated:
        released = release_seats_of(actor, user)
        if released:
            record(actor, "user.release_seats", user, f"{len(released)} enrolments in runs to come cancelled")
    db.session.commit()
    return user


@dataclass
class Dashboard:
    courses: int
    upcoming_runs: list[Run]
    seats: dict[int, int]
    waitlisted: dict[int, int]
    pending: int
    trainees: int
    certificates_30d: int


def dashboard() -> Dashboard:
    today = org_today()
    runs = list(
        db.session.scalars(
            select(Run)
            .where(Run.ends_on >= today, Run.status != RunStatus.cancelled.value)
            .options(selectinload(Run.course), selectinload(Run.trainers))
            .order_by(Run.starts_on, Run.id)
            .limit(15)
        )
    )
    counts = confirmed_counts(r.id for r in runs)
    waitlisted = dict(
        db.session.execute(
            select(Enrolment.run_id, func.count())
            .where(Enrolment.run_id.in_([r.id for r in runs]), Enrolment.status == EnrolmentStatus.waitlisted.value)
            .group_by(Enrolment.run_id)
        ).all()
    )
    return Dashboard(
        courses=db.session.scalar(select(func.count()).select_from(Course).where(Course.archived.is_(False))) or 0,
        upcoming_runs=runs,
        seats=seats_by_run(runs, counts),
        waitlisted=waitlisted,
        pending=db.session.scalar(
            select(func.count()).select_from(Enrolment).where(Enrolment.status == EnrolmentStatus.pending.value)
        )
        or 0,
        trainees=db.session.scalar(select(func.count()).select_from(User).where(User.role == Role.trainee.value)) or 0,
        certificates_30d=db.session.scalar(
            select(func.count()).select_from(Certificate).where(Certificate.issued_at >= utcnow() - timedelta(days=30))
        )
        or 0,
    )


def audit_log(
    *, action: str = "", actor_q: str = "", target_type: str = "", page: int = 1, per_page: int = 50
) -> tuple[list[AuditEntry], int]:
    stmt = select(AuditEntry)
    if action:
        stmt = stmt.where(AuditEntry.action.like(f"{action[:60]}%"))
    if target_type:
        stmt = stmt.where(AuditEntry.target_type == target_type[:32])
    if actor_q:
        stmt = stmt.join(User, AuditEntry.actor_id == User.id).where(User.email.like(f"%{actor_q.lower()[:100]}%"))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    entries = list(
        db.session.scalars(
            stmt.options(selectinload(AuditEntry.actor))
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(per_page)
            .offset((max(page, 1) - 1) * per_page)
        )
    )
    return entries, total
