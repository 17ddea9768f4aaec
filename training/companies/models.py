"""Companies and the records only this domain owns.

A person belongs to at most one company at a time (``User.company_id``); an
enrolment keeps the company the person was in when they enrolled
(``Enrolment.company_id``), so moving a person keeps their history. Reserved
seats (``SeatAllocation``) live with the run in ``catalogue.models`` because
seat counting is the catalogue's, in one place."""

from __future__ import annotations

import enum
import unicodedata
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Role, User
from ..extensions import Model
from ..types import UTCDateTime, one_of, utcnow


class MembershipTier(str, enum.Enum):
    member = "member"
    associate = "associate"
    founding = "founding"

    @property
    def label(self) -> str:
        return str(TIER_LABELS[self])


TIER_LABELS = {
    MembershipTier.member: _l("Member"),
    MembershipTier.associate: _l("Associate member"),
    MembershipTier.founding: _l("Founding member"),
}


class InvitationStatus(str, enum.Enum):
    pending = "pending"  # sent; the address has not signed in or registered since
    linked = "linked"  # the person signed in or registered and now belongs to the company
    revoked = "revoked"

    @property
    def label(self) -> str:
        return str(INVITATION_LABELS[self])


INVITATION_LABELS = {
    InvitationStatus.pending: _l("Invited"),
    InvitationStatus.linked: _l("Joined"),
    InvitationStatus.revoked: _l("Withdrawn"),
}


def name_key(text: str | None) -> str:
    """How two spellings of a company name are compared: Unicode NFKC (full-width
    letters become ASCII), case-folded, white space collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


class Company(Model):
    __tablename__ = "companies"
    __table_args__ = (CheckConstraint("tier IN ('member', 'associate', 'founding')", name="tier_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str | None] = mapped_column(String(200))
    # Unified social credit code (18 characters) or a VAT id.
    credit_code: Mapped[str | None] = mapped_column(String(32), unique=True)
    address: Mapped[str] = mapped_column(Text, default="")
    tier: Mapped[str] = mapped_column(String(16), default=MembershipTier.member.value)
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    contact_phone: Mapped[str] = mapped_column(String(50), default="")
    # False for companies the migration made from users' free-text company: an admin reviews them.
    reviewed: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def tier_label(self) -> str:
        return MembershipTier(self.tier).label

    def label(self, locale: str | None = None) -> str:
        if locale and str(locale).startswith("zh") and self.name_zh:
            return self.name_zh
        return self.name

    def __repr__(self) -> str:
        return f"<Company {self.id} {self.code}>"


class CompanyInvitation(Model):
    """An address a coordinator invited: a pending person until someone with
    that address registers or signs in, who then joins the company."""

    __tablename__ = "company_invitations"
    __table_args__ = (
        UniqueConstraint("company_id", "email"),
        CheckConstraint("status IN ('pending', 'linked', 'revoked')", name="status_known"),
        CheckConstraint(one_of("role", Role), name="role_known"),
        Index("ix_company_invitations_email_status", "email", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="trainee")
    status: Mapped[str] = mapped_column(String(16), default=InvitationStatus.pending.value)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    company: Mapped[Company] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])

    @property
    def state(self) -> InvitationStatus:
        return InvitationStatus(self.status)


class ReportMail(Model):
    """One monthly report mail per coordinator and month: the row is the
    guarantee that it goes out once, however often the scheduler runs."""

    __tablename__ = "company_report_mails"
    __table_args__ = (UniqueConstraint("company_id", "user_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, in the organisation's time zone
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
