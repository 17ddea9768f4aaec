from __future__ import annotations

import enum
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..extensions import Model, db
from ..types import UTCDateTime, one_of, utcnow


class Level(str, enum.Enum):
    beginner = "beginner"
    intermediate = "intermediate"
    advanced = "advanced"


class Mode(str, enum.Enum):
    in_person = "in_person"
    online = "online"
    blended = "blended"


class RunStatus(str, enum.Enum):
    draft = "draft"
    open = "open"
    closed = "closed"
    cancelled = "cancelled"


ORIGINAL_LANGUAGE_CHECK = "original_language IN ('en', 'zh')"


class Category(Model):
    __tablename__ = "categories"
    __table_args__ = (CheckConstraint(ORIGINAL_LANGUAGE_CHECK, name="original_language_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    name_zh: Mapped[str | None] = mapped_column(String(120))
    # Which of name (English) and name_zh is the original (training.content_i18n).
    original_language: Mapped[str] = mapped_column(String(2), default="en", server_default="en")

    def label(self, locale: str | None) -> str:
        from ..content_i18n import localized

        return localized(self, "name", locale or "en")


class Course(Model):
    __tablename__ = "courses"
    __table_args__ = (
        CheckConstraint("min_attendance_pct >= 0 AND min_attendance_pct <= 100", name="min_attendance"),
        CheckConstraint("hours > 0", name="hours_positive"),
        CheckConstraint(ORIGINAL_LANGUAGE_CHECK, name="original_language_known"),
        CheckConstraint(one_of("level", Level), name="level_known"),
        # The catalogue's filters and facet counts read only these columns.
        Index("ix_courses_listing", "published", "archived", "category_id", "level", "language"),
        # Title order (the catalogue's undated courses, sort=title) read from the index, not sorted;
        # with id and the summary's columns, the listing summary (training/catalogue/listing.py)
        # reads every visible course in title order from the index alone.
        Index("ix_courses_title_order", "published", "archived", "title", "id", "category_id", "level", "language"),
        # A search's matches (ids from the search index) joined to visibility and title without
        # reading the course rows, whose descriptions make them wide (training/catalogue/search.py).
        Index("ix_courses_id_listing", "id", "published", "archived", "title"),
        # "Courses that build on this one": almost every row has no prerequisite, so the plain
        # column index looks useless to SQLite's planner; this one holds only the rows that have one.
        Index(
            "ix_courses_prerequisite_set",
            "prerequisite_course_id",
            sqlite_where=text("prerequisite_course_id IS NOT NULL"),
            postgresql_where=text("prerequisite_course_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")  # Markdown, sanitised on render
    outcomes: Mapped[str] = mapped_column(Text, default="")  # Markdown
    prerequisites: Mapped[str] = mapped_column(Text, default="")  # Markdown, informal
    audience: Mapped[str] = mapped_column(Text, default="")  # Markdown: who it is for
    # The texts above are in the original language; the *_translation columns hold the
    # other one ("" when not translated). See training.content_i18n.
    original_language: Mapped[str] = mapped_column(String(2), default="en", server_default="en")
    title_translation: Mapped[str] = mapped_column(String(200), default="", server_default="")
    summary_translation: Mapped[str] = mapped_column(String(500), default="", server_default="")
    description_translation: Mapped[str] = mapped_column(Text, default="", server_default="")
    outcomes_translation: Mapped[str] = mapped_column(Text, default="", server_default="")
    prerequisites_translation: Mapped[str] = mapped_column(Text, default="", server_default="")
    audience_translation: Mapped[str] = mapped_column(Text, default="", server_default="")
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    level: Mapped[str] = mapped_column(String(16), default=Level.beginner.value)
    hours: Mapped[float] = mapped_column(Float)
    language: Mapped[str] = mapped_column(String(16), default="en")
    # Completion rule: present and late count; excused counts only if the course says so.
    min_attendance_pct: Mapped[int] = mapped_column(Integer, default=80)
    excused_counts: Mapped[bool] = mapped_column(Boolean, default=False)
    weight_by_length: Mapped[bool] = mapped_column(Boolean, default=False)
    pass_mark: Mapped[int | None] = mapped_column(Integer)  # final assessment, optional
    # A valid certificate of this course is required before enrolling.
    prerequisite_course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"), index=True)
    validity_months: Mapped[int | None] = mapped_column(Integer)  # certificate expiry, optional
    auto_issue: Mapped[bool] = mapped_column(Boolean, default=False)
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    category: Mapped[Category | None] = relationship()
    prerequisite_course: Mapped[Course | None] = relationship(remote_side=[id])
    runs: Mapped[list[Run]] = relationship(back_populates="course", order_by="Run.starts_on")


run_trainers = Table(
    "run_trainers",
    db.Model.metadata,
    Column("run_id", ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # The primary key serves "trainers of a run"; this one serves "runs of a trainer" (profiles, Teaching).
    Index("ix_run_trainers_user_id", "user_id"),
)


class Run(Model):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_nonnegative"),
        CheckConstraint("ends_on >= starts_on", name="dates_in_order"),
        CheckConstraint(ORIGINAL_LANGUAGE_CHECK, name="original_language_known"),
        CheckConstraint(one_of("status", RunStatus), name="status_known"),
        CheckConstraint(one_of("mode", Mode), name="mode_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    starts_on: Mapped[date] = mapped_column(Date, index=True)
    ends_on: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    mode: Mapped[str] = mapped_column(String(16), default=Mode.in_person.value)
    location: Mapped[str] = mapped_column(String(300), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    capacity: Mapped[int] = mapped_column(Integer)
    # None means "the start of the first meeting" (see catalogue.services.enrol_deadline).
    enrol_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # After this, only an admin can cancel an enrolment. None: until the first meeting starts.
    cancel_cutoff: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.open.value)
    notes: Mapped[str] = mapped_column(Text, default="")
    # location and notes are in the original language; the translations hold the other one.
    original_language: Mapped[str] = mapped_column(String(2), default="en", server_default="en")
    location_translation: Mapped[str] = mapped_column(String(300), default="", server_default="")
    notes_translation: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    course: Mapped[Course] = relationship(back_populates="runs")
    trainers: Mapped[list[User]] = relationship(secondary=run_trainers, order_by=User.display_name)
    meetings: Mapped[list[Meeting]] = relationship(
        back_populates="run", order_by="Meeting.starts_at", cascade="all, delete-orphan"
    )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_taught_by(self, user: object) -> bool:
        return user is not None and getattr(user, "id", None) in {t.id for t in self.trainers}


class Meeting(Model):
    __tablename__ = "meetings"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="times_in_order"),
        CheckConstraint("sequence >= 0", name="sequence_nonnegative"),
        CheckConstraint("finalised_by_id IS NULL OR finalised_at IS NOT NULL", name="finalised_by_when_finalised"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    title: Mapped[str] = mapped_column(String(200), default="")
    # Self check-in: a per-meeting secret from which 30-second codes are derived.
    checkin_secret: Mapped[str | None] = mapped_column(String(64))
    # A cancelled meeting stays on record but no longer counts toward completion.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    # iCalendar SEQUENCE: raised whenever the event changes (moved, cancelled).
    sequence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The register is signed off: no self check-ins, no trainer changes until an admin reopens it.
    finalised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finalised_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The trainers were e-mailed that this register is still open (once, the morning after).
    register_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    run: Mapped[Run] = relationship(back_populates="meetings")
    finalised_by: Mapped[User | None] = relationship(foreign_keys=[finalised_by_id])

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None

    @property
    def is_finalised(self) -> bool:
        return self.finalised_at is not None

    @property
    def minutes(self) -> float:
        return (self.ends_at - self.starts_at).total_seconds() / 60


class SeatAllocation(Model):
    """Seats of a run reserved for one member company (training.companies).

    Until ``released_at`` the company's unused reserved seats (``seats`` minus
    the company's confirmed trainees in the run) are held back from the
    public; catalogue.seats.seat_counts is the one place that counts them.
    A release (at ``release_at``, or by an admin) returns the unused seats to
    the public pool and records how many (``released_seats``)."""

    __tablename__ = "seat_allocations"
    __table_args__ = (
        UniqueConstraint("run_id", "company_id"),
        CheckConstraint("seats >= 0", name="seats_nonnegative"),
        CheckConstraint("released_seats >= 0", name="released_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    seats: Mapped[int] = mapped_column(Integer)
    # When the company's reserved seats are full, its coordinators may still take public seats.
    overflow: Mapped[bool] = mapped_column(Boolean, default=True)
    release_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_seats: Mapped[int] = mapped_column(Integer, default=0)
    # When the coordinators were told that unused seats are about to be released (once).
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    run: Mapped[Run] = relationship()

    @property
    def held(self) -> bool:
        return self.released_at is None
