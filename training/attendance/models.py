from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..catalogue.models import Meeting
from ..enrolment.models import Enrolment
from ..extensions import Model
from ..labels import ATTENDANCE_STATUS_TITLES, LabelledEnum, labels_for
from ..types import UTCDateTime, one_of, utcnow


class AttendanceStatus(LabelledEnum):
    present = "present"
    late = "late"
    absent = "absent"
    excused = "excused"


labels_for(AttendanceStatus, ATTENDANCE_STATUS_TITLES)


class AttendanceSource(str, enum.Enum):
    """Where a mark came from; always decided by the server, never by the client."""

    roster = "roster"  # the trainer's roster page, online
    offline = "offline"  # the roster's queue, replayed after the device was offline
    checkin = "checkin"  # the trainee's own check-in with the room's code
    api = "api"  # the JSON API
    admin = "admin"  # an admin who is not a trainer of the run


SOURCES = tuple(s.value for s in AttendanceSource)
_IN = ", ".join(f"'{s}'" for s in SOURCES)
_STATUSES_IN = ", ".join(f"'{s.value}'" for s in AttendanceStatus)


class Attendance(Model):
    __tablename__ = "attendance"
    __table_args__ = (
        UniqueConstraint("enrolment_id", "meeting_id"),
        CheckConstraint(f"source IN ({_IN})", name="source_known"),
        CheckConstraint(f"status IN ({_STATUSES_IN})", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"))
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(16), default=AttendanceSource.roster.value)
    # When the mark was made on the device (offline marks arrive later): the newest recorded mark wins.
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    enrolment: Mapped[Enrolment] = relationship()
    meeting: Mapped[Meeting] = relationship()
    marked_by: Mapped[User | None] = relationship()


class AttendanceChange(Model):
    """Audit trail: every change of an attendance record, never edited."""

    __tablename__ = "attendance_changes"
    __table_args__ = (
        CheckConstraint(one_of("old_status", AttendanceStatus, nullable=True), name="old_status_known"),
        CheckConstraint(one_of("new_status", AttendanceStatus), name="new_status_known"),
        CheckConstraint(one_of("source", AttendanceSource), name="source_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"), index=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    old_status: Mapped[str | None] = mapped_column(String(16))
    new_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(16), default="roster")
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Offline marks are replayed with a key so that a retry changes nothing.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    changed_by: Mapped[User | None] = relationship()
    enrolment: Mapped[Enrolment] = relationship()


class AttendanceReceipt(Model):
    """Every idempotency key the server has accepted, whether or not the mark
    changed anything: a replayed offline mark is recognised and skipped even
    when its first delivery found the status already set (and so wrote no
    AttendanceChange)."""

    __tablename__ = "attendance_receipts"

    idempotency_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CheckinDevice(Model):
    """Which account checked in from which browser (a random device cookie) at
    a meeting. The first account of a device is accepted; another account's
    attempt from the same device is refused and kept here (``refused``) so the
    trainer sees it on the roster."""

    __tablename__ = "checkin_devices"
    __table_args__ = (
        UniqueConstraint("meeting_id", "device_hash", "user_id"),
        Index("ix_checkin_devices_meeting_device", "meeting_id", "device_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    device_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the cookie, never the cookie itself
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    refused: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class CheckinTicketUse(Model):
    """A QR link opened while signed out is redeemed once, by one account."""

    __tablename__ = "checkin_ticket_uses"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
