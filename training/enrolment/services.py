"""Enrolment: the one place that decides seats, waitlists and approvals.

Every function that changes who holds a seat locks the run row first
(``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), then
counts, then writes, then commits: simultaneous requests are served one after
the other and a run is never oversold.

Pending approval requests hold no seat: the seat is taken when the admin
approves, and if the run is full by then the trainee goes on the waitlist.
"""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from .. import mail
from ..accounts.models import User
from ..admin.models import record
from ..catalogue.calendar import run_calendar
from ..catalogue.models import Run, RunStatus
from ..catalogue.services import confirmed_count, get_run, run_start, seats_left
from ..errors import AlreadyEnrolled, Conflict, EnrolmentClosed, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..permissions import can, is_admin
from ..types import utcnow
from .models import ACTIVE_STATUSES, Enrolment, EnrolmentStatus

S = EnrolmentStatus


def enrol_deadline(run: Run) -> datetime:
    """Trainees may enrol until this moment: the run's own deadline, else the
    start of its first meeting."""
    return run.enrol_deadline or run_start(run)


def cancel_cutoff(run: Run) -> datetime:
    return run.cancel_cutoff or run_start(run)


def public_base_url() -> str:
    from flask import has_request_context, request
    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        return base.rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/")
    return "http://127.0.0.1:5000"


def _notify(enrolment: Enrolment, template: str, subject: str, *, with_calendar: bool = False, **extra) -> None:
    user, run = enrolment.user, enrolment.run
    attachments = []
    if with_calendar:
        attachments.append(("course.ics", "text/calendar", run_calendar(run, public_base_url())))
    mail.queue(mail.build(user.email, subject, template, locale=user.locale, attachments=attachments,
                          user=user, run=run, course=run.course, enrolment=enrolment,
                          base_url=public_base_url(), **extra))


def _check_prerequisite(run: Run, user: User) -> None:
    from ..certificates.models import Certificate
    prereq = run.course.prerequisite_course
    if prereq is None:
        return
    certs = db.session.scalars(select(Certificate).join(Enrolment, Certificate.enrolment_id == Enrolment.id).where(
        Enrolment.user_id == user.id, Certificate.course_code == prereq.code))
    if not any(c.status == "valid" for c in certs):
        raise Forbidden(f"This course requires a valid certificate of {prereq.code} {prereq.title}.",
                        code="prerequisite_missing", prerequisite=prereq.code)


def _existing(run_id: int, user_id: int) -> Enrolment | None:
    return db.session.scalar(select(Enrolment).where(Enrolment.run_id == run_id, Enrolment.user_id == user_id))


def enrol(actor: User, run_id: int, trainee: User | None = None, *, source: str = "self",
          commit: bool = True) -> Enrolment:
    """Enrol ``trainee`` (default: the actor) in the run. Returns the enrolment,
    confirmed, waitlisted or pending. Raises AlreadyEnrolled (409) when an
    active enrolment exists."""
    trainee = trainee or actor
    admin = is_admin(actor)
    if trainee.id != actor.id and not admin:
        raise Forbidden("Only an admin can enrol someone else.")
    if trainee.id == actor.id and not admin and not can(actor, "enrol_self"):
        raise Forbidden("Only trainee accounts can enrol in a course run.", code="not_a_trainee")
    run = get_run(run_id, lock=True)
    if run.status == RunStatus.cancelled.value:
        raise EnrolmentClosed("This run has been cancelled.")
    if not admin:
        if run.status != RunStatus.open.value or not run.course.published:
            raise EnrolmentClosed("This run is not open for enrolment.")
        if utcnow() > enrol_deadline(run):
            raise EnrolmentClosed("The enrolment deadline for this run has passed.")
        _check_prerequisite(run, trainee)
    enrolment = _existing(run.id, trainee.id)
    if enrolment is not None and enrolment.is_active:
        raise AlreadyEnrolled(f"Already enrolled in this run (enrolment {enrolment.id}, {enrolment.status}).",
                              enrolment_id=enrolment.id, enrolment_status=enrolment.status)
    if enrolment is None:
        enrolment = Enrolment(run=run, user=trainee)
        db.session.add(enrolment)
    enrolment.source = source
    enrolment.cancelled_at = None
    enrolment.reason = ""
    enrolment.company = trainee.company
    now = utcnow()
    if run.requires_approval and not admin:
        enrolment.status = S.pending.value
        enrolment.waitlisted_at = None
        template, subject = "enrol_pending", "Your enrolment request was received"
    elif confirmed_count(run.id) < run.capacity:
        enrolment.status = S.confirmed.value
        enrolment.confirmed_at = now
        enrolment.waitlisted_at = None
        template, subject = "enrol_confirmed", "Your place is confirmed"
    else:
        enrolment.status = S.waitlisted.value
        enrolment.waitlisted_at = now
        template, subject = "enrol_waitlisted", "You are on the waitlist"
    try:
        db.session.flush()
    except IntegrityError:
        # Only reachable if the row lock was bypassed; a duplicate is a conflict, not a crash.
        db.session.rollback()
        existing = _existing(run_id, trainee.id)
        raise AlreadyEnrolled("Already enrolled in this run.",
                              enrolment_id=existing.id if existing else None) from None
    _notify(enrolment, template, subject, with_calendar=enrolment.status == S.confirmed.value,
            position=waitlist_position(enrolment))
    record(actor, f"enrolment.{enrolment.status}", enrolment, f"{trainee.email} run {run.id} via {source}")
    if commit:
        db.session.commit()
    return enrolment


