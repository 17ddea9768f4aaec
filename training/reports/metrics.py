"""THE glossary: every figure a report shows, defined once and computed here.

Pages, the XLSX exports, scheduled reports and the JSON API all call these
functions; nobody else computes a rate. The README repeats the definitions.

Which runs a period holds: the runs that *start* in it (``Run.starts_on``, the
run's own date), cancelled runs left out. Events (an enrolment confirmed, a
certificate issued, a meeting held) belong to the month in which they happen,
in the organisation's time zone (``ORG_TIMEZONE``).

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

Every figure comes from a handful of aggregate SQL queries (grouped by run,
month or bucket); Python only adds up per-run rows, never loops over
enrolments.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from dateutil.relativedelta import relativedelta
from sqlalchemy import and_, case, distinct, func, literal, or_, select

from ..accounts.models import User
from ..attendance.models import Attendance, AttendanceStatus
from ..catalogue.models import Course, Meeting, Run, RunStatus, run_trainers
from ..certificates.models import Certificate
from ..enrolment.models import Enrolment, EnrolmentStatus
from ..extensions import db
from ..types import UTCDateTime, org_tz, org_today, utcnow

EXPIRING_DAYS = 90
MIN_ANSWERS = 5  # satisfaction is shown to trainers from this many answers
CONFIRMED = EnrolmentStatus.confirmed.value
CANCELLED = EnrolmentStatus.cancelled.value


@dataclass(frozen=True)
class Scope:
    """What a report covers; built and checked by services.scope_for."""
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

def meeting_counts():
    """A meeting that was not cancelled (cancelled meetings count nowhere)."""
    return Meeting.cancelled_at.is_(None)


def _register_open():
    """A meeting whose register has not been finalised (signed off) yet."""
    return Meeting.finalised_at.is_(None)


def _minutes(start, end):
    if db.engine.dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 1440.0
    return func.extract("epoch", end - start) / 60.0


# --- which runs -----------------------------------------------------------------

def _run_filters(scope: Scope, *, period: bool = True) -> list:
    """Conditions on Run (joined to Course) for a scope."""
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


def _enrolment_filters(scope: Scope) -> list:
    if scope.company_id is not None:
        return [Enrolment.company_id == scope.company_id]
    return []


def run_ids(scope: Scope, *, period: bool = True):
    """A subquery of the ids of the runs in scope."""
    return select(Run.id).where(*_run_filters(scope, period=period))


# --- per-run facts ----------------------------------------------------------------

@dataclass
class RunFacts:
    run_id: int
    course_id: int
    capacity: int
    meetings: int = 0            # not cancelled
    meetings_ended: int = 0
    open_registers: int = 0      # not cancelled and not finalised
    confirmed: int = 0
    confirmed_at_start: int = 0
    attended: int = 0            # attended participant-meetings (ended meetings)
    attendees: int = 0           # confirmed enrolments with at least one attended meeting
    certified: int = 0           # confirmed enrolments holding a certificate that is not revoked

    @property
    def registers_complete(self) -> bool:
        return self.meetings > 0 and self.open_registers == 0

    @property
    def planned(self) -> int:
        return self.confirmed * self.meetings_ended

    @property
    def no_shows(self) -> int:
        return self.confirmed - self.attendees


def run_facts(scope: Scope, now: datetime | None = None) -> dict[int, RunFacts]:
    """The facts of every run in scope, in four grouped queries."""
    now = now or utcnow()
    now_lit = literal(now, UTCDateTime())
    ids = run_ids(scope)
    counts = meeting_counts()
    facts: dict[int, RunFacts] = {}
    rows = db.session.execute(
        select(Run.id, Run.course_id, Run.capacity,
               func.count(case((counts, Meeting.id))),
               func.count(case((and_(counts, Meeting.ends_at <= now_lit), Meeting.id))),
               func.count(case((and_(counts, _register_open()), Meeting.id))))
        .select_from(Run).outerjoin(Meeting, Meeting.run_id == Run.id)
        .where(Run.id.in_(ids)).group_by(Run.id, Run.course_id, Run.capacity))
    for run_id, course_id, capacity, meetings, ended, open_registers in rows:
        facts[run_id] = RunFacts(run_id, course_id, capacity or 0, meetings, ended, open_registers)
    if not facts:
        return facts

    # Confirmed now, and confirmed at the first meeting's start (or now, before it).
    first = (select(Meeting.run_id.label("run_id"), func.min(Meeting.starts_at).label("t"))
             .where(counts, Meeting.run_id.in_(ids)).group_by(Meeting.run_id).subquery())
    moment = case((and_(first.c.t.is_not(None), first.c.t < now_lit), first.c.t), else_=now_lit)
    held_then = and_(Enrolment.confirmed_at.is_not(None), Enrolment.confirmed_at <= moment, or_(
        Enrolment.status == CONFIRMED,
        and_(Enrolment.status == CANCELLED, Enrolment.cancelled_at.is_not(None), Enrolment.cancelled_at > moment)))
    rows = db.session.execute(
        select(Enrolment.run_id,
               func.sum(case((Enrolment.status == CONFIRMED, 1), else_=0)),
               func.sum(case((held_then, 1), else_=0)))
        .select_from(Enrolment).outerjoin(first, first.c.run_id == Enrolment.run_id)
        .where(Enrolment.run_id.in_(ids), *_enrolment_filters(scope)).group_by(Enrolment.run_id))
    for run_id, confirmed, at_start in rows:
        facts[run_id].confirmed, facts[run_id].confirmed_at_start = int(confirmed or 0), int(at_start or 0)

    attended = _attended()
    rows = db.session.execute(
        select(Enrolment.run_id,
               func.count(case((and_(attended, Meeting.ends_at <= now_lit), Attendance.id))),
               func.count(distinct(case((attended, Attendance.enrolment_id)))))
        .select_from(Attendance).join(Enrolment, Enrolment.id == Attendance.enrolment_id)
        .join(Meeting, Meeting.id == Attendance.meeting_id).join(Run, Run.id == Enrolment.run_id)
        .join(Course, Course.id == Run.course_id)
        .where(Enrolment.run_id.in_(ids), Enrolment.status == CONFIRMED, counts, *_enrolment_filters(scope))
        .group_by(Enrolment.run_id))
    for run_id, pm, people in rows:
        facts[run_id].attended, facts[run_id].attendees = int(pm or 0), int(people or 0)

    rows = db.session.execute(
        select(Enrolment.run_id, func.count(distinct(Enrolment.id)))
        .select_from(Enrolment).join(Certificate, Certificate.enrolment_id == Enrolment.id)
        .where(Enrolment.run_id.in_(ids), Enrolment.status == CONFIRMED, Certificate.revoked_at.is_(None),
               *_enrolment_filters(scope))
        .group_by(Enrolment.run_id))
    for run_id, certified in rows:
        facts[run_id].certified = int(certified or 0)
    return facts


def _attended():
    """Present or late; excused where the course counts it (Course joined)."""
    return or_(Attendance.status.in_((AttendanceStatus.present.value, AttendanceStatus.late.value)),
               and_(Attendance.status == AttendanceStatus.excused.value, Course.excused_counts.is_(True)))


# --- totals -------------------------------------------------------------------------

@dataclass
class Totals:
    runs: int = 0
    capacity: int = 0
    confirmed: int = 0
    confirmed_at_start: int = 0
    planned: int = 0
    attended: int = 0
    complete_confirmed: int = 0   # confirmed enrolments in runs whose registers are complete
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


def totals(facts) -> Totals:
    result = Totals()
    for f in facts:
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
        return {"runs": t.runs, "capacity": t.capacity, "confirmed": t.confirmed,
                "attendance_rate": t.attendance_rate, "no_show_rate": t.no_show_rate,
                "fill_rate": t.fill_rate, "completion_rate": t.completion_rate,
                "certificates_issued": self.certificates_issued,
                "as_of": self.as_of.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")}


def summary(scope: Scope, now: datetime | None = None) -> Summary:
    now = now or utcnow()
    facts = run_facts(scope, now)
    return Summary(totals(facts.values()), certificates_issued(scope), expiring_count(scope, now), now)


def by_course(scope: Scope, now: datetime | None = None) -> list[tuple[Course, Totals]]:
    """Totals per course, by course code."""
    grouped: dict[int, Totals] = defaultdict(Totals)
    for f in run_facts(scope, now).values():
        grouped[f.course_id].add(f)
    if not grouped:
        return []
    courses = db.session.scalars(select(Course).where(Course.id.in_(list(grouped))).order_by(Course.code))
    return [(c, grouped[c.id]) for c in courses]


# --- certificates ---------------------------------------------------------------------

def org_midnight(day: date) -> datetime:
    """The UTC moment at which ``day`` starts in the organisation's zone."""
    return datetime.combine(day, time(0), org_tz()).astimezone(timezone.utc)


