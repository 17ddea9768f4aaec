"""Enrolment: the one place that decides seats, waitlists and approvals.

Concurrency. Every function that changes who holds a seat locks the run row
first (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite),
then counts, then writes, then commits: simultaneous enrolments, cancellations
and capacity changes of one run are served one after the other, so a run is
never oversold and no waitlist place is lost. The unique (run, trainee)
constraint is the last line of defence; hitting it is a 409, never a 500.

Seats. A seat is held by a *confirmed* enrolment only. ``capacity - confirmed``
seats are free, and they always go to the waitlist first (first come, first
served by ``waitlisted_at``, the id breaking ties): a newcomer is confirmed only
when nobody is waiting.

Approvals. On a run that ``requires_approval``, a trainee's request is
*pending* and **holds no seat**: an unapproved request must not block trainees
who can start now, and a seat held for a request that is later rejected would
have been turned away from someone else. When an admin approves, the trainee
takes a free seat, or joins the end of the waitlist if the run is full by
then (the approval time is the waitlist time). Admins enrolling someone skip
the approval (they are the approvers).

Deadlines. Trainees enrol until ``enrol_deadline(run)`` and cancel a
confirmed place until ``cancel_cutoff(run)``; waitlisted and pending requests
may be withdrawn at any time. Admins may enrol and cancel at any time.

After the deadline. Freed seats are no longer handed to the waitlist by
themselves (the trainee may no longer be able to come at short notice): an
admin *offers* the seat to the next on the waitlist, the offer holds the seat
for ``SEAT_OFFER_HOURS`` and, declined or unanswered, passes on to the next in
order (training.enrolment.offers). Once the run has ended nothing moves and
nobody is written to.

Notifications are queued in the transaction and sent after it commits
(training.mail); many at once (a cancelled run, a bulk import) are rendered
and sent by a background job, never in the web request (notifications.py).

This module holds the commands. The waitlist's movement is in waitlist.py,
offers after the deadline in offers.py, what the e-mails say in
notifications.py, the read models (labels, roster, lists) in queries.py and
the CSV export in exports.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, event, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from .. import jobs, mail, pagecache
from ..accounts.models import User
from ..accounts.services import clean_name, ensure_trainees, normalise_email
from ..audit import record, record_now
from ..catalogue.models import Meeting, Run, RunStatus
from ..catalogue.seats import seat_counts, seats_left, waitlist_position
from ..catalogue.services import cancel_cutoff, enrol_deadline, get_run, lock_run, run_start
from ..errors import AlreadyEnrolled, Conflict, EnrolmentClosed, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..permissions import can, is_admin, is_coordinator, not_found_when_refused
from ..transactions import (
    commit_releasing_locks_early,
    keeping_loaded_objects,
    release_locks_before_flush,
    unit_of_work,
)
from ..types import utcnow
from ..urls import public_base_url
from . import notifications, offers
from .models import ACTIVE_STATUSES, SEAT_STATUSES, Enrolment, EnrolmentStatus
from .queries import get_enrolment, held_seats, status_counts_and_allocations, status_label
from .waitlist import promote_waitlist

S = EnrolmentStatus
MAX_REASON = 2000


class RunFull(Conflict):
    code = "run_full"


# --- rules about who may enrol -----------------------------------------------


# Refusals a domain built on this one adds to enrolling (certificates: a course's
# prerequisite needs a valid certificate). Each is called with (run, trainee) before
# the run lock is taken and raises a DomainError to refuse; admins skip them.
ENROL_CHECKS: list[Callable[[Run, User], None]] = []


def check_can_enrol(actor: User, run: Run, trainee: User, *, prerequisites: bool = True) -> None:
    """Every refusal of an enrolment, in one place. Raises a DomainError.
    ``enrol`` calls it once before taking the run lock (the prerequisite is
    not about seats) and again, without it, on the locked run."""
    admin = is_admin(actor)
    if trainee.id != actor.id and not admin and not can(actor, "manage_person", trainee):
        raise Forbidden(_("Only an admin can enrol someone else."))
    if trainee.id == actor.id and not admin and not can(actor, "enrol_self"):
        raise Forbidden(_("Only trainee accounts can enrol in a course run."), code="not_a_trainee")
    if not trainee.active:
        raise Forbidden(_("This account is deactivated."), code="account_inactive")
    if run.status == RunStatus.cancelled.value:
        raise EnrolmentClosed(_("This run has been cancelled."), code="run_cancelled")
    if admin:
        return
    if run.status != RunStatus.open.value or not run.course.published or run.course.archived:
        raise EnrolmentClosed(_("This run is not open for enrolment."))
    if utcnow() > enrol_deadline(run):
        raise EnrolmentClosed(_("The enrolment deadline for this run has passed."), code="deadline_passed")
    if prerequisites:
        for check in ENROL_CHECKS:
            check(run, trainee)


def _existing(run_id: int, user_id: int) -> Enrolment | None:
    return db.session.scalar(
        select(Enrolment)
        .where(Enrolment.run_id == run_id, Enrolment.user_id == user_id)
        .execution_options(populate_existing=True)
    )


_ENROLLED: list[Select[int, str]] = []


def _enrolled(run_id: int, user_id: int) -> tuple[int, str] | None:
    """The id and status of the trainee's enrolment in the run, if any (one prebuilt statement, no object)."""
    if not _ENROLLED:
        _ENROLLED.append(
            select(Enrolment.id, Enrolment.status).where(
                Enrolment.run_id == bindparam("run_id"), Enrolment.user_id == bindparam("user_id")
            )
        )
    row = db.session.execute(_ENROLLED[0], {"run_id": run_id, "user_id": user_id}).first()
    return None if row is None else (row[0], row[1])


