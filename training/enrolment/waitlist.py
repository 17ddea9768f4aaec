"""The waitlist moves: seats that become free go to the first in line, by
themselves, until the enrolment deadline (after it they are offered, see
offers.py; after the run's end nothing moves). Every function here runs
inside the caller's unit of work, on a run the caller has locked."""

from __future__ import annotations

from datetime import datetime

from .. import signals
from ..audit import record
from ..catalogue.models import Run, RunStatus
from ..catalogue.seats import seat_counts
from ..catalogue.services import enrol_deadline, run_end
from ..extensions import db
from ..types import utcnow
from .models import Enrolment
from .notifications import notify, notify_later
from .queries import waitlist_query


def waitlist_moves(run: Run, now: datetime | None = None) -> bool:
    """Whether freed seats go to the waitlist by themselves: until the
    enrolment deadline, and never once the run has ended."""
    now = now or utcnow()
    return now <= enrol_deadline(run) and now < run_end(run)


def promote_waitlist(run: Run) -> list[Enrolment]:
    """Fill free seats from the waitlist, first come first served, until the
    enrolment deadline (after it seats are offered, see offers.py; after the
    run's end nothing moves). The caller holds the run lock and commits."""
    db.session.flush()
    if run.status == RunStatus.cancelled.value or not waitlist_moves(run):
        return []
    seats = seat_counts(run)
    free, reserved = seats.public, dict(seats.reserved)
    if free <= 0 and not seats.held:
        return []
    promoted = []
    # In waitlist order: a company's people take its unused reserved seats, anyone the public seats.
    for enrolment in list(db.session.scalars(waitlist_query(run.id).execution_options(populate_existing=True))):
        company_id = enrolment.company_id  # None (no company) holds no reserved seat
        if company_id is not None and reserved.get(company_id, 0) > 0:
            reserved[company_id] -= 1
        elif free > 0:
            free -= 1
        else:
            if not any(reserved.values()):
                break
            continue
        promoted.append(enrolment)
    now = utcnow()
    for enrolment in promoted:
        enrolment.confirm(now)
        record(None, "enrolment.promote", enrolment, f"run {run.id}")
    db.session.flush()
    if len(promoted) > 20:
        notify_later([e.id for e in promoted], "enrol_promoted")
    else:
        for enrolment in promoted:
            notify(enrolment, "enrol_promoted", with_calendar=True)
    return promoted


@signals.run_changed.connect
def _run_changed(run: Run, **_kwargs: object) -> None:
    """Seats the catalogue freed by changing the run (capacity, dates) go to the waitlist."""
    promote_waitlist(run)
