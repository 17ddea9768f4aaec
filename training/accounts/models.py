from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from ..types import UTCDateTime, one_of, utcnow

if TYPE_CHECKING:
    pass


class Role(str, enum.Enum):
    trainee = "trainee"
    trainer = "trainer"
    admin = "admin"
    assessor = "assessor"  # grants qualifications (issue 14)
    coordinator = "coordinator"  # manages the people and bookings of one company (User.company_id)


class User(UserMixin, Model):  # type: ignore[misc]  # Flask-Login has no types
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(one_of("role", Role), name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased: the unique index makes e-mail addresses case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.trainee.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(10))
    company: Mapped[str | None] = mapped_column(String(200))  # free text as typed; company_id is the record
    # The member company the person belongs to now (training.companies); history stays on enrolments.
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="SET NULL"), index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    # Bumped to end every session of the user (logout everywhere, password change).
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    # Secret for the personal calendar feed URL; reset by the user.
    calendar_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    # An account-wide lock, only under a distributed attack (see accounts.throttle); a reset link ends it.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the owner was last told of such a lock (at most one e-mail a day).
    lock_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    trainer_profile: Mapped[TrainerProfile | None] = relationship(
        back_populates="user", uselist=False, cascade="all, delete-orphan"
    )

    # The login session this request runs in (set at login and by the session loader).
    login_session_key = None  # type: str | None

    def get_id(self) -> str:
        """Flask-Login keeps this in the session and the remember cookie: the id,
        the version (bumped to end every session) and the key of this login
        session, which logout deletes on the server."""
        if self.login_session_key:
            return f"{self.id}:{self.session_version}:{self.login_session_key}"
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin.value

    @property
    def is_trainer(self) -> bool:
        return self.role == Role.trainer.value

    @property
    def is_coordinator(self) -> bool:
        return self.role == Role.coordinator.value

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class TrainerProfile(Model):
    __tablename__ = "trainer_profiles"
    __table_args__ = (CheckConstraint("original_language IN ('en', 'zh')", name="original_language_known"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    title: Mapped[str | None] = mapped_column(String(200))
    organisation: Mapped[str | None] = mapped_column(String(200))
    bio: Mapped[str] = mapped_column(Text, default="")
    # title and bio are in the original language; the translations hold the other one
    # ("" when not translated). See training.content_i18n.
    original_language: Mapped[str] = mapped_column(String(2), default="en", server_default="en")
    title_translation: Mapped[str] = mapped_column(String(200), default="", server_default="")
    bio_translation: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Comma-separated tags, e.g. "PLC, IEC 61131-3, Siemens TIA Portal".
    expertise: Mapped[str] = mapped_column(String(500), default="")
    # Server-chosen file stem of the stored photo (see trainers.photos).
    photo: Mapped[str | None] = mapped_column(String(64))
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(back_populates="trainer_profile")

    @property
    def expertise_tags(self) -> list[str]:
        return [t.strip() for t in (self.expertise or "").split(",") if t.strip()]


class ApiToken(Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the token: the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class LoginSession(Model):
    """One login (a browser's session cookie and its remember cookie). Logging
    out deletes the row, so a cookie copied before then opens nothing."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the key the cookies carry; the key itself is never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class LoginFailure(Model):
    """A failed login: which account (a hash of the address typed, known or not)
    from which source (an IPv4 address or an IPv6 /64), when."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_account_created", "account_key", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