def _certificate_scope(scope: Scope) -> list:
    return [Enrolment.run_id.in_(run_ids(scope, period=False)), *_enrolment_filters(scope)]


def certificates_issued(scope: Scope) -> int:
    start, end = org_midnight(scope.date_from), org_midnight(scope.date_to + timedelta(days=1))
    return db.session.scalar(
        select(func.count(Certificate.id)).select_from(Certificate)
        .join(Enrolment, Enrolment.id == Certificate.enrolment_id)
        .where(Certificate.reissue_of_code.is_(None), Certificate.issued_at >= start, Certificate.issued_at < end,
               *_certificate_scope(scope))) or 0


def _current_certificates(scope: Scope):
    return (select(Certificate.expires_on).select_from(Certificate)
            .join(Enrolment, Enrolment.id == Certificate.enrolment_id)
            .where(Certificate.revoked_at.is_(None), Certificate.superseded_by_id.is_(None),
                   Certificate.expires_on.is_not(None), *_certificate_scope(scope)))


def expiring_count(scope: Scope, now: datetime | None = None, days: int = EXPIRING_DAYS) -> int:
    today = org_today(now)
    sub = _current_certificates(scope).where(
        Certificate.expires_on >= today, Certificate.expires_on <= today + timedelta(days=days)).subquery()
    return db.session.scalar(select(func.count()).select_from(sub)) or 0