def get_enrolment(enrolment_id: int) -> Enrolment:
    enrolment = db.session.get(Enrolment, enrolment_id)
    if enrolment is None:
        raise NotFound("No such enrolment.")
    return enrolment


def cancel(actor: User, enrolment_id: int, reason: str = "", *, notify: bool = True) -> Enrolment:
    """Cancel an enrolment; a freed seat goes to the first on the waitlist."""
    enrolment = get_enrolment(enrolment_id)
    if not can(actor, "cancel_enrolment", enrolment):
        raise Forbidden("You cannot cancel this enrolment.")
    run = get_run(enrolment.run_id, lock=True)
    db.session.refresh(enrolment)
    if not enrolment.is_active:
        raise Conflict("This enrolment is already cancelled.", code="already_cancelled")
    if not is_admin(actor) and enrolment.status == S.confirmed.value and utcnow() > cancel_cutoff(run):
        raise EnrolmentClosed("The cancellation cut-off has passed; please ask the training office.",
                              code="cancel_cutoff_passed")
    enrolment.status = S.cancelled.value
    enrolment.cancelled_at = utcnow()
    enrolment.waitlisted_at = None
    enrolment.reason = (reason or "")[:2000]
    if notify:
        _notify(enrolment, "enrol_cancelled", "Your enrolment was cancelled", reason=reason)
    record(actor, "enrolment.cancel", enrolment, reason)
    promote_waitlist(run)
    db.session.commit()
    return enrolment


def waitlist_query(run_id: int):
    return select(Enrolment).where(Enrolment.run_id == run_id, Enrolment.status == S.waitlisted.value
                                   ).order_by(Enrolment.waitlisted_at, Enrolment.id)


def promote_waitlist(run: Run) -> list[Enrolment]:
    """Fill free seats from the waitlist, first come first served. The caller
    holds the run lock and commits."""
    db.session.flush()
    free = run.capacity - confirmed_count(run.id)
    if free <= 0 or run.status == RunStatus.cancelled.value:
        return []
    promoted = list(db.session.scalars(waitlist_query(run.id).limit(free)))
    now = utcnow()
    for enrolment in promoted:
        enrolment.status = S.confirmed.value
        enrolment.confirmed_at = now
        enrolment.waitlisted_at = None
        _notify(enrolment, "enrol_promoted", "A place became free: you are confirmed", with_calendar=True)
        record(None, "enrolment.promote", enrolment, f"run {run.id}")
    db.session.flush()
    return promoted


def waitlist_position(enrolment: Enrolment) -> int | None:
    if enrolment.status != S.waitlisted.value or enrolment.waitlisted_at is None:
        return None
    ahead = db.session.scalar(select(func.count()).select_from(Enrolment).where(
        Enrolment.run_id == enrolment.run_id, Enrolment.status == S.waitlisted.value,
        or_(Enrolment.waitlisted_at < enrolment.waitlisted_at,
            and_(Enrolment.waitlisted_at == enrolment.waitlisted_at, Enrolment.id < enrolment.id))))
    return (ahead or 0) + 1


