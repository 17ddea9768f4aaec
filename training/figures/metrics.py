"""THE glossary: every figure a report shows, defined once and computed here.

Pages, the XLSX exports, scheduled reports, the company report and the JSON
API all call these functions; nobody else computes a rate. The README repeats
the definitions.

Which runs a period holds: the runs that *start* in it (``Run.starts_on``, the
run's own date), cancelled runs left out. Events (an enrolment confirmed, a
certificate issued, a meeting held) belong to the day and month in which they
happen, in the organisation's time zone (``ORG_TIMEZONE``).

- **attendance rate** = attended participant-meetings ÷ planned
  participant-meetings of confirmed enrolments. A participant-meeting is one
  confirmed trainee at one meeting of their run that has ended (by ``as_of``);
  cancelled meetings are left out. Attended: present or late, and excused only
  where the course counts excused absences.
- **no-show rate** = confirmed enrolments with no attended meeting ÷ confirmed
  enrolments, over runs whose registers are complete (every meeting that was not
  cancelled has a finalised register).
- **fill rate** = enrolments confirmed at the start of the run's first meeting
  (for a run that has not started yet: now) ÷ capacity.
- **completion rate** = confirmed enrolments holding a certificate that is not
  revoked ÷ confirmed enrolments, over runs whose registers are complete.
- **certificates issued** = certificates issued in the period (by issue date),
  reissues (corrections) not counted again.
- **expiring** = current certificates (neither revoked nor superseded) whose
  expiry date falls within the next 90 days.
- **trainer hours** = hours of meetings held (ended, not cancelled) in the runs
  a trainer teaches, per trainer.
- **satisfaction** = the mean overall recommendation (0–10) of the feedback
  answers; shown per run, course or trainer only from ``MIN_ANSWERS`` answers.

A rate is a fraction from 0 to 1, or None when its denominator is 0.

With a company filter (coordinators), only that company's enrolments count;
capacity stays the runs' capacity (so fill rate is the company's share).

How it is computed: a handful of grouped SQL queries give *facts* per run
(meetings, and the counts of its confirmed trainees, per company they were
booked for) and per run, company and day (enrolments confirmed, certificates
issued, participant-meetings planned and attended). Every figure is a sum of
those facts (``Facts``). They are computed here either for one report
(``facts``: the direct computation) or for every run at once and stored by
``training.figures.summaries``, which serves the same ``Facts`` from its
tables; the figures are the same functions of the same facts either way.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import ColumnElement, Date, Select, and_, case, cast, distinct, func, literal, or_, select

from ..accounts.models import User
from ..attendance.models import Attendance, AttendanceStatus
from ..catalogue.models import Course, Meeting, Run, RunStatus, run_trainers
from ..certificates.models import Certificate
from ..enrolment.models import Enrolment, EnrolmentStatus
from ..extensions import db
from ..types import UTCDateTime, org_today, org_tz, utcnow

EXPIRING_DAYS = 90
MIN_ANSWERS = 5  # satisfaction is shown to trainers from this many answers
CONFIRMED = EnrolmentStatus.confirmed.value
CANCELLED = EnrolmentStatus.cancelled.value
BUCKETS = 10  # attendance distribution: 0-9 %, 10-19 %, ... 90-100 %
PEOPLE = ("confirmed", "confirmed_at_start", "attended", "attendees", "certified")
DAYS = ("enrolments", "certificates", "planned", "attended")


@dataclass(frozen=True)
class Scope:
    """What a report covers; built and checked by reports.services.scope_for."""

    date_from: date
    date_to: date
    course_id: int | None = None
    category_id: int | None = None
    city: str | None = None
    trainer_id: int | None = None
    company_id: int | None = None
    run_id: int | None = None


def rate(part: float, whole: float) -> float | None:
    return part / whole if whole else None


# --- meetings: cancelled and finalised (issue 10) ----------------------------


def meeting_counts() -> ColumnElement[bool]:
    """A meeting that was not cancelled (cancelled meetings count nowhere)."""
    return Meeting.cancelled_at.is_(None)


def _register_open() -> ColumnElement[bool]:
    """A meeting whose register has not been finalised (signed off) yet."""
    return Meeting.finalised_at.is_(None)


def _minutes(start, end):
    if db.engine.dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 1440.0
    return func.extract("epoch", end - start) / 60.0


def _attended():
    """Present or late; excused where the course counts it (Course joined)."""
    return or_(
        Attendance.status.in_((AttendanceStatus.present.value, AttendanceStatus.late.value)),
        and_(Attendance.status == AttendanceStatus.excused.value, Course.excused_counts.is_(True)),
    )


# --- which runs -----------------------------------------------------------------


def run_filters(scope: Scope, *, period: bool = True) -> list:
    """Conditions on Run for a scope."""
    conditions = [Run.status != RunStatus.cancelled.value]
    if period:
        conditions += [Run.starts_on >= scope.date_from, Run.starts_on <= scope.date_to]
    if scope.run_id is not None:
        conditions.append(Run.id == scope.run_id)
    if scope.course_id is not None:
        conditions.append(Run.course_id == scope.course_id)
    if scope.category_id is not None:
        conditions.append(Run.course_id.in_(select(Course.id).where(Course.category_id == scope.category_id)))
    if scope.city:
        conditions.append(func.lower(Run.city) == scope.city.lower())
    if scope.trainer_id is not None:
        conditions.append(Run.id.in_(select(run_trainers.c.run_id).where(run_trainers.c.user_id == scope.trainer_id)))
    if scope.company_id is not None:
        conditions.append(Run.id.in_(select(Enrolment.run_id).where(Enrolment.company_id == scope.company_id)))
    return conditions


def _enrolment_filters(company_id: int | None) -> list:
    return [Enrolment.company_id == company_id] if company_id is not None else []


def run_ids(scope: Scope, *, period: bool = True) -> Select[int]:
    """A subquery of the ids of the runs in scope."""
    return select(Run.id).where(*run_filters(scope, period=period))


# --- per-run facts ----------------------------------------------------------------


@dataclass
class RunFacts:
    run_id: int
    course_id: int
    capacity: int
    meetings: int = 0  # not cancelled
    meetings_ended: int = 0
    open_registers: int = 0  # not cancelled and not finalised
    minutes_held: float = 0.0  # minutes of the meetings held (ended, not cancelled)
    confirmed: int = 0
    confirmed_at_start: int = 0
    attended: int = 0  # attended participant-meetings (ended meetings)
    attendees: int = 0  # confirmed enrolments with at least one attended meeting
    certified: int = 0  # confirmed enrolments holding a certificate that is not revoked
    # confirmed enrolments by the share of the meetings held that they attended (runs with a meeting held)
    distribution: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    @property
    def registers_complete(self) -> bool:
        return self.meetings > 0 and self.open_registers == 0

    @property
    def planned(self) -> int:
        return self.confirmed * self.meetings_ended

    @property
    def no_shows(self) -> int:
        return self.confirmed - self.attendees

    def add_people(self, values: list[int]) -> None:
        """Add the counts of ``people_facts`` (PEOPLE, then the distribution)."""
        for name, value in zip(PEOPLE, values, strict=False):
            setattr(self, name, getattr(self, name) + int(value))
        for i, value in enumerate(values[len(PEOPLE) :]):
            self.distribution[i] += int(value)


def meeting_facts(ids, now: datetime) -> dict[int, RunFacts]:
    """The meeting part of the facts of the runs ``ids`` (a subquery or a list)."""
    now_lit = literal(now, UTCDateTime())
    counts = meeting_counts()
    held = and_(counts, Meeting.ends_at <= now_lit)
    rows = db.session.execute(
        select(
            Run.id,
            Run.course_id,
            Run.capacity,
            func.count(case((counts, Meeting.id))),
            func.count(case((held, Meeting.id))),
            func.count(case((and_(counts, _register_open()), Meeting.id))),
            func.sum(case((held, _minutes(Meeting.starts_at, Meeting.ends_at)), else_=0)),
        )
        .select_from(Run)
        .outerjoin(Meeting, Meeting.run_id == Run.id)
        .where(Run.id.in_(ids))
        .group_by(Run.id, Run.course_id, Run.capacity)
    )
    return {
        run_id: RunFacts(run_id, course_id, capacity or 0, meetings, ended, open_registers, float(minutes or 0))
        for run_id, course_id, capacity, meetings, ended, open_registers, minutes in rows
    }


def people_facts(ids, now: datetime, company_id: int | None = None) -> dict[tuple[int, int | None], list[int]]:
    """The trainee part of the facts of the runs ``ids``, per run and the
    company the enrolments were booked for (None: nobody's): the PEOPLE counts
    followed by the BUCKETS of the attendance distribution. Four grouped queries."""
    now_lit = literal(now, UTCDateTime())
    counts = meeting_counts()
    efilter = _enrolment_filters(company_id)
    result: dict[tuple[int, int | None], list[int]] = defaultdict(lambda: [0] * (len(PEOPLE) + BUCKETS))

    # Confirmed now, and confirmed at the first meeting's start (or now, before it).
    first = (
        select(Meeting.run_id.label("run_id"), func.min(Meeting.starts_at).label("t"))
        .where(counts, Meeting.run_id.in_(ids))
        .group_by(Meeting.run_id)
        .subquery()
    )
    moment = case((and_(first.c.t.is_not(None), first.c.t < now_lit), first.c.t), else_=now_lit)
    held_then = and_(
        Enrolment.confirmed_at.is_not(None),
        Enrolment.confirmed_at <= moment,
        or_(
            Enrolment.status == CONFIRMED,
            and_(Enrolment.status == CANCELLED, Enrolment.cancelled_at.is_not(None), Enrolment.cancelled_at > moment),
        ),
    )
    for run_id, company, confirmed, at_start in db.session.execute(
        select(
            Enrolment.run_id,
            Enrolment.company_id,
            func.sum(case((Enrolment.status == CONFIRMED, 1), else_=0)),
            func.sum(case((held_then, 1), else_=0)),
        )
        .select_from(Enrolment)
        .outerjoin(first, first.c.run_id == Enrolment.run_id)
        .where(Enrolment.run_id.in_(ids), *efilter)
        .group_by(Enrolment.run_id, Enrolment.company_id)
    ):
        row = result[(run_id, company)]
        row[0], row[1] = int(confirmed or 0), int(at_start or 0)

    attended = _attended()
    for run_id, company, pm, people in db.session.execute(
        select(
            Enrolment.run_id,
            Enrolment.company_id,
            func.count(case((and_(attended, Meeting.ends_at <= now_lit), Attendance.id))),
            func.count(distinct(case((attended, Attendance.enrolment_id)))),
        )
        .select_from(Attendance)
        .join(Enrolment, Enrolment.id == Attendance.enrolment_id)
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .join(Run, Run.id == Enrolment.run_id)
        .join(Course, Course.id == Run.course_id)
        .where(Enrolment.run_id.in_(ids), Enrolment.status == CONFIRMED, counts, *efilter)
        .group_by(Enrolment.run_id, Enrolment.company_id)
    ):
        row = result[(run_id, company)]
        row[2], row[3] = int(pm or 0), int(people or 0)

    for run_id, company, certified in db.session.execute(
        select(Enrolment.run_id, Enrolment.company_id, func.count(distinct(Enrolment.id)))
        .select_from(Enrolment)
        .join(Certificate, Certificate.enrolment_id == Enrolment.id)
        .where(Enrolment.run_id.in_(ids), Enrolment.status == CONFIRMED, Certificate.revoked_at.is_(None), *efilter)
        .group_by(Enrolment.run_id, Enrolment.company_id)
    ):
        result[(run_id, company)][4] = int(certified or 0)

    # The distribution: each confirmed enrolment of a run with a meeting held, by
    # the tenth of the meetings held that it attended (100 % in the last bucket).
    held = (
        select(Meeting.run_id.label("run_id"), func.count().label("n"))
        .where(counts, Meeting.ends_at <= now_lit, Meeting.run_id.in_(ids))
        .group_by(Meeting.run_id)
        .subquery()
    )
    per_enrolment = (
        select(Attendance.enrolment_id.label("enrolment_id"), func.count().label("a"))
        .select_from(Attendance)
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .join(Run, Run.id == Meeting.run_id)
        .join(Course, Course.id == Run.course_id)
        .where(counts, Meeting.ends_at <= now_lit, Meeting.run_id.in_(ids), attended)
        .group_by(Attendance.enrolment_id)
        .subquery()
    )
    tenth = (func.coalesce(per_enrolment.c.a, 0) * BUCKETS) / held.c.n
    bucket = case((tenth >= BUCKETS, BUCKETS - 1), else_=tenth)
    for run_id, company, i, n in db.session.execute(
        select(Enrolment.run_id, Enrolment.company_id, bucket, func.count())
        .select_from(Enrolment)
        .join(held, held.c.run_id == Enrolment.run_id)
        .outerjoin(per_enrolment, per_enrolment.c.enrolment_id == Enrolment.id)
        .where(Enrolment.status == CONFIRMED, *efilter)
        .group_by(Enrolment.run_id, Enrolment.company_id, bucket)
    ):
        result[(run_id, company)][len(PEOPLE) + int(i)] += int(n)
    return dict(result)


# --- per-day facts ------------------------------------------------------------------


def org_midnight(day: date) -> datetime:
    """The UTC moment at which ``day`` starts in the organisation's zone."""
    return datetime.combine(day, time(0), org_tz()).astimezone(UTC)


def _by_local_day(stmt, column, keys: list) -> list[tuple]:
    """Rows (*keys, organisation-local day of ``column``, count) of ``stmt``
    (a select of ``keys`` from which ``column`` is reachable). PostgreSQL
    groups by the local day itself; SQLite, which has no time zones, returns
    the moments grouped and Python takes their local day."""
    if db.engine.dialect.name == "postgresql":
        day = cast(func.timezone(org_tz().key, column), Date)
        return [tuple(r) for r in db.session.execute(stmt.add_columns(day, func.count()).group_by(*keys, day))]
    tz = org_tz()
    out: defaultdict[tuple[Any, ...], int] = defaultdict(int)
    for *key, moment, n in db.session.execute(stmt.add_columns(column, func.count()).group_by(*keys, column)):
        out[(*key, moment.astimezone(tz).date())] += n
    return [(*k, n) for k, n in out.items()]


def _window(column, first: date | None, last: date | None) -> list:
    conditions = []
    if first is not None:
        conditions.append(column >= org_midnight(first))
    if last is not None:
        conditions.append(column < org_midnight(last + timedelta(days=1)))
    return conditions


def day_facts(
    ids, now: datetime, company_id: int | None = None, first: date | None = None, last: date | None = None
) -> dict[tuple[int, int | None, date], list[int]]:
    """Per run, company and organisation-local day (``first`` to ``last`` when
    given): enrolments confirmed that day (whatever their status now),
    certificates first issued that day (reissues not counted again), and the
    participant-meetings planned and attended at the meetings held (ended by
    ``now``, not cancelled) that started that day."""
    now_lit = literal(now, UTCDateTime())
    efilter = _enrolment_filters(company_id)
    result: dict[tuple[int, int | None, date], list[int]] = defaultdict(lambda: [0] * len(DAYS))
    keys = [Enrolment.run_id, Enrolment.company_id]
    for run_id, company, day, n in _by_local_day(
        select(*keys).where(
            Enrolment.run_id.in_(ids),
            Enrolment.confirmed_at.is_not(None),
            *_window(Enrolment.confirmed_at, first, last),
            *efilter,
        ),
        Enrolment.confirmed_at,
        keys,
    ):
        result[(run_id, company, day)][0] += n
    for run_id, company, day, n in _by_local_day(
        select(*keys)
        .select_from(Certificate)
        .join(Enrolment, Enrolment.id == Certificate.enrolment_id)
        .where(
            Enrolment.run_id.in_(ids),
            Certificate.reissue_of_code.is_(None),
            *_window(Certificate.issued_at, first, last),
            *efilter,
        ),
        Certificate.issued_at,
        keys,
    ):
        result[(run_id, company, day)][1] += n
    # Meetings: grouped per meeting, then by the local day of its start.
    held = and_(
        meeting_counts(), Meeting.ends_at <= now_lit, Meeting.run_id.in_(ids), *_window(Meeting.starts_at, first, last)
    )
    tz = org_tz()
    for _meeting_id, starts_at, run_id, company, n in db.session.execute(
        select(Meeting.id, Meeting.starts_at, Meeting.run_id, Enrolment.company_id, func.count())
        .select_from(Meeting)
        .join(Enrolment, Enrolment.run_id == Meeting.run_id)
        .where(held, Enrolment.status == CONFIRMED, *efilter)
        .group_by(Meeting.id, Meeting.starts_at, Meeting.run_id, Enrolment.company_id)
    ):
        result[(run_id, company, starts_at.astimezone(tz).date())][2] += n
    for _meeting_id, starts_at, run_id, company, n in db.session.execute(
        select(Meeting.id, Meeting.starts_at, Meeting.run_id, Enrolment.company_id, func.count())
        .select_from(Attendance)
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .join(Enrolment, Enrolment.id == Attendance.enrolment_id)
        .join(Run, Run.id == Meeting.run_id)
        .join(Course, Course.id == Run.course_id)
        .where(held, Enrolment.status == CONFIRMED, _attended(), *efilter)
        .group_by(Meeting.id, Meeting.starts_at, Meeting.run_id, Enrolment.company_id)
    ):
        result[(run_id, company, starts_at.astimezone(tz).date())][3] += n
    return dict(result)


# --- the facts of one report ---------------------------------------------------------


@dataclass
class Facts:
    """What every figure of a report is computed from: the facts of the runs
    in scope (period and filters), and per day of the period the day facts of
    the runs matching the filters (whenever they start), both narrowed to the
    scope's company; ``as_of`` is the moment they describe."""

    runs: dict[int, RunFacts]
    days: dict[date, list[int]]
    as_of: datetime


def facts(scope: Scope, now: datetime | None = None) -> Facts:
    """The direct computation, from the records themselves."""
    now = now or utcnow()
    ids = run_ids(scope)
    runs = meeting_facts(ids, now)
    if runs:
        for (run_id, _company), values in people_facts(ids, now, scope.company_id).items():
            runs[run_id].add_people(values)
    days: dict[date, list[int]] = defaultdict(lambda: [0] * len(DAYS))
    for (_run, _company, day), values in day_facts(
        run_ids(scope, period=False), now, scope.company_id, scope.date_from, scope.date_to
    ).items():
        for i, value in enumerate(values):
            days[day][i] += value
    return Facts(runs, dict(days), now)


def run_facts(scope: Scope, now: datetime | None = None) -> dict[int, RunFacts]:
    return facts(scope, now).runs


# --- totals -------------------------------------------------------------------------


@dataclass
class Totals:
    runs: int = 0
    capacity: int = 0
    confirmed: int = 0
    confirmed_at_start: int = 0
    planned: int = 0
    attended: int = 0
    complete_confirmed: int = 0  # confirmed enrolments in runs whose registers are complete
    complete_no_shows: int = 0
    complete_certified: int = 0

    def add(self, f: RunFacts) -> None:
        self.runs += 1
        self.capacity += f.capacity
        self.confirmed += f.confirmed
        self.confirmed_at_start += f.confirmed_at_start
        self.planned += f.planned
        self.attended += f.attended
        if f.registers_complete:
            self.complete_confirmed += f.confirmed
            self.complete_no_shows += f.no_shows
            self.complete_certified += f.certified

    @property
    def attendance_rate(self) -> float | None:
        return rate(self.attended, self.planned)

    @property
    def no_show_rate(self) -> float | None:
        return rate(self.complete_no_shows, self.complete_confirmed)

    @property
    def fill_rate(self) -> float | None:
        return rate(self.confirmed_at_start, self.capacity)

    @property
    def completion_rate(self) -> float | None:
        return rate(self.complete_certified, self.complete_confirmed)


def totals(facts_) -> Totals:
    result = Totals()
    for f in facts_:
        result.add(f)
    return result


@dataclass
class Summary:
    totals: Totals
    certificates_issued: int
    expiring: int
    as_of: datetime

    def as_dict(self) -> dict:
        t = self.totals
        return {
            "runs": t.runs,
            "capacity": t.capacity,
            "confirmed": t.confirmed,
            "attendance_rate": t.attendance_rate,
            "no_show_rate": t.no_show_rate,
            "fill_rate": t.fill_rate,
            "completion_rate": t.completion_rate,
            "certificates_issued": self.certificates_issued,
            "as_of": self.as_of.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }


def summary(scope: Scope, now: datetime | None = None, source: Facts | None = None) -> Summary:
    """The key figures. ``source``: the facts to use (else computed now);
    expiring certificates are counted from the records, as of ``now``."""
    now = now or utcnow()
    source = source or facts(scope, now)
    return Summary(
        totals(source.runs.values()), certificates_issued(scope, source), expiring_count(scope, now), source.as_of
    )


def by_course(scope: Scope, now: datetime | None = None, source: Facts | None = None) -> list[tuple[Course, Totals]]:
    """Totals per course, by course code."""
    source = source or facts(scope, now)
    grouped: dict[int, Totals] = defaultdict(Totals)
    for f in source.runs.values():
        grouped[f.course_id].add(f)
    if not grouped:
        return []
    courses = db.session.scalars(select(Course).where(Course.id.in_(list(grouped))).order_by(Course.code))
    return [(c, grouped[c.id]) for c in courses]


# --- certificates ---------------------------------------------------------------------


def _certificate_scope(scope: Scope) -> list:
    return [Enrolment.run_id.in_(run_ids(scope, period=False)), *_enrolment_filters(scope.company_id)]


def certificates_issued(scope: Scope, source: Facts | None = None) -> int:
    """Certificates first issued from ``date_from`` to ``date_to`` (organisation's days)."""
    if source is None:
        rows = day_facts(run_ids(scope, period=False), utcnow(), scope.company_id, scope.date_from, scope.date_to)
        return sum(
            values[1] for (_run, _company, day), values in rows.items() if scope.date_from <= day <= scope.date_to
        )
    return sum(values[1] for day, values in source.days.items() if scope.date_from <= day <= scope.date_to)


def _current_certificates(scope: Scope):
    return (
        select(Certificate.expires_on)
        .select_from(Certificate)
        .join(Enrolment, Enrolment.id == Certificate.enrolment_id)
        .where(
            Certificate.revoked_at.is_(None),
            Certificate.superseded_by_id.is_(None),
            Certificate.expires_on.is_not(None),
            *_certificate_scope(scope),
        )
    )


def expiring_count(scope: Scope, now: datetime | None = None, days: int = EXPIRING_DAYS) -> int:
    today = org_today(now)
    sub = (
        _current_certificates(scope)
        .where(Certificate.expires_on >= today, Certificate.expires_on <= today + timedelta(days=days))
        .subquery()
    )
    return db.session.scalar(select(func.count()).select_from(sub)) or 0


def expiring_by_month(scope: Scope, now: datetime | None = None, months: int = 12) -> list[tuple[date, int]]:
    """Current certificates expiring in each of the next ``months`` months (this month from today)."""
    today = org_today(now)
    firsts = [today.replace(day=1) + relativedelta(months=i) for i in range(months + 1)]
    whens = [
        (and_(Certificate.expires_on >= firsts[i], Certificate.expires_on < firsts[i + 1]), i) for i in range(months)
    ]
    bucket = case(*whens, else_=None)
    rows = db.session.execute(
        select(bucket, func.count())
        .where(
            Certificate.revoked_at.is_(None),
            Certificate.superseded_by_id.is_(None),
            Certificate.expires_on >= today,
            Certificate.expires_on < firsts[-1],
            Certificate.enrolment_id.in_(select(Enrolment.id).where(*_certificate_scope(scope))),
        )
        .group_by(bucket)
    ).all()
    counts = [0] * months
    for i, n in rows:
        if i is not None:
            counts[int(i)] += int(n)
    return list(zip(firsts[:months], counts, strict=True))


# --- months ------------------------------------------------------------------------------


def months_of(scope: Scope) -> list[date]:
    first = scope.date_from.replace(day=1)
    result = []
    while first <= scope.date_to:
        result.append(first)
        first += relativedelta(months=1)
    return result


@dataclass
class Month:
    month: date
    enrolments: int = 0
    certificates: int = 0
    planned: int = 0
    attended: int = 0

    @property
    def attendance_rate(self) -> float | None:
        return rate(self.attended, self.planned)


def monthly(scope: Scope, now: datetime | None = None, source: Facts | None = None) -> list[Month]:
    """Per month of the period (organisation's zone; the first and last months
    only from ``date_from`` and to ``date_to``): enrolments confirmed in it,
    certificates first issued in it, and the attendance rate of the meetings
    held in it (the glossary's rule, restricted to those meetings)."""
    source = source or facts(scope, now)
    series = {m: Month(m) for m in months_of(scope)}
    for day, values in source.days.items():
        if scope.date_from <= day <= scope.date_to:
            month = series[day.replace(day=1)]
            month.enrolments += values[0]
            month.certificates += values[1]
            month.planned += values[2]
            month.attended += values[3]
    return list(series.values())


# --- attendance distribution ---------------------------------------------------------------


def attendance_distribution(scope: Scope, now: datetime | None = None, source: Facts | None = None) -> list[int]:
    """How many confirmed enrolments attended 0-9 %, 10-19 %, ... 90-100 % of
    their run's meetings held so far (runs with at least one meeting held)."""
    source = source or facts(scope, now)
    counts = [0] * BUCKETS
    for f in source.runs.values():
        for i, n in enumerate(f.distribution):
            counts[i] += n
    return counts


# --- trainers ---------------------------------------------------------------------------------


@dataclass
class TrainerFigures:
    trainer: User
    runs: int
    hours: float
    answers: int = 0
    satisfaction: float | None = None  # mean overall recommendation 0-10

    @property
    def satisfaction_shown(self) -> bool:
        return self.answers >= MIN_ANSWERS


def trainer_hours(scope: Scope, now: datetime | None = None, source: Facts | None = None) -> list[TrainerFigures]:
    """Delivered meeting hours per trainer of the runs in scope (only the scoped trainer, if any)."""
    source = source or facts(scope, now)
    if not source.runs:
        return []
    stmt = select(run_trainers.c.user_id, run_trainers.c.run_id).where(run_trainers.c.run_id.in_(run_ids(scope)))
    if scope.trainer_id is not None:
        stmt = stmt.where(run_trainers.c.user_id == scope.trainer_id)
    taught: dict[int, list[int]] = defaultdict(list)
    for user_id, run_id in db.session.execute(stmt):
        if run_id in source.runs:
            taught[user_id].append(run_id)
    if not taught:
        return []
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(list(taught))))}
    result = [
        TrainerFigures(users[uid], len(runs), round(sum(source.runs[r].minutes_held for r in sorted(runs)) / 60.0, 2))
        for uid, runs in taught.items()
    ]
    result.sort(key=lambda t: (-t.hours, t.trainer.display_name))
    return result


__all__ = [
    "Scope",
    "RunFacts",
    "Facts",
    "Totals",
    "Summary",
    "Month",
    "TrainerFigures",
    "facts",
    "run_facts",
    "meeting_facts",
    "people_facts",
    "day_facts",
    "totals",
    "summary",
    "by_course",
    "certificates_issued",
    "expiring_count",
    "expiring_by_month",
    "monthly",
    "attendance_distribution",
    "trainer_hours",
    "rate",
    "months_of",
    "org_midnight",
    "run_ids",
    "run_filters",
    "EXPIRING_DAYS",
    "MIN_ANSWERS",
]