def expiring_by_month(scope: Scope, now: datetime | None = None, months: int = 12) -> list[tuple[date, int]]:
    """Current certificates expiring in each of the next ``months`` months (this month from today)."""
    today = org_today(now)
    firsts = [today.replace(day=1) + relativedelta(months=i) for i in range(months + 1)]
    bucket, at = _month_bucket(Certificate.expires_on, firsts[:-1], firsts, is_date=True)
    rows = dict(db.session.execute(
        select(bucket, func.count()).where(
            Certificate.revoked_at.is_(None), Certificate.superseded_by_id.is_(None),
            Certificate.expires_on >= today, Certificate.expires_on < firsts[-1],
            Certificate.enrolment_id.in_(select(Enrolment.id).where(*_certificate_scope(scope))))
        .group_by(bucket)).all())
    counts = [0] * months
    for key, n in rows.items():
        if at(key) is not None:
            counts[at(key)] += int(n)
    return list(zip(firsts[:months], counts, strict=False))


# --- months ------------------------------------------------------------------------------

def months_of(scope: Scope) -> list[date]:
    first = scope.date_from.replace(day=1)
    result = []
    while first <= scope.date_to:
        result.append(first)
        first += relativedelta(months=1)
    return result


def _bucket(column, edges: list):
    """The index i of the interval edges[i] <= column < edges[i+1] (None outside)."""
    whens = [(and_(column >= edges[i], column < edges[i + 1]), i) for i in range(len(edges) - 1)]
    return case(*whens, else_=None) if whens else literal(None)


def _month_bucket(column, months: list[date], edges: list, *, is_date: bool = False):
    """(expression, key -> month index): the month of ``column`` in the
    organisation's zone. PostgreSQL computes it (to_char, one step per row);
    SQLite, which has no time zones, compares with the months' UTC edges."""
    if db.engine.dialect.name == "postgresql":
        local = column if is_date else func.timezone(org_tz().key, column)
        index = {m.strftime("%Y-%m"): i for i, m in enumerate(months)}
        return func.to_char(local, "YYYY-MM"), index.get
    return _bucket(column, edges), lambda i: i


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


def monthly(scope: Scope, now: datetime | None = None) -> list[Month]:
    """Per month of the period (organisation's zone): enrolments confirmed in
    it, certificates first issued in it, and the attendance rate of the
    meetings held in it (the glossary's rule, restricted to those meetings)."""
    now = now or utcnow()
    now_lit = literal(now, UTCDateTime())
    months = months_of(scope)
    edges = [org_midnight(m) for m in months] + [org_midnight(months[-1] + relativedelta(months=1))]
    edges[0] = max(edges[0], org_midnight(scope.date_from))
    edges[-1] = min(edges[-1], org_midnight(scope.date_to + timedelta(days=1)))
    series = [Month(m) for m in months]
    runs = run_ids(scope, period=False)
    efilter = _enrolment_filters(scope)

    bucket, at = _month_bucket(Enrolment.confirmed_at, months, edges)
    for key, n in db.session.execute(select(bucket, func.count()).where(
            Enrolment.run_id.in_(runs), Enrolment.confirmed_at >= edges[0], Enrolment.confirmed_at < edges[-1],
            *efilter).group_by(bucket)):
        if at(key) is not None:
            series[at(key)].enrolments = n

    bucket, at = _month_bucket(Certificate.issued_at, months, edges)
    for key, n in db.session.execute(
            select(bucket, func.count()).select_from(Certificate)
            .join(Enrolment, Enrolment.id == Certificate.enrolment_id)
            .where(Certificate.reissue_of_code.is_(None), Certificate.issued_at >= edges[0],
                   Certificate.issued_at < edges[-1], *_certificate_scope(scope)).group_by(bucket)):
        if at(key) is not None:
            series[at(key)].certificates = n

    held = and_(meeting_counts(), Meeting.ends_at <= now_lit, Meeting.starts_at >= edges[0],
                Meeting.starts_at < edges[-1], Meeting.run_id.in_(runs))
    bucket, at = _month_bucket(Meeting.starts_at, months, edges)
    for key, n in db.session.execute(
            select(bucket, func.count()).select_from(Meeting)
            .join(Enrolment, Enrolment.run_id == Meeting.run_id)
            .where(held, Enrolment.status == CONFIRMED, *efilter).group_by(bucket)):
        if at(key) is not None:
            series[at(key)].planned = n
    for key, n in db.session.execute(
            select(bucket, func.count()).select_from(Attendance)
            .join(Meeting, Meeting.id == Attendance.meeting_id)
            .join(Enrolment, Enrolment.id == Attendance.enrolment_id)
            .join(Run, Run.id == Meeting.run_id).join(Course, Course.id == Run.course_id)
            .where(held, Enrolment.status == CONFIRMED, _attended(), *efilter).group_by(bucket)):
        if at(key) is not None:
            series[at(key)].attended = n
    return series