def _already(enrolment: Enrolment) -> AlreadyEnrolled:
    return AlreadyEnrolled(
        _(
            "Already enrolled in this run (enrolment %(id)s, %(status)s).",
            id=enrolment.id,
            status=status_label(enrolment.status),
        ),
        enrolment_id=enrolment.id,
        enrolment_status=enrolment.status,
    )


def free_seats(run: Run, company_id: int | None = None) -> int:
    """Seats a newcomer may take now: seats reserved for their company (which
    the public waitlist does not get), then public seats once the waitlist has
    been served. The caller holds the run lock."""
    promote_waitlist(run)
    seats = seat_counts(run)
    reserved = seats.reserved_for(company_id)
    if db.session.scalar(
        select(func.count())
        .select_from(Enrolment)
        .where(Enrolment.run_id == run.id, Enrolment.status == S.waitlisted.value)
    ):
        return reserved
    return reserved + seats.public


def _place(enrolment: Enrolment, run: Run, now: datetime, *, seat_free: bool) -> None:
    if seat_free:
        enrolment.confirm(now)
    else:
        enrolment.waitlist(now)


def _write_newcomer(run: Run, trainee: User, values: Mapping[str, object], now: datetime) -> Enrolment:
    """A newcomer's enrolment, written with one INSERT and given back as the session's loaded,
    unchanged object, as a flush would leave it. Under the run lock: the unit of work's flush
    (its bookkeeping and hooks) cost several times the statement; what those hooks note (the
    report's change row, stale cached pages) is noted here or by the statement's own event."""
    table = Enrolment.__table__
    row = {
        "run_id": run.id,
        "user_id": trainee.id,
        "created_at": now,
        "updated_at": now,
        "offered_at": None,
        "offer_expires_at": None,
        "assessment_score": None,
        **values,
    }
    # Parameters given to execute (not .values()): the report's change row is noted from them.
    row["id"] = db.session.execute(insert(table).returning(table.c.id), row).scalar_one()
    enrolment = Enrolment(**row)
    make_transient_to_detached(enrolment)
    db.session.add(enrolment)
    set_committed_value(enrolment, "run", run)
    set_committed_value(enrolment, "user", trainee)
    session = db.session()
    pagecache.note_written(session, "Enrolment")
    session.info.setdefault(_NEWCOMERS, []).append(enrolment)
    return enrolment


_NEWCOMERS = "enrolment_newcomers_written"


@event.listens_for(Session, "after_commit")
def _newcomers_committed(session: Session) -> None:
    session.info.pop(_NEWCOMERS, None)


@event.listens_for(Session, "after_soft_rollback")
def _newcomers_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """A newcomer written by ``_write_newcomer`` entered the session as loaded, not as new: a rollback
    would only expire it, and a later INSERT given the same id (SQLite reuses a rolled-back rowid)
    could not be put in its place. It goes, as a flushed new object would."""
    if previous_transaction.parent is None:
        for enrolment in session.info.pop(_NEWCOMERS, None) or []:
            if enrolment in session:
                session.expunge(enrolment)


# --- enrol, cancel, decide --------------------------------------------------


