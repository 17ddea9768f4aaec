"""Enrolment read models: the wording of each state, the lists and counts the
admin pages, the API and the rules read (a run's roster, the enrolments
index, the waitlist in order). Nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import Integer, Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import selectinload

from ..accounts.models import User
from ..catalogue.models import Meeting, Run
from ..catalogue.queries import load_run_for_page
from ..catalogue.seats import allocations_held_sql, seats_left, waitlist_positions
from ..errors import NotFound, ValidationFailed
from ..extensions import db
from ..labels import ENROLMENT_STATUS_TITLES
from ..types import utcnow
from .models import SEAT_STATUSES, Enrolment, EnrolmentStatus

S = EnrolmentStatus

STATUS_LABELS = ENROLMENT_STATUS_TITLES  # the one wording of each state, in training/labels.py


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


def get_enrolment(enrolment_id: int) -> Enrolment:
    enrolment = db.session.get(Enrolment, enrolment_id)
    if enrolment is None:
        raise NotFound(_("No such enrolment."))
    return enrolment


def waitlist_query(run_id: int) -> Select[Enrolment]:
    """The run's waitlist in order: first come, first served, the id breaking ties."""
    return (
        select(Enrolment)
        .where(Enrolment.run_id == run_id, Enrolment.status == S.waitlisted.value)
        .order_by(Enrolment.waitlisted_at, Enrolment.id)
    )


def status_counts_and_allocations(run_id: int) -> tuple[dict[str, int], bool | None]:
    """The run's enrolments per status and, read in the same statement, whether the run has seat
    allocations still held (``seats.allocations_held_sql``); None when the run has no
    enrolment yet (no row to read it from)."""
    if not _STATUS_COUNTS:  # built once: it is read under the run lock of every enrolment
        run = bindparam("run_id", type_=Integer)
        _STATUS_COUNTS.append(
            select(Enrolment.status, func.count(), allocations_held_sql(run))
            .where(Enrolment.run_id == run)
            .group_by(Enrolment.status)
        )
    rows = db.session.execute(_STATUS_COUNTS[0], {"run_id": run_id}).all()
    return {status: n for status, n, _held in rows}, (bool(rows[0][2]) if rows else None)


_STATUS_COUNTS: list[Select[str, int, bool]] = []


def held_seats(counts: dict[str, int]) -> int:
    return sum(counts.get(status, 0) for status in SEAT_STATUSES)


ROSTER_ORDER = {
    "confirmed": 0,
    "offered": 1,
    "pending": 2,
    "waitlisted": 3,
    "rejected": 4,
    "cancelled": 5,
    "offer_declined": 6,
    "offer_expired": 7,
}


@dataclass
class Roster:
    run: Run
    enrolments: list[Enrolment]
    counts: dict[str, int]  # status -> enrolments
    positions: dict[int, int]  # enrolment id -> waitlist position

    @property
    def confirmed(self) -> int:
        return self.counts.get("confirmed", 0)

    @property
    def held(self) -> int:
        """Seats held: confirmed trainees and open offers."""
        return held_seats(self.counts)

    @property
    def seats_left(self) -> int:
        return seats_left(self.run, self.held)

    @property
    def fill_pct(self) -> float:
        return round(100 * self.held / self.run.capacity, 1) if self.run.capacity else 100.0


def roster(run_id: int, status: str | None = None, q: str = "") -> Roster:
    """A run's enrolments for the admin roster: seats at a glance, then the
    trainees (confirmed, pending, the waitlist in order, then the rest)."""
    run = load_run_for_page(run_id)
    counts = dict(
        db.session.execute(
            select(Enrolment.status, func.count()).where(Enrolment.run_id == run.id).group_by(Enrolment.status)
        ).all()
    )
    stmt = select(Enrolment).where(Enrolment.run_id == run.id).options(selectinload(Enrolment.user))
    if status:
        if status not in STATUS_LABELS:
            raise ValidationFailed(_("Unknown status."), fields={"status": "unknown"})
        stmt = stmt.where(Enrolment.status == status)
    q = (q or "").strip().lower()[:100]
    if q:
        like = f"%{q}%"
        stmt = stmt.join(User, User.id == Enrolment.user_id).where(
            or_(
                func.lower(User.email).like(like),
                func.lower(User.display_name).like(like),
                func.lower(func.coalesce(Enrolment.company, "")).like(like),
            )
        )
    rows = list(db.session.scalars(stmt))
    positions = waitlist_positions([run.id])
    rows.sort(key=lambda e: (ROSTER_ORDER.get(e.status, 9), positions.get(e.id, 0), e.user.display_name.casefold()))
    return Roster(run, rows, counts, positions)


def runs_overview(limit: int = 200) -> list[tuple[Run, dict[str, int]]]:
    """Runs that are running or to come (and those ended in the last 30 days),
    with their enrolment counts, for the admin enrolments index."""
    since = utcnow() - timedelta(days=30)
    last = select(Meeting.run_id, func.max(Meeting.ends_at).label("last")).group_by(Meeting.run_id).subquery()
    runs = list(
        db.session.scalars(
            select(Run)
            .outerjoin(last, last.c.run_id == Run.id)
            .where(or_(last.c.last >= since, and_(last.c.last.is_(None), Run.ends_on >= since.date())))
            .options(selectinload(Run.course), selectinload(Run.trainers))
            .order_by(Run.starts_on, Run.id)
            .limit(limit)
        )
    )
    counts: dict[int, dict[str, int]] = {r.id: {} for r in runs}
    if runs:
        for run_id, status, n in db.session.execute(
            select(Enrolment.run_id, Enrolment.status, func.count())
            .where(Enrolment.run_id.in_(list(counts)))
            .group_by(Enrolment.run_id, Enrolment.status)
        ):
            counts[run_id][status] = n
    for run in runs:
        counts[run.id]["seats_left"] = seats_left(run, held_seats(counts[run.id]))
    return [(r, counts[r.id]) for r in runs]
