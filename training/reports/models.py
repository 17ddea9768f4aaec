"""Reports' own records: feedback surveys and scheduled report deliveries."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..catalogue.models import Course, Run
from ..extensions import Model
from ..types import UTCDateTime, utcnow


class QuestionKind(enum.StrEnum):
    rating = "rating"  # 1 (poor) to 5 (excellent)
    recommend = "recommend"  # 0 to 10: would you recommend this course?
    text = "text"  # free text


class FeedbackQuestion(Model):
    """One survey question. Without a course it is asked after every run;
    with one, only after runs of that course (after the general questions)."""

    __tablename__ = "feedback_questions"
    __table_args__ = (CheckConstraint("kind IN ('rating', 'recommend', 'text')", name="kind_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    text_en: Mapped[str] = mapped_column(String(300))
    text_zh: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    course: Mapped[Course | None] = relationship()

    def text(self, locale: str | None) -> str:
        return self.text_zh if locale and str(locale).startswith("zh") and self.text_zh else self.text_en


class FeedbackInvitation(Model):
    """The survey offered to one confirmed enrolment: the marker that it may
    answer once. ``answered_at`` is set when it answers; the answer itself
    (FeedbackResponse) carries the run and never the person or this row's id,
    so answers stay anonymous while nobody answers twice."""

    __tablename__ = "feedback_invitations"
    __table_args__ = (UniqueConstraint("enrolment_id", name="uq_feedback_invitations_enrolment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Midnight UTC of the day answered: as coarse as the response's date, so the
    # two cannot be matched by time.
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    run: Mapped[Run] = relationship()


class FeedbackResponse(Model):
    """One anonymous answer to a run's survey (no person, no invitation id)."""

    __tablename__ = "feedback_responses"
    __table_args__ = (
        CheckConstraint("recommend IS NULL OR (recommend >= 0 AND recommend <= 10)", name="recommend_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    # Day only (not the moment): the time of an answer must not tell who gave it.
    submitted_on: Mapped[date] = mapped_column(Date)
    recommend: Mapped[int | None] = mapped_column(Integer)

    run: Mapped[Run] = relationship()
    answers: Mapped[list[FeedbackAnswer]] = relationship(back_populates="response", cascade="all, delete-orphan")


class FeedbackAnswer(Model):
    """The answer to one rating or text question within a response."""

    __tablename__ = "feedback_answers"
    __table_args__ = (
        UniqueConstraint("response_id", "question_id"),
        CheckConstraint("rating IS NULL OR (rating >= 0 AND rating <= 10)", name="rating_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("feedback_responses.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("feedback_questions.id", ondelete="CASCADE"), index=True)
    rating: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")

    response: Mapped[FeedbackResponse] = relationship(back_populates="answers")
    question: Mapped[FeedbackQuestion] = relationship()


class Frequency(enum.StrEnum):
    weekly = "weekly"
    monthly = "monthly"


class ReportSubscription(Model):
    """A person receives a report by e-mail every week or month, with the XLSX
    attached, covering what they may see (``permissions.report_limits``)."""

    __tablename__ = "report_subscriptions"
    __table_args__ = (
        UniqueConstraint("user_id", "frequency", name="uq_report_subscriptions_user_frequency"),
        CheckConstraint("frequency IN ('weekly', 'monthly')", name="frequency_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    frequency: Mapped[str] = mapped_column(String(16))
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    course: Mapped[Course | None] = relationship()


class ReportDelivery(Model):
    """One delivery of a subscription for one period: the unique key makes
    each delivery happen exactly once, however often the job runs."""

    __tablename__ = "report_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "period_key", name="uq_report_deliveries_period"),
        Index("ix_report_deliveries_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("report_subscriptions.id", ondelete="CASCADE"))
    period_key: Mapped[str] = mapped_column(String(32))  # e.g. "2026-W48", "2026-11"
    sent: Mapped[bool] = mapped_column(Boolean, default=False)  # False: skipped, the report was empty
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FeedbackStat(Model):
    """Feedback counts of one run (``question_id`` 0: invited, answers, sum and
    number of the 0-10 recommendations) or of one run and rating question
    (answers, sum of the ratings). Kept in the transaction that sends the
    invitations or records an answer (neither is ever edited afterwards), so
    results over years read a few thousand rows; ``feedback.rebuild_stats``
    recomputes them from the answers."""

    __tablename__ = "feedback_stats"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    question_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invited: Mapped[int] = mapped_column(Integer, default=0)
    answers: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    counted: Mapped[int] = mapped_column(Integer, default=0)