@unit_of_work
def enrol(
    actor: User, run_id: int, trainee: User | None = None, *, source: str = "self", commit: bool = True
) -> Enrolment:
    """Enrol ``trainee`` (default: the actor) in the run. Returns the enrolment,
    confirmed, waitlisted or pending. Raises AlreadyEnrolled (409) when an
    active enrolment exists, EnrolmentClosed/NotEligible/Forbidden otherwise.

    The run lock is held from the seat count to the commit only: checks that
    do not depend on seats run before it, and with ``commit`` the e-mail is
    rendered after it, so simultaneous enrolments queue for as short as
    possible."""
    trainee = trainee or actor
    if commit:
        release_locks_before_flush()  # said now, so that it is not one more round trip under the run lock
    run = get_run(run_id, with_course_and_meetings=commit)  # what the checks read, in one statement
    check_can_enrol(actor, run, trainee)
    enrolment, earlier = None, None
    if commit:
        # Looked up before the lock (its id and status only): a newcomer (the usual
        # case) is not looked up again under it. Two requests of one trainee at once
        # both find nothing here; the second one's INSERT then meets the unique
        # (run, trainee) constraint and answers 409 like any repeat.
        earlier = _enrolled(run.id, trainee.id)
        if earlier is not None and earlier[1] in ACTIVE_STATUSES:
            raise _already(Enrolment(id=earlier[0], status=earlier[1]))
        lock_run(run)  # the seat-relevant columns read again under the lock; course and meetings are not
    else:
        run = get_run(run_id, lock=True)  # part of a larger unit of work: everything read again under the lock
    check_can_enrol(actor, run, trainee, prerequisites=False)
    if not commit or earlier is not None:
        enrolment = _existing(run.id, trainee.id)  # a cancelled enrolment taken up again: as it is now
        if enrolment is not None and enrolment.is_active:
            raise _already(enrolment)
    now = utcnow()
    if run.requires_approval and not is_admin(actor):
        status, position = S.pending.value, None
    else:
        # Whether the run has seat allocations is read with the counts: without any, one statement fewer.
        counts, allocations = status_counts_and_allocations(run.id)
        confirmed, waiting = held_seats(counts), counts.get(S.waitlisted.value, 0)
        if waiting and seats_left(run, confirmed) > 0:  # free seats while people wait: they come first
            promote_waitlist(run)
            counts, allocations = status_counts_and_allocations(run.id)
            confirmed, waiting = held_seats(counts), counts.get(S.waitlisted.value, 0)
        # The company's reserved seats first (the public waitlist has no claim on them), then public seats.
        seats = seat_counts(run, confirmed, allocations=allocations)
        by_coordinator = is_coordinator(actor) and trainee.id != actor.id
        may_take_public = (
            not by_coordinator or trainee.company_id is None or seats.overflow.get(trainee.company_id, True)
        )
        seat_free = seats.reserved_for(trainee.company_id) > 0 or (may_take_public and seats.public > 0 and not waiting)
        if not seat_free and by_coordinator:
            raise RunFull(_("No seat is left for your company in this run."), code="no_company_seat")
        status, position = (S.confirmed.value, None) if seat_free else (S.waitlisted.value, waiting + 1)
    values = {
        "status": status,
        "source": source,
        "cancelled_at": None,
        "reason": "",
        "company": trainee.company,
        "company_id": trainee.company_id,
        "confirmed_at": now if status == S.confirmed.value else None,
        "waitlisted_at": now if status == S.waitlisted.value else None,
    }
    try:
        if enrolment is None and commit:
            enrolment = _write_newcomer(run, trainee, values, now)
        else:
            if enrolment is None:
                enrolment = Enrolment(run_id=run.id, user_id=trainee.id, run=run, user=trainee, status=status)
                db.session.add(enrolment)
            for name, value in values.items():
                setattr(enrolment, name, value)
            db.session.flush()
    except IntegrityError:
        # Two requests of one trainee at once (see above), or the row lock bypassed:
        # a duplicate is a conflict, not a crash.
        db.session.rollback()
        existing = _existing(run_id, trainee.id)
        if existing is not None:
            raise _already(existing) from None
        raise AlreadyEnrolled(_("Already enrolled in this run.")) from None
    detail = f"{trainee.email} run {run.id} via {source}"
    kind = {S.pending.value: "enrol_pending", S.confirmed.value: "enrol_confirmed"}.get(status, "enrol_waitlisted")
    if not commit:
        record(actor, f"enrolment.{status}", enrolment, detail)
        notifications.notify(enrolment, kind, with_calendar=status == S.confirmed.value, position=position)
        return enrolment
    record_now(actor, f"enrolment.{status}", enrolment, detail)
    # The e-mail is written to the outbox with the enrolment (one e-mail exactly
    # when the enrolment stands) and rendered by the relay, not in this request.
    mail.queue_rendered_later(
        "enrolment",
        {"enrolment_id": enrolment.id, "kind": kind, "position": position, "base_url": public_base_url()},
        recipient=trainee.email,
    )
    # The run lock ends here, without waiting for the disk; the commit is durable
    # when this returns (before the caller's 201 and before the e-mail is relayed).
    with keeping_loaded_objects():  # the caller answers with what was just written
        commit_releasing_locks_early()
    return enrolment


