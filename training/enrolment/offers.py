"""Seats after the enrolment deadline: offered, accepted, declined, expired.

Until a run's enrolment deadline a freed seat goes to the first on the
waitlist at once (waitlist.promote_waitlist). After the deadline that would
confirm someone who may no longer be able to come at a day's notice, so the
seat waits: an admin sees the waitlist and *offers* the seat to the next in
line. The offer holds the seat (it counts as taken) until it expires
(``SEAT_OFFER_HOURS`` after the offer, never after the run's end). The
trainee accepts (confirmed, with the calendar) or declines (off the
waitlist); an offer that is declined, cancelled or left unanswered passes on
to the next in line by itself (``expire_offers``, run from a scheduler, is
idempotent). Once the run has ended nothing is offered, promoted or sent.

Every function here is one unit of work under the run lock, like the rest of
enrolment.services.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NoReturn

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from .. import jobs
from ..accounts.models import User
from ..audit import record
from ..catalogue.models import Run, RunStatus
from ..catalogue.seats import seat_counts, waitlist_position
from ..catalogue.services import enrol_deadline, get_run, run_end
from ..errors import Conflict, Forbidden, NotFound
from ..extensions import db
from ..permissions import can
from ..types import utcnow
from ..urls import public_base_url
from .models import Enrolment, EnrolmentStatus
from .notifications import notify, run_moment
from .queries import get_enrolment, status_label, waitlist_query
from .waitlist import promote_waitlist, waitlist_moves

S = EnrolmentStatus


def _expires(enrolment: Enrolment) -> datetime:
    """When the seat offered to ``enrolment`` lapses (an offered enrolment has the moment)."""
    assert enrolment.offer_expires_at is not None
    return enrolment.offer_expires_at


def offer_hours() -> int:
    return int(current_app.config.get("SEAT_OFFER_HOURS") or 48)


def offer_window_ends(run: Run, now: datetime) -> datetime:
    """When an offer made now expires: ``SEAT_OFFER_HOURS`` later, but never
    after the run's end."""
    return min(now + timedelta(hours=offer_hours()), run_end(run))


def can_offer(run: Run, now: datetime | None = None) -> bool:
    """Whether seats of this run are given out by offers now: after the
    enrolment deadline and before the run's end."""
    now = now or utcnow()
    return run.status != RunStatus.cancelled.value and now > enrol_deadline(run) and now < run_end(run)


def _make_offer(enrolment: Enrolment, run: Run, now: datetime, actor: User | None) -> None:
    enrolment.offer(now, offer_window_ends(run, now))
    record(
        actor,
        "enrolment.offer",
        enrolment,
        f"run {run.id} until {_expires(enrolment).isoformat(timespec='minutes')}",
    )
    notify(
        enrolment,
        "enrol_offered",
        expires_at=enrolment.offer_expires_at,
        offer_url=f"{public_base_url()}/enrolments/{enrolment.id}/offer",
    )


def pass_on(run: Run, now: datetime | None = None) -> list[Enrolment]:
    """Give the run's free seats out after one was freed: before the deadline
    by promoting the waitlist, after it by offering them to the next in line,
    after the run's end not at all. The caller holds the run lock and commits."""
    now = now or utcnow()
    db.session.flush()
    if run.status == RunStatus.cancelled.value or now >= run_end(run):
        return []
    if waitlist_moves(run, now):
        return promote_waitlist(run)
    offered = in_line(run)
    for enrolment in offered:
        _make_offer(enrolment, run, now, None)
    db.session.flush()
    return offered


def in_line(run: Run) -> list[Enrolment]:
    """The waitlisted enrolments the run's free seats would go to now, in
    waitlist order: a company's people to its unused reserved seats, anyone
    to the public seats (the same rule as waitlist.promote_waitlist)."""
    db.session.flush()
    seats = seat_counts(run)
    free, reserved = seats.public, dict(seats.reserved)
    chosen = []
    for enrolment in db.session.scalars(waitlist_query(run.id).execution_options(populate_existing=True)):
        company_id = enrolment.company_id  # None (no company) holds no reserved seat
        if company_id is not None and reserved.get(company_id, 0) > 0:
            reserved[company_id] -= 1
        elif free > 0:
            free -= 1
        elif not any(reserved.values()):
            break
        else:
            continue
        chosen.append(enrolment)
    return chosen


def _load(enrolment_id: int) -> tuple[Enrolment, Run]:
    enrolment = get_enrolment(enrolment_id)
    run = get_run(enrolment.run_id, lock=True)
    db.session.refresh(enrolment)
    return enrolment, run


def _fail(error: Exception) -> NoReturn:
    db.session.rollback()
    raise error


