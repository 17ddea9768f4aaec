"""The summary tables: the glossary's facts of every run, stored so that a
report over years of data reads a few thousand rows instead of every
enrolment and attendance mark (``training.figures.summaries``)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model
from ..types import UTCDateTime

ALL = 0  # company_id of the facts of all of a run's trainees (companies are numbered from 1)


class RunSummary(Model):
    """The facts of one run (``metrics.RunFacts``) as of ``computed_at``:
    ``company_id`` ALL for all its trainees, else only the trainees booked for
    that company (a row for each company that has confirmed trainees in it)."""

    __tablename__ = "report_run_summaries"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    company_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meetings: Mapped[int] = mapped_column(Integer, default=0)
    meetings_ended: Mapped[int] = mapped_column(Integer, default=0)
    open_registers: Mapped[int] = mapped_column(Integer, default=0)
    minutes_held: Mapped[float] = mapped_column(Float, default=0.0)
    confirmed: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_at_start: Mapped[int] = mapped_column(Integer, default=0)
    attended: Mapped[int] = mapped_column(Integer, default=0)
    attendees: Mapped[int] = mapped_column(Integer, default=0)
    certified: Mapped[int] = mapped_column(Integer, default=0)
    distribution: Mapped[str] = mapped_column(String(120), default="")  # BUCKETS counts, comma-separated
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DaySummary(Model):
    """The day facts of one run, company (ALL: everybody) and organisation-local day."""

    __tablename__ = "report_day_summaries"
    __table_args__ = (Index("ix_report_day_summaries_company_day", "company_id", "day"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    company_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    enrolments: Mapped[int] = mapped_column(Integer, default=0)
    certificates: Mapped[int] = mapped_column(Integer, default=0)
    planned: Mapped[int] = mapped_column(Integer, default=0)
    attended: Mapped[int] = mapped_column(Integer, default=0)


class SummaryChange(Model):
    """Something a report depends on changed (written in the transaction of
    the change): ``kind`` run, enrolment, meeting, course or all, and its id.
    The next refresh recomputes the runs concerned and deletes the row."""

    __tablename__ = "report_summary_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[int] = mapped_column(Integer, default=0)


class SummaryState(Model):
    """One row (id 1): the moment the summaries describe (``as_of``: every
    change committed before it is in them) and when they were last rebuilt."""

    __tablename__ = "report_summary_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    rebuilt_at: Mapped[datetime] = mapped_column(UTCDateTime)