def decide(actor: User, enrolment_id: int, approve: bool, reason: str = "") -> Enrolment:
    """Approve or reject a pending request (admins)."""
    if not is_admin(actor):
        raise Forbidden("Only an admin can approve enrolments.")
    enrolment = get_enrolment(enrolment_id)
    run = get_run(enrolment.run_id, lock=True)
    db.session.refresh(enrolment)
    if enrolment.status != S.pending.value:
        raise Conflict("This enrolment is not waiting for approval.", code="not_pending")
    if not approve:
        if not (reason or "").strip():
            raise ValidationFailed("Give a reason for the rejection.", fields={"reason": "required"})
        enrolment.status = S.rejected.value
        enrolment.reason = reason.strip()[:2000]
        _notify(enrolment, "enrol_rejected", "Your enrolment request was declined", reason=enrolment.reason)
        record(actor, "enrolment.reject", enrolment, reason)
    elif confirmed_count(run.id) < run.capacity:
        enrolment.status = S.confirmed.value
        enrolment.confirmed_at = utcnow()
        _notify(enrolment, "enrol_confirmed", "Your place is confirmed", with_calendar=True, approved=True)
        record(actor, "enrolment.approve", enrolment, "confirmed")
    else:
        enrolment.status = S.waitlisted.value
        enrolment.waitlisted_at = utcnow()
        _notify(enrolment, "enrol_waitlisted", "You are on the waitlist", approved=True,
                position=waitlist_position(enrolment))
        record(actor, "enrolment.approve", enrolment, "waitlisted")
    db.session.commit()
    return enrolment


def cancel_run(actor: User, run_id: int, reason: str) -> int:
    """Cancel a run: every active enrolment is cancelled and every trainee told
    (the mails go out in the background after the commit)."""
    if not is_admin(actor):
        raise Forbidden("Only an admin can cancel a run.")
    if not (reason or "").strip():
        raise ValidationFailed("Give a reason; it is sent to every trainee.", fields={"reason": "required"})
    run = get_run(run_id, lock=True)
    if run.status == RunStatus.cancelled.value:
        raise Conflict("This run is already cancelled.", code="run_cancelled")
    run.status = RunStatus.cancelled.value
    enrolments = list(db.session.scalars(select(Enrolment).where(
        Enrolment.run_id == run.id, Enrolment.status.in_(ACTIVE_STATUSES))))
    now = utcnow()
    for enrolment in enrolments:
        enrolment.status = S.cancelled.value
        enrolment.cancelled_at = now
        enrolment.waitlisted_at = None
        enrolment.reason = reason.strip()[:2000]
        _notify(enrolment, "run_cancelled", "Your course run has been cancelled", reason=reason.strip())
    record(actor, "run.cancel", run, f"{len(enrolments)} enrolments; {reason.strip()}")
    db.session.commit()
    return len(enrolments)


def set_capacity(actor: User, run_id: int, capacity: int) -> Run:
    from ..catalogue.services import update_run
    return update_run(actor, run_id, {"capacity": capacity})


def enrol_person(actor: User, run_id: int, email: str, name: str, *, source: str = "admin",
                 company: str | None = None, phone: str | None = None) -> tuple[Enrolment, bool]:
    """Admin enrols someone by e-mail, creating a trainee account when needed.
    Returns (enrolment, account_created)."""
    from ..accounts.services import create_user, find_user_by_email, normalise_email
    if not is_admin(actor):
        raise Forbidden("Only an admin can enrol someone else.")
    email = normalise_email(email)
    user = find_user_by_email(email)
    created = False
    if user is None:
        user = create_user(email=email, name=name, password=None, role="trainee",
                           company=company, phone=phone, commit=False, actor=actor)
        db.session.flush()
        created = True
    return enrol(actor, run_id, user, source=source), created


def my_enrolments(user: User):
    from sqlalchemy.orm import selectinload
    from ..catalogue.models import Run as RunModel
    return list(db.session.scalars(select(Enrolment).where(Enrolment.user_id == user.id).options(
        selectinload(Enrolment.run).selectinload(RunModel.course),
        selectinload(Enrolment.run).selectinload(RunModel.meetings),
    ).order_by(Enrolment.created_at.desc())))
