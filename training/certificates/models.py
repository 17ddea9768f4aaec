from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, Float, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import content_i18n
from ..accounts.models import User
from ..enrolment.models import Enrolment
from ..extensions import Model
from ..types import UTCDateTime, local_date, org_today, utcnow


class Certificate(Model):
    """An issued certificate. What it says is a snapshot taken at issue time, so
    that later edits of the course or the holder's name never change it;
    a name correction is a reissue (new code, old one superseded)."""

    __tablename__ = "certificates"
    __table_args__ = (CheckConstraint("course_title_language IN ('en', 'zh')", name="course_title_language_known"),)

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
    # The course title as issued, in its original language (course_title_language), and in
    # the other language ("" when the course had none): both are printed (issue 18).
    course_title: Mapped[str] = mapped_column(String(200))
    course_title_language: Mapped[str] = mapped_column(String(2), default="en", server_default="en")
    course_title_translation: Mapped[str] = mapped_column(String(200), default="", server_default="")
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
    # On a reissued certificate: the code it replaces (printed on the document).
    reissue_of_code: Mapped[str | None] = mapped_column(String(40))
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SHA-256 (hex) of the signed PDF made at issue and kept write-once in the
    # document store (certificates.documents); NULL only for certificates issued
    # before documents were stored, until their document is made (see services.document_for).
    document_sha256: Mapped[str | None] = mapped_column(String(64), index=True)

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
        """Judged on today's date in the organisation's time zone (``ORG_TIMEZONE``)."""
        return self.status_on(org_today())

    @property
    def issued_on(self) -> date:
        """The issue date printed and shown: the day of issue in the
        organisation's time zone, never before the completion date (which is
        in the run's zone, possibly ahead of the organisation's)."""
        return max(local_date(self.issued_at), self.completed_on)

    @property
    def trainers(self) -> list[str]:
        return [t for t in self.trainer_names.split("; ") if t]

    @property
    def course_titles(self) -> dict[str, str]:
        """{"en": ..., "zh": ...} as issued ("" for a language the course had no title in)."""
        return content_i18n.texts(self, "course_title")

    def course_title_in(self, lang: str | None = None) -> content_i18n.Localized:
        """The title in ``lang`` (default: the current locale), else the other one, marked as a fallback."""
        return content_i18n.localized(self, "course_title", lang)


# The issued title is bilingual like the course's (the snapshot keeps the course's layout).
content_i18n.register(
    "Certificate",
    content_i18n.Layout(
        "original", {"course_title": ("course_title", "course_title_translation")}, marker="course_title_language"
    ),
)


class CertificateTemplate(Model):
    """How certificates look and what they say. The row without a course is the
    default; a course may have its own. Text is plain (no markup); images are
    stored normalised as JPEG (see certificates.templates)."""

    __tablename__ = "certificate_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), unique=True)
    language: Mapped[str] = mapped_column(String(16), default="bilingual")  # en, zh, bilingual
    title_en: Mapped[str] = mapped_column(String(120), default="Certificate of Completion")
    title_zh: Mapped[str] = mapped_column(String(60), default="结业证书")
    intro_en: Mapped[str] = mapped_column(String(200), default="This is to certify that")
    intro_zh: Mapped[str] = mapped_column(String(100), default="兹证明")
    body_en: Mapped[str] = mapped_column(String(200), default="has successfully completed the training course")
    body_zh: Mapped[str] = mapped_column(String(100), default="已完成以下培训课程，成绩合格")
    primary_color: Mapped[str] = mapped_column(String(7), default="#0B3C6E")
    accent_color: Mapped[str] = mapped_column(String(7), default="#B08D3C")
    paper_color: Mapped[str] = mapped_column(String(7), default="#FFFDF6")
    border: Mapped[str] = mapped_column(String(16), default="guilloche")  # guilloche, double, simple
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    signatory1_name: Mapped[str] = mapped_column(String(120), default="")
    signatory1_title: Mapped[str] = mapped_column(String(120), default="")
    signatory1_image: Mapped[bytes | None] = mapped_column(LargeBinary)
    signatory2_name: Mapped[str] = mapped_column(String(120), default="")
    signatory2_title: Mapped[str] = mapped_column(String(120), default="")
    signatory2_image: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    course = relationship("Course")
