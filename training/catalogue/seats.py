"""Seats and places in runs: the one read model that counts them.

A run's ``capacity`` seats are held by the places that hold a seat (confirmed
trainees and seats on offer). Seats reserved for a member company
(``SeatAllocation``, until released) and not yet used by the company's
trainees are held back from the public. Every page, the API, enrolment and
imports ask here; nobody computes seats, waitlist positions or a viewer's
places another way.

The rows that hold places belong to enrolment, a domain built on this one.
So that the catalogue never imports it, enrolment *registers* them here when
its models are imported (``register_places``): which mapped class they are and
which of its states hold a seat, are active, confirmed or waiting. The
catalogue states what it reads of such a row (``PlaceRow``) and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import BindParameter, ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from ..extensions import db
from .models import Run, SeatAllocation


class PlaceRow(Protocol):
    """What this module reads of a row that holds a place in a run."""

    id: int
    run_id: int
    user_id: int
    company_id: int | None
    status: str
    waitlisted_at: datetime | None


@dataclass(frozen=True)
class Places:
    """Where places in runs are kept, as registered by the domain that keeps them."""

    row: Any  # the mapped class; its rows are PlaceRows (the columns are queried on the class)
    seat_statuses: tuple[str, ...]  # states that hold one of the run's seats
    active_statuses: tuple[str, ...]  # states in which a person takes part or waits
    confirmed: str
    waitlisted: str


_places: list[Places] = []


def register_places(places: Places) -> None:
    """Called once, by the domain that keeps places (enrolment), when its models are imported."""
    _places[:] = [places]


def places() -> Places:
    if not _places:
        raise RuntimeError("No domain has registered where places in runs are kept (import the enrolment models).")
    return _places[0]


# --- seats ---------------------------------------------------------------------


def confirmed_count(run_id: int) -> int:
    """Seats held in the run: confirmed trainees and seats on offer (an
    offered seat is kept for its trainee until the offer ends)."""
    p = places()
    return (
        db.session.scalar(
            select(func.count()).select_from(p.row).where(p.row.run_id == run_id, p.row.status.in_(p.seat_statuses))
        )
        or 0
    )


def confirmed_counts(run_ids: Iterable[int]) -> dict[int, int]:
    """Seats held per run (see confirmed_count), in one query, for list pages."""
    run_ids = list(run_ids)
    if not run_ids:
        return {}
    p = places()
    rows = db.session.execute(
        select(p.row.run_id, func.count())
        .where(p.row.run_id.in_(run_ids), p.row.status.in_(p.seat_statuses))
        .group_by(p.row.run_id)
    )
    counts = {run_id: 0 for run_id in run_ids}
    counts.update({run_id: n for run_id, n in rows})
    return counts


@dataclass(frozen=True)
class RunSeats:
    capacity: int
    confirmed: int
    reserved: dict[int, int]  # company id -> reserved seats the company has not used yet
    overflow: dict[int, bool]  # company id -> may the company also take public seats

    @property
    def held(self) -> int:
        """Reserved seats not yet used: not for the public."""
        return sum(self.reserved.values())

    @property
    def public(self) -> int:
        """Seats anyone may take."""
        return max(self.capacity - self.confirmed - self.held, 0)

    def reserved_for(self, company_id: int | None) -> int:
        return self.reserved.get(company_id, 0) if company_id is not None else 0


def unused_reserved(run_ids: Iterable[int]) -> tuple[dict[int, dict[int, int]], dict[int, dict[int, bool]]]:
    """Per run: {company: unused reserved seats} and {company: overflow}, of
    the allocations still held, in at most two queries."""
    run_ids = list(run_ids)
    reserved: dict[int, dict[int, int]] = {r: {} for r in run_ids}
    overflow: dict[int, dict[int, bool]] = {r: {} for r in run_ids}
    if not run_ids:
        return reserved, overflow
    allocations = db.session.execute(
        select(SeatAllocation.run_id, SeatAllocation.company_id, SeatAllocation.seats, SeatAllocation.overflow).where(
            SeatAllocation.run_id.in_(run_ids), SeatAllocation.released_at.is_(None)
        )
    ).all()
    if not allocations:
        return reserved, overflow
    p = places()
    used = {
        (r, c): n
        for r, c, n in db.session.execute(
            select(p.row.run_id, p.row.company_id, func.count())
            .where(
                p.row.run_id.in_({a.run_id for a in allocations}),
                p.row.company_id.is_not(None),
                p.row.status.in_(p.seat_statuses),
            )
            .group_by(p.row.run_id, p.row.company_id)
        )
    }
    for run_id, company_id, seats, may_overflow in allocations:
        reserved[run_id][company_id] = max(seats - used.get((run_id, company_id), 0), 0)
        overflow[run_id][company_id] = bool(may_overflow)
    return reserved, overflow


def allocations_held_sql(run_id: int | BindParameter[int]) -> ColumnElement[bool]:
    """Whether the run has seat allocations still held, as a column to read with another
    statement of the same moment: without any (the usual case) ``seat_counts`` needs no query
    of its own (``allocations=False``)."""
    return (
        select(SeatAllocation.run_id)
        .where(SeatAllocation.run_id == run_id, SeatAllocation.released_at.is_(None))
        .exists()
    )


def seat_counts(run: Run, confirmed: int | None = None, *, allocations: bool | None = None) -> RunSeats:
    """The run's seats right now (the caller holds the run lock when it acts on them).
    ``allocations``: whether the run has allocations still held, when the caller read it
    (``allocations_held_sql``) in the statement that counted ``confirmed``; None: look."""
    if confirmed is None:
        confirmed = confirmed_count(run.id)
    if allocations is False:
        return RunSeats(run.capacity, confirmed, {}, {})
    reserved, overflow = unused_reserved([run.id])
    return RunSeats(run.capacity, confirmed, reserved[run.id], overflow[run.id])


def seats_left(run: Run, confirmed: int | None = None, held: int | None = None) -> int:
    """Seats the public may take: capacity minus confirmed minus reserved seats
    not yet used. List pages pass ``confirmed`` and ``held`` (see seats_by_run)."""
    if confirmed is None:
        confirmed = confirmed_count(run.id)
    if held is None:
        held = sum(unused_reserved([run.id])[0][run.id].values())
    return max(run.capacity - confirmed - held, 0)


def public_seats_left_sql() -> ColumnElement[int]:
    """``seats_left`` as an SQL expression over ``Run`` (filters such as "open
    seats only"): capacity minus confirmed minus unused reserved seats.

    Built once per registered place model (SQL expressions are immutable and can
    be shared by any number of statements): building it took about 0.3 ms, on
    every catalogue page."""
    p = places()
    if _seats_left_sql and _seats_left_sql[0][0] is p:
        return _seats_left_sql[0][1]
    expression = _build_public_seats_left_sql(p)
    _seats_left_sql[:] = [(p, expression)]
    return expression


_seats_left_sql: list[tuple[Places, ColumnElement[int]]] = []


def _build_public_seats_left_sql(p: Places) -> ColumnElement[int]:
    confirmed = (
        select(func.count())
        .select_from(p.row)
        .where(p.row.run_id == Run.id, p.row.status.in_(p.seat_statuses))
        .correlate(Run)
        .scalar_subquery()
    )
    used = (
        select(func.count())
        .select_from(p.row)
        .where(
            p.row.run_id == SeatAllocation.run_id,
            p.row.company_id == SeatAllocation.company_id,
            p.row.status.in_(p.seat_statuses),
        )
        .correlate(SeatAllocation)
        .scalar_subquery()
    )
    held = (
        select(func.coalesce(func.sum(case((SeatAllocation.seats > used, SeatAllocation.seats - used), else_=0)), 0))
        .where(SeatAllocation.run_id == Run.id, SeatAllocation.released_at.is_(None))
        .correlate(Run)
        .scalar_subquery()
    )
    return Run.capacity - confirmed - held


def seats_by_run(runs: Iterable[Run], confirmed: dict[int, int] | None = None) -> dict[int, int]:
    """Public seats left of many runs, in one query (list pages). ``confirmed``
    is accepted for callers that have it, but the count is taken afresh."""
    runs = list(runs)
    if not runs:
        return {}
    rows = dict(
        db.session.execute(select(Run.id, public_seats_left_sql()).where(Run.id.in_([r.id for r in runs]))).all()
    )
    return {r.id: public_seats(rows.get(r.id)) for r in runs}


def public_seats(value: int | None) -> int:
    """A value of ``public_seats_left_sql`` as shown: never below zero (a run over
    capacity, after an admin lowered it, has no seats left, not fewer)."""
    return max(int(value or 0), 0)


# --- waitlist positions -----------------------------------------------------------


def waitlist_position(place: PlaceRow) -> int | None:
    """The place's position on its run's waitlist (1 is next), None when it is not waiting."""
    p = places()
    if place.status != p.waitlisted or place.waitlisted_at is None:
        return None
    row = p.row
    ahead = db.session.scalar(
        select(func.count())
        .select_from(row)
        .where(
            row.run_id == place.run_id,
            row.status == p.waitlisted,
            or_(
                row.waitlisted_at < place.waitlisted_at,
                and_(row.waitlisted_at == place.waitlisted_at, row.id < place.id),
            ),
        )
    )
    return (ahead or 0) + 1


def waitlist_positions(run_ids: Iterable[int], *, session: Session | None = None) -> dict[int, int]:
    """Waitlist position of every waiting place (by its id) of these runs, in one query."""
    run_ids = list(set(run_ids))
    if not run_ids:
        return {}
    p = places()
    positions: dict[int, int] = {}
    counters: dict[int, int] = {}
    rows = (session or db.session).execute(
        select(p.row.id, p.row.run_id)
        .where(p.row.run_id.in_(run_ids), p.row.status == p.waitlisted)
        .order_by(p.row.run_id, p.row.waitlisted_at, p.row.id)
    )
    for place_id, run_id in rows:
        counters[run_id] = counters.get(run_id, 0) + 1
        positions[place_id] = counters[run_id]
    return positions


# --- a person's places ------------------------------------------------------------


def active_places(user_id: int, run_ids: Iterable[int]) -> dict[int, Any]:
    """The person's active place (a PlaceRow) in each of these runs that has one, by run id."""
    run_ids = list(run_ids)
    if not run_ids:
        return {}
    p = places()
    return {
        place.run_id: place
        for place in db.session.scalars(
            select(p.row).where(
                p.row.user_id == user_id, p.row.run_id.in_(run_ids), p.row.status.in_(p.active_statuses)
            )
        )
    }


def confirmed_run_ids(user_id: int) -> Any:
    """The ids of the runs the person holds a confirmed place in, as a subquery."""
    p = places()
    return select(p.row.run_id).where(p.row.user_id == user_id, p.row.status == p.confirmed)
