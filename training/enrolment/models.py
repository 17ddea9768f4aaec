from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..catalogue.models import Run
from ..catalogue.seats import Places, register_places
from ..extensions import Model
from ..labels import ENROLMENT_STATUS_TITLES, LabelledEnum, labels_for
from ..types import UTCDateTime, utcnow


class EnrolmentStatus(LabelledEnum):
    confirmed = "confirmed"
    waitlisted = "waitlisted"
    pending = "pending"  # waiting for an admin's approval; holds no seat
    rejected = "rejected"
    cancelled = "cancelled"
    # After the enrolment deadline a freed seat is offered by an admin to the
    # next on the waitlist; the offer holds the seat until ``offer_expires_at``.
    offered = "offered"
    offer_declined = "offer_declined"  # the trainee said no: off the waitlist
    offer_expired = "offer_expired"  # no answer in time: off the waitlist, the seat passed on


labels_for(EnrolmentStatus, ENROLMENT_STATUS_TITLES)


ACTIVE_STATUSES = (
    EnrolmentStatus.confirmed.value,
    EnrolmentStatus.waitlisted.value,
    EnrolmentStatus.pending.value,
    EnrolmentStatus.offered.value,
)
# Enrolments that hold one of the run's seats.
SEAT_STATUSES = (EnrolmentStatus.confirmed.value, EnrolmentStatus.offered.value)
_STATUSES_IN = ", ".join(f"'{s.value}'" for s in EnrolmentStatus)


class Enrolment(Model):
    """One trainee in one run. There is at most one row per (run, trainee):
    enrolling again after a cancellation re-activates the same row."""

    __tablename__ = "enrolments"
    __table_args__ = (
        UniqueConstraint("run_id", "user_id"),
        Index("ix_enrolments_run_status", "run_id", "status"),
        Index("ix_enrolments_offer_expires_at", "offer_expires_at"),
        CheckConstraint(f"status IN ({_STATUSES_IN})", name="status_known"),
        CheckConstraint("status <> 'offered' OR offer_expires_at IS NOT NULL", name="offer_has_expiry"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default="self")  # self, admin, import, api
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Waitlist order: first come, first served; the id breaks ties.
    waitlisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A seat offered after the deadline: when, and until when the trainee may accept it.
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offer_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="")  # of a rejection or an admin's change
    company: Mapped[str | None] = mapped_column(String(200))
    # The member company the trainee was in when enrolling: moving a person keeps this history.
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="SET NULL"), index=True)
    assessment_score: Mapped[int | None] = mapped_column(Integer)

    run: Mapped[Run] = relationship()
    user: Mapped[User] = relationship()

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    # --- state changes: each sets the state and the fields that belong to it. The rules that decide
    # whether a change is allowed (seats, deadlines, who asks) live in enrolment.services and .offers.

    def confirm(self, now: datetime) -> None:
        """A seat: confirmed now, off any waitlist."""
        self.status = EnrolmentStatus.confirmed.value
        self.confirmed_at = now
        self.waitlisted_at = None

    def waitlist(self, now: datetime) -> None:
        """To the end of the run's waitlist."""
        self.status = EnrolmentStatus.waitlisted.value
        self.waitlisted_at = now

    def offer(self, now: datetime, expires_at: datetime) -> None:
        """A seat offered after the enrolment deadline, to be accepted before ``expires_at``."""
        self.status = EnrolmentStatus.offered.value
        self.offered_at = now
        self.offer_expires_at = expires_at

    def end(self, status: EnrolmentStatus, now: datetime, reason: str | None = None) -> None:
        """Off the run for good: cancelled, or an offer declined or expired."""
        self.status = status.value
        self.cancelled_at = now
        self.waitlisted_at = None
        if reason is not None:
            self.reason = reason

    def cancel(self, now: datetime, reason: str | None = None) -> None:
        self.end(EnrolmentStatus.cancelled, now, reason)

    def reject(self, reason: str) -> None:
        """A request for a place turned down."""
        self.status = EnrolmentStatus.rejected.value
        self.reason = reason

    @property
    def holds_seat(self) -> bool:
        return self.status in SEAT_STATUSES


# The catalogue's seat read model counts seats and waitlist places from these rows.
register_places(
    Places(
        row=Enrolment,
        seat_statuses=SEAT_STATUSES,
        active_statuses=ACTIVE_STATUSES,
        confirmed=EnrolmentStatus.confirmed.value,
        waitlisted=EnrolmentStatus.waitlisted.value,
    )
)
