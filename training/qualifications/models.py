"""Qualifications: skills, positions and their requirements, and the grants
that say who holds which skill at which level, from when until when.

A grant's state on a date is computed in ONE place, ``grant_state``; every
page, export, API answer and reminder asks it.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..content_i18n import Localized, localized
from ..extensions import Model
from ..types import UTCDateTime, local_date, org_tz, utcnow

# The I-L-U-O scale of the shop floor, the default of every new skill.
DEFAULT_LEVELS: list[dict[str, str]] = [
    {"code": "I", "name": "Learning", "name_zh": "学习中"},
    {"code": "L", "name": "Can work with help", "name_zh": "可在指导下操作"},
    {"code": "U", "name": "Independent", "name_zh": "可独立操作"},
    {"code": "O", "name": "Can train others", "name_zh": "可培训他人"},
]
MAX_LEVELS = 9
DEFAULT_EXPIRING_DAYS = 90


class GrantSource(str, enum.Enum):
    certificate = "certificate"
    assessment = "assessment"
    manual = "manual"  # a supervisor's sign-off

    @property
    def label(self) -> str:
        return str(SOURCE_LABELS[self])


SOURCE_LABELS = {
    GrantSource.certificate: _l("certificate"),
    GrantSource.assessment: _l("assessment"),
    GrantSource.manual: _l("manual sign-off"),
}


class QualificationState(str, enum.Enum):
    valid = "valid"
    expiring = "expiring"  # valid, but lapses within the window
    expired = "expired"
    revoked = "revoked"

    @property
    def label(self) -> str:
        return str(STATE_LABELS[self])

    @property
    def glyph(self) -> str:
        """A shape per state, so the matrix reads in black and white and for colour-blind readers."""
        return STATE_GLYPHS[self]

    @property
    def qualifies(self) -> bool:
        return self in (QualificationState.valid, QualificationState.expiring)


STATE_LABELS = {
    QualificationState.valid: _l("valid"),
    QualificationState.expiring: _l("expiring"),
    QualificationState.expired: _l("expired"),
    QualificationState.revoked: _l("revoked"),
}
STATE_GLYPHS = {
    QualificationState.valid: "●",
    QualificationState.expiring: "◐",
    QualificationState.expired: "○",
    QualificationState.revoked: "✕",
}


def day_start_utc(day: date) -> datetime:
    """The first moment of ``day`` in the organisation's zone, as an aware UTC datetime."""
    return datetime.combine(day, time(), org_tz()).astimezone(UTC)


def grant_state(
    valid_from: date,
    valid_until: date | None,
    revoked_at: datetime | None,
    on: date,
    window_days: int = DEFAULT_EXPIRING_DAYS,
) -> QualificationState | None:
    """The state of a grant on the date ``on`` (a date in the organisation's zone).

    None: not valid yet on that date (it does not exist for that day). A grant
    revoked on or before ``on`` (org date of the revocation) is revoked; one
    whose ``valid_until`` is before ``on`` is expired (valid through its last
    day); one that lapses within ``window_days`` after ``on`` is expiring.
    """
    if valid_from > on:
        return None
    if revoked_at is not None and local_date(revoked_at) <= on:
        return QualificationState.revoked
    if valid_until is not None and valid_until < on:
        return QualificationState.expired
    if valid_until is not None and valid_until <= on + timedelta(days=window_days):
        return QualificationState.expiring
    return QualificationState.valid


