"""Summaries: the glossary's facts of every run, kept in tables so that the
dashboard, the exports and the API answer quickly over years of data.

- ``refresh()`` (the recurring task ``figures.refresh_summaries``, every
  minute, and ``flask figures refresh``) recomputes, with the glossary's own
  functions (``metrics.meeting_facts``, ``people_facts``, ``day_facts``), the
  runs that changed since the last refresh and the runs whose meetings
  started or ended since then (the passage of time changes their figures),
  then moves ``as_of`` to the moment it started. The first refresh, a daily
  one and ``--full`` rebuild every run.
- What changed is recorded in the transaction of the change itself
  (``SummaryChange`` rows written at commit by the session listeners below:
  enrolments, attendance, meetings, runs, certificates, and a course's rule on
  excused absences), so a change is never lost and a rolled-back one leaves
  nothing. Bulk statements are recognised by the ids in their parameters; one
  that cannot be narrowed down marks everything.
- ``facts(scope)`` serves ``metrics.Facts`` from the tables: the same facts
  the direct computation would give at ``as_of`` (tests compare the two), so
  every figure is the same function of the same facts. Until the first
  refresh has run, it computes them directly.

Expiring certificates and feedback are counted from the records on every
request (small, indexed queries); capacity, course, city, status and trainers
of a run are read from the run itself, so filters are always current.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, event, func, insert, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from ..attendance.models import Attendance
from ..catalogue.models import Course, Meeting, Run
from ..certificates.models import Certificate
from ..enrolment.models import Enrolment
from ..extensions import db
from ..transactions import before_commit, insert_with_commit
from ..types import utcnow
from . import metrics
from .models import ALL, DaySummary, RunSummary, SummaryChange, SummaryState

log = logging.getLogger(__name__)

BATCH = 500  # runs recomputed per round of queries
REBUILD_EVERY = timedelta(days=1)
_INFO = "figures_summary_changes"


# --- what changed --------------------------------------------------------------------------


def _key_changes(obj) -> set[tuple[str, int]]:
    """What a changed ORM object means for the summaries (old values too: an
    enrolment moved between runs). Reads only what is loaded: never a query."""
    from sqlalchemy import inspect

    state = inspect(obj)

    def values(attr: str) -> set[int]:
        history = state.attrs[attr].history
        found = {v for v in (*history.added, *history.unchanged, *history.deleted) if v is not None}
        if state.dict.get(attr) is not None:
            found.add(state.dict[attr])
        return found

    own = state.dict.get("id")
    if isinstance(obj, Enrolment):
        return {("run", v) for v in values("run_id")}
    if isinstance(obj, Meeting):
        return {("run", v) for v in values("run_id")}
    if isinstance(obj, Run):
        return {("run", own)} if own else set()
    if isinstance(obj, Attendance):
        return {("meeting", v) for v in values("meeting_id")}
    if isinstance(obj, Certificate):
        return {("enrolment", v) for v in values("enrolment_id")}
    if isinstance(obj, Course) and own and state.attrs["excused_counts"].history.has_changes():
        return {("course", own)}
    return set()


_WATCHED = (Enrolment, Meeting, Run, Attendance, Certificate, Course)
_TABLES = {
    "enrolments": "enrolment",
    "meetings": "meeting",
    "runs": "run",
    "attendance": "attendance",
    "certificates": "certificate",
    "courses": "course",
}
# Columns no figure depends on: bulk updates of only these change nothing.
_IRRELEVANT = {
    "register_reminded_at",
    "document_sha256",
    "reminded_at",
    "offer_expires_at",
    "updated_at",
    "offer_reminded_at",
    "reminder_sent_at",
    "expiry_reminded_at",
    "archived",
    "published",
}


def _note(session, keys) -> None:
    if keys:
        session.info.setdefault(_INFO, set()).update(keys)


@event.listens_for(Session, "after_flush")
def _after_flush(session, _context):
    keys: set[tuple[str, int]] = set()
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, _WATCHED) and not isinstance(obj, Course):
            keys |= _key_changes(obj)
    for obj in session.dirty:
        if isinstance(obj, _WATCHED) and session.is_modified(obj, include_collections=False):
            keys |= _key_changes(obj)
    _note(session, keys)


@event.listens_for(Session, "do_orm_execute")
def _bulk(state):
    """Bulk INSERT/UPDATE/DELETE statements bypass the unit of work: read their ids."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    kind = _TABLES.get(table or "")
    if kind is None:
        return
    params = state.parameters
    rows = params if isinstance(params, list) else ([params] if params else [])
    keys: set[tuple[str, int]] = set()
    column = {"enrolment": "run_id", "meeting": "run_id", "attendance": "meeting_id", "certificate": "enrolment_id"}
    for row in rows:
        if kind in column and row.get(column[kind]) is not None:
            keys.add(
                (
                    {"run_id": "run", "meeting_id": "meeting", "enrolment_id": "enrolment"}[column[kind]],
                    row[column[kind]],
                )
            )
        elif kind == "attendance" and row.get("id") is not None:
            keys.add(("attendance", row["id"]))
        elif kind in ("run", "enrolment", "meeting") and row.get("id") is not None:
            keys.add((kind, row["id"]))
        else:
            keys.add(("all", 0))
    if not rows:
        values = getattr(state.statement, "_values", None) or {}
        names = {getattr(k, "key", k) for k in values}
        if not (state.is_update and names and names <= _IRRELEVANT):
            keys.add(("all", 0))
    _note(state.session, keys)