def _clean_reason(reason: str | None, *, required: bool = False) -> str:
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if required and not reason:
        raise ValidationFailed(_("Give a reason."), fields={"reason": "required"})
    if len(reason) > MAX_REASON:
        raise ValidationFailed(
            _("The reason is longer than %(n)s characters.", n=MAX_REASON), fields={"reason": "too long"}
        )
    return reason


# Refusals a domain built on this one adds to ``cancel`` (companies: a company
# seat whose trainee has attendance marked is not given back). Each is called
# with (actor, enrolment) on the locked run and raises a DomainError to refuse.
CANCEL_CHECKS: list[Callable[[User, Enrolment], None]] = []


def can_self_cancel(enrolment: Enrolment, now: datetime | None = None) -> bool:
    """Whether the trainee may still cancel this enrolment themself."""
    if not enrolment.is_active:
        return False
    if enrolment.status != S.confirmed.value:
        return True
    return (now or utcnow()) <= cancel_cutoff(enrolment.run)


@unit_of_work
def cancel(actor: User, enrolment_id: int, reason: str = "", *, notify: bool = True) -> Enrolment:
    """Cancel an enrolment; a freed seat goes to the first on the waitlist."""
    enrolment = get_enrolment(enrolment_id)
    if not can(actor, "cancel_enrolment", enrolment):
        if not_found_when_refused(actor):
            raise NotFound(_("No such enrolment."))
        raise Forbidden(_("You cannot cancel this enrolment."))
    reason = _clean_reason(reason)
    run = get_run(enrolment.run_id, lock=True)
    db.session.refresh(enrolment)
    if not enrolment.is_active:
        raise Conflict(_("This enrolment is already cancelled."), code="already_cancelled")
    if not is_admin(actor) and not can_self_cancel(enrolment):
        raise EnrolmentClosed(
            _("The cancellation cut-off has passed; please ask the training office."), code="cancel_cutoff_passed"
        )
    was = enrolment.status
    try:
        for check in CANCEL_CHECKS:
            check(actor, enrolment)
    except Exception:
        db.session.rollback()
        raise
    enrolment.cancel(utcnow(), reason)
    if notify:
        notifications.notify(enrolment, "enrol_cancelled", reason=reason, by_admin=actor.id != enrolment.user_id)
    record(actor, "enrolment.cancel", enrolment, reason)
    seat_freed(run, was)
    db.session.commit()
    return enrolment


def seat_freed(run: Run, was: str) -> None:
    """Give out a seat freed by an enrolment that was ``was``, by the rules:
    before the deadline the waitlist moves up; after it the seat waits for an
    admin's offer, except that a seat that was on offer passes on to the next
    in line; after the run's end nothing moves. The caller holds the run lock."""
    if was == S.offered.value:
        offers.pass_on(run)
    elif was in SEAT_STATUSES:
        promote_waitlist(run)


def release_seats_of(actor: User | None, user: User, now: datetime | None = None) -> list[Enrolment]:
    """A deactivated account gives up its places in runs that have not
    started: each active enrolment there is cancelled (no e-mail to the closed
    account) and the seat goes on by the rules (promotion before the deadline,
    an offer to pass on after it). Runs are locked in id order. The caller
    commits, in the same unit of work as the deactivation."""
    now = now or utcnow()
    rows = list(
        db.session.execute(
            select(Enrolment.id, Enrolment.run_id)
            .where(Enrolment.user_id == user.id, Enrolment.status.in_(ACTIVE_STATUSES))
            .order_by(Enrolment.run_id)
        )
    )
    released = []
    for enrolment_id, run_id in rows:
        run = get_run(run_id, lock=True)
        enrolment = db.session.get(Enrolment, enrolment_id)
        assert enrolment is not None  # read a moment ago; enrolments are not deleted while their run is locked
        db.session.refresh(enrolment)
        if not enrolment.is_active or run_start(run) <= now:
            continue
        was = enrolment.status
        enrolment.cancel(now, _("The account was deactivated."))
        record(actor, "enrolment.cancel", enrolment, "account deactivated")
        seat_freed(run, was)
        released.append(enrolment)
    return released