class Skill(Model):
    __tablename__ = "skills"
    __table_args__ = (
        CheckConstraint(
            "validity_months IS NULL OR (validity_months >= 1 AND validity_months <= 600)", name="validity_months_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str] = mapped_column(String(100), default="")
    # [{"code", "name", "name_zh"}, ...], level n is levels[n - 1]; validated by the services.
    levels: Mapped[list[dict[str, str]]] = mapped_column(
        JSON, default=lambda: [dict(level) for level in DEFAULT_LEVELS]
    )
    validity_months: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def level_count(self) -> int:
        return len(self.levels or DEFAULT_LEVELS)

    def level_code(self, level: int) -> str:
        levels = self.levels or DEFAULT_LEVELS
        return levels[level - 1]["code"] if 1 <= level <= len(levels) else str(level)

    def level_name(self, level: int, locale: str = "en") -> str:
        levels = self.levels or DEFAULT_LEVELS
        if not 1 <= level <= len(levels):
            return str(level)
        entry = levels[level - 1]
        return (entry.get("name_zh") if locale.startswith("zh") else None) or entry.get("name") or entry["code"]

    def display_name(self, locale: str | None = None) -> Localized:
        """The name in ``locale`` (default: the current one), else the other language's (``.is_fallback``)."""
        return localized(self, "name", locale)


class CourseSkill(Model):
    """Completing the course (its certificate) grants the skill at this level."""

    __tablename__ = "course_skills"
    __table_args__ = (CheckConstraint("level >= 1", name="level_positive"),)

    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True, index=True)
    level: Mapped[int] = mapped_column(Integer)

    skill: Mapped[Skill] = relationship()


class Position(Model):
    """A station, machine, line or job role, and what it takes to work it."""

    __tablename__ = "positions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200), default="")
    site: Mapped[str] = mapped_column(String(100), default="", index=True)
    department: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    requirements: Mapped[list[PositionRequirement]] = relationship(
        back_populates="position", cascade="all, delete-orphan", order_by="PositionRequirement.skill_id"
    )
    people: Mapped[list[PositionPerson]] = relationship(
        back_populates="position", cascade="all, delete-orphan", order_by="PositionPerson.user_id"
    )

    def display_name(self, locale: str | None = None) -> Localized:
        """The name in ``locale`` (default: the current one), else the other language's (``.is_fallback``)."""
        return localized(self, "name", locale)


class PositionRequirement(Model):
    __tablename__ = "position_requirements"
    __table_args__ = (
        CheckConstraint("level >= 1", name="level_positive"),
        CheckConstraint("min_people >= 0 AND min_people <= 10000", name="min_people_range"),
    )

    position_id: Mapped[int] = mapped_column(ForeignKey("positions.id", ondelete="CASCADE"), primary_key=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True, index=True)
    level: Mapped[int] = mapped_column(Integer)
    # How many qualified people the position needs per shift.
    min_people: Mapped[int] = mapped_column(Integer, default=1)

    position: Mapped[Position] = relationship(back_populates="requirements")
    skill: Mapped[Skill] = relationship()


class PositionPerson(Model):
    """Who works on a position (assigned by admins)."""

    __tablename__ = "position_people"

    position_id: Mapped[int] = mapped_column(ForeignKey("positions.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    position: Mapped[Position] = relationship(back_populates="people")
    user: Mapped[User] = relationship(foreign_keys=[user_id])


class Grant(Model):
    """A person's qualification: a skill at a level, from a source, with evidence.

    Grants are never deleted: a revoked or expired grant stays visible and counts
    as not qualified. A certificate's grants are created, revoked and replaced in
    the certificate's own transaction (training.signals)."""

    __tablename__ = "qualification_grants"
    __table_args__ = (
        CheckConstraint("level >= 1", name="level_positive"),
        CheckConstraint("source IN ('certificate', 'assessment', 'manual')", name="source_known"),
        CheckConstraint("source <> 'certificate' OR certificate_id IS NOT NULL", name="certificate_evidence"),
        CheckConstraint("valid_until IS NULL OR valid_until >= valid_from", name="dates_in_order"),
        CheckConstraint(
            "evidence_sha256 IS NULL OR evidence_mimetype IN "
            "('application/pdf', 'image/jpeg', 'image/png', 'image/webp')",
            name="evidence_file_type",
        ),
        UniqueConstraint("certificate_id", "skill_id", name="uq_qualification_grants_certificate_skill"),
        Index("ix_qualification_grants_skill_user", "skill_id", "user_id"),
        Index("ix_qualification_grants_valid_until", "valid_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"), index=True)
    evidence: Mapped[str] = mapped_column(Text, default="")
    # An attached file (a scanned sign-off sheet, a photo of the practical test): its bytes live
    # write-once in the document store under this SHA-256 (training.certificates.documents).
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    evidence_filename: Mapped[str] = mapped_column(String(200), default="")
    evidence_mimetype: Mapped[str] = mapped_column(String(64), default="")
    evidence_size: Mapped[int | None] = mapped_column(Integer)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str] = mapped_column(Text, default="")
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("qualification_grants.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    skill: Mapped[Skill] = relationship()
    granted_by: Mapped[User | None] = relationship(foreign_keys=[granted_by_id])
    certificate = relationship("Certificate")

    @property
    def source_label(self) -> str:
        return GrantSource(self.source).label

    def state_on(self, on: date, window_days: int = DEFAULT_EXPIRING_DAYS) -> QualificationState | None:
        return grant_state(self.valid_from, self.valid_until, self.revoked_at, on, window_days)

    def revoke(self, actor_id: int | None, reason: str, at: datetime | None = None) -> None:
        if self.revoked_at is None:
            self.revoked_at = at or utcnow()
            self.revoked_reason = reason
            self.revoked_by_id = actor_id


class QualificationReminder(Model):
    """One renewal reminder sent for a grant, ``days_before`` its expiry (90, 30
    or 7): the unique key makes each reminder go out once."""

    __tablename__ = "qualification_reminders"
    __table_args__ = (
        UniqueConstraint("grant_id", "days_before", name="uq_qualification_reminders_grant_days"),
        CheckConstraint("days_before > 0", name="days_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("qualification_grants.id", ondelete="CASCADE"))
    days_before: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
