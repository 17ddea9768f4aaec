"""Read models of a trainee's own pages."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..accounts.models import User
from ..attendance.services import Progress, load_progress
from ..catalogue.models import Run
from ..catalogue.seats import waitlist_positions
from ..catalogue.services import run_end, run_start
from ..certificates.models import Certificate
from ..enrolment.models import Enrolment, EnrolmentStatus
from ..extensions import db
from ..types import utcnow

S = EnrolmentStatus


def my_enrolments(user: User) -> list[Enrolment]:
    return list(
        db.session.scalars(
            select(Enrolment)
            .where(Enrolment.user_id == user.id)
            .options(
                selectinload(Enrolment.run).selectinload(Run.course),
                selectinload(Enrolment.run).selectinload(Run.meetings),
                selectinload(Enrolment.run).selectinload(Run.trainers),
            )
            .order_by(Enrolment.created_at.desc())
        )
    )


@dataclass
class MyTraining:
    upcoming: list[Enrolment]
    waitlisted: list[Enrolment]
    pending: list[Enrolment]
    past: list[Enrolment]
    ended: list[Enrolment]  # cancelled, declined
    positions: dict[int, int]  # enrolment id -> waitlist position
    progress: dict[int, Progress]  # enrolment id -> attendance progress
    certificates: dict[int, Certificate]  # enrolment id -> its current certificate
    offers: list[Enrolment] = field(default_factory=list)  # seats offered after the deadline


def my_training(user: User) -> MyTraining:
    """Everything the "My training" page shows, in a handful of queries."""
    enrolments = my_enrolments(user)
    now = utcnow()
    upcoming: list[Enrolment] = []
    waitlisted: list[Enrolment] = []
    pending: list[Enrolment] = []
    past: list[Enrolment] = []
    ended: list[Enrolment] = []
    offers: list[Enrolment] = []
    for e in enrolments:
        if e.status == S.offered.value:
            offers.append(e)
        elif e.status == S.waitlisted.value:
            waitlisted.append(e)
        elif e.status == S.pending.value:
            pending.append(e)
        elif e.status == S.confirmed.value:
            (past if run_end(e.run) < now else upcoming).append(e)
        else:
            ended.append(e)
    upcoming.sort(key=lambda e: run_start(e.run))
    past.sort(key=lambda e: run_start(e.run), reverse=True)
    positions = waitlist_positions({e.run_id for e in waitlisted})
    confirmed = upcoming + past
    progress = load_progress(confirmed)
    certificates: dict[int, Certificate] = {}
    if confirmed:
        for cert in db.session.scalars(
            select(Certificate).where(
                Certificate.enrolment_id.in_([e.id for e in confirmed]), Certificate.superseded_by_id.is_(None)
            )
        ):
            certificates[cert.enrolment_id] = cert
    return MyTraining(upcoming, waitlisted, pending, past, ended, positions, progress, certificates, offers)
