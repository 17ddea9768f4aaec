from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..enrolment.models import Enrolment
from ..extensions import db
from ..types import UTCDateTime, utcnow


class Certificate(db.Model):
    """An issued certificate. What it says is a snapshot taken at issue time, so
    that later edits of the course or the holder's name never change it;
    a name correction is a reissue (new code, old one superseded)."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Canonical form: upper-case, no separators (see certificates.codes).
    code: Mapped[str] = mapped_column(String(40), unique=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id"), index=True)
    # Equal to enrolment_id while this is the enrolment's current certificate and
    # NULL once superseded: the unique index allows one current certificate per
    # enrolment, whoever issues at the same time.
    current_for_enrolment_id: Mapped[int | None] = mapped_column(unique=True)
    holder_name: Mapped[str] = mapped_column(String(200))
    course_code: Mapped[str] = mapped_column(String(32))
    course_title: Mapped[str] = mapped_column(String(200))
    hours: Mapped[float] = mapped_column(Float)
    run_starts_on: Mapped[date] = mapped_column(Date)
    run_ends_on: Mapped[date] = mapped_column(Date)
    completed_on: Mapped[date] = mapped_column(Date)
    trainer_names: Mapped[str] = mapped_column(Text, default="")  # "; "-separated
    issuer_name: Mapped[str] = mapped_column(String(200))
    attendance_pct: Mapped[float | None] = mapped_column(Float)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    expires_on: Mapped[date | None] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    expiry_reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    enrolment: Mapped[Enrolment] = relationship()
    issued_by: Mapped[User | None] = relationship(foreign_keys=[issued_by_id])
    superseded_by: Mapped[Certificate | None] = relationship(remote_side=[id])

    def status_on(self, today: date) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.superseded_by_id is not None:
            return "superseded"
        if self.expires_on is not None and self.expires_on < today:
            return "expired"
        return "valid"

    @property
    def status(self) -> str:
        return self.status_on(utcnow().date())

    @property
    def trainers(self) -> list[str]:
        return [t for t in self.trainer_names.split("; ") if t]