# --- attendance distribution ---------------------------------------------------------------

def attendance_distribution(scope: Scope, now: datetime | None = None) -> list[int]:
    """How many confirmed enrolments attended 0-9 %, 10-19 %, ... 90-100 % of
    their run's meetings held so far (runs with at least one meeting held)."""
    now = now or utcnow()
    now_lit = literal(now, UTCDateTime())
    ids = run_ids(scope)
    held = (select(Meeting.run_id.label("run_id"), func.count().label("n"))
            .where(meeting_counts(), Meeting.ends_at <= now_lit, Meeting.run_id.in_(ids))
            .group_by(Meeting.run_id).subquery())
    attended = (select(Attendance.enrolment_id.label("enrolment_id"), func.count().label("a"))
                .select_from(Attendance).join(Meeting, Meeting.id == Attendance.meeting_id)
                .join(Run, Run.id == Meeting.run_id).join(Course, Course.id == Run.course_id)
                .where(meeting_counts(), Meeting.ends_at <= now_lit, Meeting.run_id.in_(ids), _attended())
                .group_by(Attendance.enrolment_id).subquery())
    tenth = (func.coalesce(attended.c.a, 0) * 10) / held.c.n
    bucket = case((tenth >= 10, 9), else_=tenth)
    counts = [0] * 10
    for i, n in db.session.execute(
            select(bucket, func.count()).select_from(Enrolment)
            .join(held, held.c.run_id == Enrolment.run_id)
            .outerjoin(attended, attended.c.enrolment_id == Enrolment.id)
            .where(Enrolment.status == CONFIRMED, *_enrolment_filters(scope)).group_by(bucket)):
        counts[int(i)] += n
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


def trainer_hours(scope: Scope, now: datetime | None = None) -> list[TrainerFigures]:
    """Delivered meeting hours per trainer of the runs in scope (only the scoped trainer, if any)."""
    now = now or utcnow()
    now_lit = literal(now, UTCDateTime())
    ids = run_ids(scope)
    minutes = func.sum(case((and_(meeting_counts(), Meeting.ends_at <= now_lit),
                             _minutes(Meeting.starts_at, Meeting.ends_at)), else_=0))
    stmt = (select(run_trainers.c.user_id, func.count(distinct(run_trainers.c.run_id)), minutes)
            .select_from(run_trainers).outerjoin(Meeting, Meeting.run_id == run_trainers.c.run_id)
            .where(run_trainers.c.run_id.in_(ids)).group_by(run_trainers.c.user_id))
    if scope.trainer_id is not None:
        stmt = stmt.where(run_trainers.c.user_id == scope.trainer_id)
    rows = db.session.execute(stmt).all()
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_([r[0] for r in rows])))} \
        if rows else {}
    result = [TrainerFigures(users[uid], runs, round(float(m or 0) / 60.0, 2)) for uid, runs, m in rows]
    result.sort(key=lambda t: (-t.hours, t.trainer.display_name))
    return result


__all__ = ["Scope", "RunFacts", "Totals", "Summary", "Month", "TrainerFigures", "run_facts", "totals", "summary",
           "by_course", "certificates_issued", "expiring_count", "expiring_by_month", "monthly",
           "attendance_distribution", "trainer_hours", "rate", "months_of", "org_midnight", "EXPIRING_DAYS",
           "MIN_ANSWERS"]