@unit_of_work
def decide(actor: User, enrolment_id: int, approve: bool, reason: str = "") -> Enrolment:
    """Approve or reject a pending request (admins). A rejection needs a reason,
    which the trainee is told."""
    if not is_admin(actor):
        raise Forbidden(_("Only an admin can approve enrolments."))
    enrolment = get_enrolment(enrolment_id)
    reason = _clean_reason(reason, required=not approve)
    run = get_run(enrolment.run_id, lock=True)
    db.session.refresh(enrolment)
    if enrolment.status != S.pending.value:
        raise Conflict(_("This enrolment is not waiting for approval."), code="not_pending")
    if run.status == RunStatus.cancelled.value:
        raise Conflict(_("This run has been cancelled."), code="run_cancelled")
    if not approve:
        enrolment.reject(reason)
        notifications.notify(enrolment, "enrol_rejected", reason=reason)
        record(actor, "enrolment.reject", enrolment, reason)
    else:
        enrolment.reason = reason
        enrolment.status = S.cancelled.value
        db.session.flush()
        _place(enrolment, run, utcnow(), seat_free=free_seats(run, enrolment.company_id) > 0)
        confirmed = enrolment.status == S.confirmed.value
        notifications.notify(
            enrolment,
            "enrol_approved" if confirmed else "enrol_waitlisted",
            with_calendar=confirmed,
            approved=True,
            position=waitlist_position(enrolment),
        )
        record(actor, "enrolment.approve", enrolment, f"{enrolment.status}; {reason}".strip("; "))
    db.session.commit()
    return enrolment


ADMIN_TARGETS = ("confirmed", "waitlisted", "cancelled", "rejected")


@unit_of_work
def change_status(actor: User, enrolment_id: int, status: str, reason: str) -> Enrolment:
    """An admin moves an enrolment to another status, with a reason kept on the
    enrolment and in the audit log. Seats stay exact: confirming needs a free
    seat (never an oversell; raise the capacity instead), and a seat freed by
    the change goes to the waitlist."""
    if not is_admin(actor):
        raise Forbidden(_("Only an admin can change an enrolment's status."))
    if status not in ADMIN_TARGETS:
        raise ValidationFailed(_("Unknown status."), fields={"status": "unknown"})
    reason = _clean_reason(reason, required=True)
    enrolment = get_enrolment(enrolment_id)
    if status == EnrolmentStatus.cancelled:
        return cancel(actor, enrolment_id, reason)
    if status == EnrolmentStatus.rejected:
        return decide(actor, enrolment_id, False, reason)
    run = get_run(enrolment.run_id, lock=True)
    db.session.refresh(enrolment)
    if run.status == RunStatus.cancelled.value:
        raise Conflict(_("This run has been cancelled."), code="run_cancelled")
    old = enrolment.status
    if old == status:
        raise Conflict(_("The enrolment is already %(status)s.", status=status_label(status)), code="unchanged")
    now = utcnow()
    if status == EnrolmentStatus.confirmed:
        seats = seat_counts(run)
        if old not in SEAT_STATUSES and seats.public <= 0 and seats.reserved_for(enrolment.company_id) <= 0:
            raise RunFull(_("The run is full (%(n)s seats). Raise the capacity first.", n=run.capacity))
        enrolment.confirm(now)
        kind = "enrol_confirmed"
    else:  # waitlisted: to the end of the waitlist
        enrolment.waitlist(now)
        kind = "enrol_waitlisted"
    enrolment.cancelled_at = None
    enrolment.reason = reason
    db.session.flush()
    if old in SEAT_STATUSES and enrolment.status not in SEAT_STATUSES:
        seat_freed(run, old)
        db.session.refresh(enrolment)
    notifications.notify(
        enrolment,
        kind,
        with_calendar=enrolment.status == S.confirmed.value,
        reason=reason,
        position=waitlist_position(enrolment),
    )
    record(actor, "enrolment.status", enrolment, f"{old} -> {enrolment.status}: {reason}")
    db.session.commit()
    return enrolment