@before_commit
def _write_changes(session):
    session.flush()  # the commit's own flush comes after this hook: its changes must be noted first
    keys = session.info.pop(_INFO, None)
    if keys:
        # One executemany for all of them: a bulk change (200 marks) must not cost a statement per row.
        # Core, not the ORM's bulk insert: nothing reads these rows back as objects. On PostgreSQL
        # a single row goes with the transaction's other rows written with the commit, in one statement.
        insert_with_commit(SummaryChange.__table__, [{"kind": kind, "key": int(key)} for kind, key in sorted(keys)])


def forget_noted_changes(session) -> None:
    """Write no change rows for what this transaction did so far: a restore (``flask data import``) puts
    back the summaries and their pending changes as they were, so the rows it inserts change nothing."""
    session.flush()
    session.info.pop(_INFO, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session, previous_transaction):
    if previous_transaction.parent is None:
        session.info.pop(_INFO, None)


# --- refresh -------------------------------------------------------------------------------------


def _runs_changed(changes: list[tuple[str, int]]) -> set[int]:
    by_kind: dict[str, set[int]] = defaultdict(set)
    for kind, key in changes:
        by_kind[kind].add(key)
    ids = set(by_kind["run"])
    resolve = (
        ("enrolment", select(Enrolment.run_id).where(Enrolment.id.in_(by_kind["enrolment"]))),
        ("meeting", select(Meeting.run_id).where(Meeting.id.in_(by_kind["meeting"]))),
        (
            "attendance",
            select(Meeting.run_id)
            .join(Attendance, Attendance.meeting_id == Meeting.id)
            .where(Attendance.id.in_(by_kind["attendance"])),
        ),
        (
            "certificate",
            select(Enrolment.run_id)
            .join(Certificate, Certificate.enrolment_id == Enrolment.id)
            .where(Certificate.id.in_(by_kind["certificate"])),
        ),
        ("course", select(Run.id).where(Run.course_id.in_(by_kind["course"]))),
    )
    for kind, stmt in resolve:
        if by_kind[kind]:
            ids.update(db.session.scalars(stmt))
    return ids


def _time_passed(since: datetime, now: datetime) -> set[int]:
    """Runs with a meeting that started or ended after ``since``, by ``now``."""
    return set(
        db.session.scalars(
            select(Meeting.run_id)
            .where(
                or_(
                    and_(Meeting.starts_at > since, Meeting.starts_at <= now),
                    and_(Meeting.ends_at > since, Meeting.ends_at <= now),
                )
            )
            .distinct()
        )
    )


def _recompute(ids, now: datetime) -> int:
    """Replace the summary rows of the runs ``ids`` (a list, or a subquery for all runs)."""
    if isinstance(ids, list):
        db.session.execute(delete(RunSummary).where(RunSummary.run_id.in_(ids)))
        db.session.execute(delete(DaySummary).where(DaySummary.run_id.in_(ids)))
    else:
        db.session.execute(delete(RunSummary))
        db.session.execute(delete(DaySummary))
    runs = metrics.meeting_facts(ids, now)
    if not runs:
        return 0
    people: dict[tuple[int, int], list[int]] = {}
    for (run_id, company), values in metrics.people_facts(ids, now).items():
        runs[run_id].add_people(values)
        if company is not None:
            people[(run_id, company)] = values
    rows = []
    for f in runs.values():
        rows.append(_run_row(f.run_id, ALL, f, [getattr(f, n) for n in metrics.PEOPLE] + f.distribution, now))
    for (run_id, company), values in people.items():
        rows.append(_run_row(run_id, company, runs[run_id], values, now))
    days: dict[tuple[int, int, object], list[int]] = defaultdict(lambda: [0] * len(metrics.DAYS))
    for (run_id, company, day), values in metrics.day_facts(ids, now).items():
        for key in ((run_id, ALL, day),) + (((run_id, company, day),) if company is not None else ()):
            for i, value in enumerate(values):
                days[key][i] += value
    for start in range(0, len(rows), 1000):
        db.session.execute(insert(RunSummary), rows[start : start + 1000])
    day_rows = [
        dict(run_id=r, company_id=c, day=d, **dict(zip(metrics.DAYS, v, strict=True)))
        for (r, c, d), v in days.items()
        if r in runs
    ]
    for start in range(0, len(day_rows), 2000):
        db.session.execute(insert(DaySummary), day_rows[start : start + 2000])
    return len(runs)