def offer_seat(actor: User, enrolment_id: int, now: datetime | None = None) -> Enrolment:
    """An admin offers a free seat to a waitlisted trainee, the next in line.
    Refusals (409): not waitlisted, before the deadline (the waitlist moves by
    itself then), the run has ended or was cancelled, no free seat, someone
    ahead in line."""
    enrolment, run = _load(enrolment_id)
    if not can(actor, "offer_seat", enrolment):
        _fail(Forbidden(_("Only an admin can offer a seat.")))
    now = now or utcnow()
    if run.status == RunStatus.cancelled.value:
        _fail(Conflict(_("This run has been cancelled."), code="run_cancelled"))
    if enrolment.status == S.offered.value:
        _fail(
            Conflict(
                _(
                    "A seat is already offered to this trainee, until %(until)s.",
                    until=run_moment(_expires(enrolment), run),
                ),
                code="already_offered",
            )
        )
    if enrolment.status != S.waitlisted.value:
        _fail(Conflict(_("Only someone on the waitlist can be offered a seat."), code="not_waitlisted"))
    if now >= run_end(run):
        _fail(Conflict(_("The run has ended; seats are no longer given out."), code="run_ended"))
    if now <= enrol_deadline(run):
        _fail(
            Conflict(
                _("Until the enrolment deadline free seats go to the waitlist by themselves."), code="before_deadline"
            )
        )
    line = in_line(run)
    if not line:
        _fail(Conflict(_("There is no free seat to offer. Raise the capacity first."), code="run_full"))
    if line[0].id != enrolment.id:
        _fail(
            Conflict(
                _(
                    "Offer the seat to the first on the waitlist first (this trainee is number %(n)s).",
                    n=waitlist_position(enrolment),
                ),
                code="not_next_in_line",
            )
        )
    _make_offer(enrolment, run, now, actor)
    db.session.commit()
    return enrolment


def _check_trainee(actor: User, enrolment: Enrolment) -> None:
    if not can(actor, "answer_offer", enrolment):
        _fail(Forbidden(_("This offer is not yours.")))


def _check_offered(enrolment: Enrolment) -> None:
    if enrolment.status != S.offered.value:
        _fail(
            Conflict(
                _(
                    "There is no open offer for this enrolment (it is %(status)s).",
                    status=status_label(enrolment.status),
                ),
                code="no_offer",
                enrolment_status=enrolment.status,
            )
        )


def accept_offer(actor: User, enrolment_id: int, now: datetime | None = None) -> Enrolment:
    """The trainee (or an admin for them) takes the offered seat: confirmed,
    with the calendar by e-mail. Refusals (409): no open offer, expired."""
    enrolment, run = _load(enrolment_id)
    _check_trainee(actor, enrolment)
    now = now or utcnow()
    _check_offered(enrolment)
    if now > _expires(enrolment) or now >= run_end(run):
        _fail(
            Conflict(
                _(
                    "This offer expired at %(until)s; the seat has passed on.",
                    until=run_moment(_expires(enrolment), run),
                ),
                code="offer_expired",
            )
        )
    enrolment.confirm(now)
    record(actor, "enrolment.accept_offer", enrolment, f"run {run.id}")
    notify(enrolment, "enrol_confirmed", with_calendar=True)
    db.session.commit()
    return enrolment


def decline_offer(actor: User, enrolment_id: int, now: datetime | None = None) -> Enrolment:
    """The trainee (or an admin for them) declines: off the waitlist, and the
    seat is offered to the next in line."""
    enrolment, run = _load(enrolment_id)
    _check_trainee(actor, enrolment)
    now = now or utcnow()
    _check_offered(enrolment)
    enrolment.end(S.offer_declined, now)
    record(actor, "enrolment.decline_offer", enrolment, f"run {run.id}")
    pass_on(run, now)
    db.session.commit()
    return enrolment


def expire_offers(now: datetime | None = None) -> int:
    """End every offer whose time is up and pass its seat on. Idempotent:
    each offer is re-checked under its run's lock, so two schedulers at once
    expire it once. Returns the number of offers ended."""
    now = now or utcnow()
    ids = list(
        db.session.scalars(
            select(Enrolment.id)
            .where(Enrolment.status == S.offered.value, Enrolment.offer_expires_at < now)
            .order_by(Enrolment.offer_expires_at)
        )
    )
    db.session.rollback()
    ended = 0
    for enrolment_id in ids:
        enrolment = db.session.get(Enrolment, enrolment_id)
        assert enrolment is not None  # read a moment ago; enrolments are not deleted
        run = get_run(enrolment.run_id, lock=True)
        db.session.refresh(enrolment)
        if enrolment.status != S.offered.value or _expires(enrolment) >= now:
            db.session.rollback()
            continue
        enrolment.end(S.offer_expired, now)
        record(None, "enrolment.offer_expired", enrolment, f"run {run.id}")
        if now < run_end(run):
            notify(enrolment, "enrol_offer_expired")
        pass_on(run, now)
        db.session.commit()
        ended += 1
    return ended


@jobs.job("expire_offers")
def expire_offers_job(progress: jobs.Progress) -> int:
    return expire_offers()


def offer_for(actor: User, enrolment_id: int) -> Enrolment:
    """An enrolment for the offer page: its trainee (or an admin) only."""
    from sqlalchemy.orm import selectinload

    enrolment = db.session.scalar(
        select(Enrolment)
        .where(Enrolment.id == enrolment_id)
        .options(
            selectinload(Enrolment.user),
            selectinload(Enrolment.run).selectinload(Run.course),
            selectinload(Enrolment.run).selectinload(Run.meetings),
        )
    )
    if enrolment is None:
        raise NotFound(_("No such enrolment."))
    if not can(actor, "answer_offer", enrolment):
        raise Forbidden(_("This offer is not yours."))
    return enrolment


def waitlist_for_offers(run: Run) -> dict[str, Any]:
    """What the roster shows about offers: whether seats are given out by
    offers now, how many waitlisted trainees free seats would go to, and the
    id of the next in line."""
    if not can_offer(run):
        return {"by_offer": False, "free": 0, "next_id": None, "hours": offer_hours()}
    line = in_line(run)
    return {"by_offer": True, "free": len(line), "next_id": line[0].id if line else None, "hours": offer_hours()}