@unit_of_work
def cancel_run(actor: User, run_id: int, reason: str) -> int:
    """Cancel a run: every active enrolment is cancelled and every trainee told
    (the mails are rendered and sent by a background job after the commit)."""
    if not is_admin(actor):
        raise Forbidden(_("Only an admin can cancel a run."))
    reason = _clean_reason(reason, required=True)
    run = get_run(run_id, lock=True)
    if run.status == RunStatus.cancelled.value:
        raise Conflict(_("This run is already cancelled."), code="run_cancelled")
    run.status = RunStatus.cancelled.value
    enrolments = list(
        db.session.scalars(select(Enrolment).where(Enrolment.run_id == run.id, Enrolment.status.in_(ACTIVE_STATUSES)))
    )
    now = utcnow()
    for enrolment in enrolments:
        enrolment.cancel(now, reason)
    record(actor, "run.cancel", run, f"{len(enrolments)} enrolments; {reason}")
    notifications.notify_later([e.id for e in enrolments], "run_cancelled", reason=reason)
    db.session.commit()
    return len(enrolments)


def enrol_person(
    actor: User,
    run_id: int,
    email: str,
    name: str,
    *,
    source: str = "admin",
    company: str | None = None,
    phone: str | None = None,
) -> tuple[Enrolment, bool]:
    """Admin enrols someone by e-mail, creating a trainee account when needed.
    Returns (enrolment, account_created).

    Any number of these at once for one address (a double click, two admins,
    an import) give one account and one enrolment: the account is made by
    ``ensure_trainees`` (which never trips over the unique address) before the
    run lock is taken, and every later caller gets AlreadyEnrolled (409) naming
    the enrolment. Refusals known before the lock (bad input, a cancelled
    run) save nothing."""
    if not is_admin(actor):
        raise Forbidden(_("Only an admin can enrol someone else."))
    email = normalise_email(email)
    name = clean_name(name)
    company = _optional(company, "company", 200)
    phone = _optional(phone, "phone", 50)
    run = get_run(run_id)
    if run.status == RunStatus.cancelled.value:
        raise EnrolmentClosed(_("This run has been cancelled."), code="run_cancelled")
    users, created = ensure_trainees([{"email": email, "name": name, "company": company, "phone": phone}], actor=actor)
    try:
        return enrol(actor, run_id, users[email], source=source), email in created
    except Exception:
        db.session.rollback()
        raise


def _optional(value: object, field: str, limit: int) -> str | None:
    value = " ".join(str(value or "").split())
    if len(value) > limit:
        raise ValidationFailed(
            _("%(field)s is longer than %(n)s characters.", field=field, n=limit), fields={field: "too long"}
        )
    return value or None


# --- reminders ----------------------------------------------------------------


@unit_of_work
def send_reminders(hours_before: int = 48, now: datetime | None = None) -> dict[int, int]:
    """Remind every confirmed trainee of runs whose first meeting starts within
    ``hours_before`` hours. Each run is reminded once (``reminder_sent_at``),
    even when two schedulers call this at the same time. Returns {run_id: mails}."""
    now = now or utcnow()
    horizon = now + timedelta(hours=hours_before)
    first = select(Meeting.run_id, func.min(Meeting.starts_at).label("first")).group_by(Meeting.run_id).subquery()
    run_ids = list(
        db.session.scalars(
            select(Run.id)
            .join(first, first.c.run_id == Run.id)
            .where(
                Run.reminder_sent_at.is_(None),
                Run.status.in_((RunStatus.open.value, RunStatus.closed.value)),
                first.c.first > now,
                first.c.first <= horizon,
            )
            .order_by(first.c.first)
        )
    )
    db.session.rollback()
    result = {}
    for run_id in run_ids:
        run = get_run(run_id, lock=True)
        if run.reminder_sent_at is not None or run.status == RunStatus.cancelled.value:
            db.session.rollback()
            continue
        ids = list(
            db.session.scalars(
                select(Enrolment.id)
                .where(Enrolment.run_id == run.id, Enrolment.status == S.confirmed.value)
                .order_by(Enrolment.id)
            )
        )
        run.reminder_sent_at = now
        record(None, "run.reminders", run, f"{len(ids)} trainees")
        notifications.notify_later(ids, "reminder")
        db.session.commit()
        result[run_id] = len(ids)
    return result


@jobs.job("send_reminders")
def reminders_job(progress: jobs.Progress, hours_before: int = 48) -> dict[str, int]:
    return {str(k): v for k, v in send_reminders(hours_before).items()}