def _run_row(run_id: int, company: int, f: metrics.RunFacts, people: list[int], now: datetime) -> dict:
    n = len(metrics.PEOPLE)
    return dict(
        run_id=run_id,
        company_id=company,
        meetings=f.meetings,
        meetings_ended=f.meetings_ended,
        open_registers=f.open_registers,
        minutes_held=f.minutes_held,
        **{name: int(v) for name, v in zip(metrics.PEOPLE, people[:n], strict=True)},
        distribution=",".join(str(int(v)) for v in people[n:]),
        computed_at=now,
    )


def refresh(now: datetime | None = None, *, full: bool = False) -> dict:
    """Bring the summaries up to ``now`` (one unit of work). Returns what it did."""
    now = now or utcnow()
    state = db.session.get(SummaryState, 1, with_for_update=db.engine.dialect.name == "postgresql")
    if state is None:
        state = SummaryState(id=1, as_of=now, rebuilt_at=now)
        db.session.add(state)
        try:
            db.session.flush()
        except IntegrityError:  # another refresh is building them at this moment
            db.session.rollback()
            return {"runs": 0, "full": False, "busy": True}
        full = True
    changes = list(db.session.execute(select(SummaryChange.id, SummaryChange.kind, SummaryChange.key)))
    if full or now - state.rebuilt_at >= REBUILD_EVERY or any(kind == "all" for _i, kind, _k in changes):
        count = _recompute(select(Run.id), now)
        state.rebuilt_at, full = now, True
        if db.engine.dialect.name == "postgresql":  # fresh statistics, or the planner guesses one row
            db.session.execute(text("ANALYZE report_run_summaries, report_day_summaries"))
    else:
        ids = sorted(_runs_changed([(kind, key) for _i, kind, key in changes]) | _time_passed(state.as_of, now))
        count = sum(_recompute(ids[i : i + BATCH], now) for i in range(0, len(ids), BATCH))
    done = [i for i, _kind, _key in changes]
    for start in range(0, len(done), 1000):
        db.session.execute(delete(SummaryChange).where(SummaryChange.id.in_(done[start : start + 1000])))
    state.as_of = now
    db.session.commit()
    return {"runs": count, "full": full, "changes": len(done)}


def as_of() -> datetime | None:
    """The moment the summaries describe; None before the first refresh."""
    return db.session.scalar(select(SummaryState.as_of).where(SummaryState.id == 1))


# --- reading ----------------------------------------------------------------------------------


def facts(scope: metrics.Scope, now: datetime | None = None) -> metrics.Facts:
    """The facts of a report from the summaries (three queries), or computed
    directly before the first refresh."""
    moment = as_of()
    if moment is None:
        return metrics.facts(scope, now)
    company = scope.company_id if scope.company_id is not None else ALL
    run_part = aliased(RunSummary)
    people = aliased(RunSummary) if company != ALL else run_part
    stmt = (
        select(
            Run.id,
            Run.course_id,
            Run.capacity,
            run_part.meetings,
            run_part.meetings_ended,
            run_part.open_registers,
            run_part.minutes_held,
            people.confirmed,
            people.confirmed_at_start,
            people.attended,
            people.attendees,
            people.certified,
            people.distribution,
        )
        .select_from(Run)
        .outerjoin(run_part, and_(run_part.run_id == Run.id, run_part.company_id == ALL))
    )
    if company != ALL:
        stmt = stmt.outerjoin(people, and_(people.run_id == Run.id, people.company_id == company))
    runs = {}
    for (
        run_id,
        course_id,
        capacity,
        meetings,
        ended,
        open_registers,
        minutes,
        confirmed,
        at_start,
        attended,
        attendees,
        certified,
        distribution,
    ) in db.session.execute(stmt.where(*metrics.run_filters(scope))):
        f = metrics.RunFacts(
            run_id, course_id, capacity or 0, meetings or 0, ended or 0, open_registers or 0, float(minutes or 0)
        )
        f.add_people(
            [confirmed or 0, at_start or 0, attended or 0, attendees or 0, certified or 0]
            + [int(v) for v in (distribution or "").split(",") if v]
        )
        runs[run_id] = f
    days = {
        day: [int(e or 0), int(c or 0), int(p or 0), int(a or 0)]
        for day, e, c, p, a in db.session.execute(
            select(
                DaySummary.day,
                func.sum(DaySummary.enrolments),
                func.sum(DaySummary.certificates),
                func.sum(DaySummary.planned),
                func.sum(DaySummary.attended),
            )
            .where(
                DaySummary.company_id == company,
                DaySummary.day >= scope.date_from,
                DaySummary.day <= scope.date_to,
                DaySummary.run_id.in_(metrics.run_ids(scope, period=False)),
            )
            .group_by(DaySummary.day)
        )
    }
    return metrics.Facts(runs, days, moment)
