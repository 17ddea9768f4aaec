"""The company report: the glossary's figures (``training.figures.metrics``,
the same functions as the reports dashboard and the API) for one company's
enrolments, beside what only a company has (reserved seats, certificates
held at the end of the period, coverage of its positions).

``figures(first, last, company_id)`` is the platform's report for the same
period with the company filter (``company_id=None``: the whole platform), so
a company's numbers are the dashboard's numbers for that company, and the
counts of all companies plus the people of no company add up to the
platform's exactly. Rates are kept as numerator and denominator and shown as
percentages (0-100, one decimal) here; the reports API gives the same rates as
fractions.

The period selects runs by their first day (``Run.starts_on``, a date in the
run's own time zone) between ``first`` and ``last`` inclusive; certificates
held are counted as of ``last`` (or today, if earlier), expiring ones (the
glossary's 90 days) from today, in the organisation's zone.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, func, select

from ..catalogue.models import Run, RunStatus, SeatAllocation
from ..certificates.models import Certificate
from ..enrolment.models import Enrolment, EnrolmentStatus
from ..errors import ValidationFailed
from ..extensions import db
from ..figures import metrics, summaries
from ..types import org_today, utcnow
from .models import Company

EXPIRING_DAYS = metrics.EXPIRING_DAYS
MAX_DAYS = 3700
# A SELECT of any columns: the company filter keeps what it is given.
SelectT = TypeVar("SelectT", bound="Select[*tuple[Any, ...]]")


@dataclass
class Figures:
    first: date
    last: date
    company_id: int | None
    seats_reserved: int = 0
    seats_used: int = 0
    seats_released: int = 0
    enrolments: int = 0  # confirmed enrolments in runs of the period (the glossary's "confirmed")
    by_status: dict[str, int] = field(default_factory=dict)
    attended_marks: int = 0  # the glossary's attended participant-meetings
    marks: int = 0  # the glossary's planned participant-meetings (meetings held x confirmed)
    no_shows: int = 0  # confirmed, no meeting attended, in runs whose registers are complete
    completed: int = 0  # confirmed with a certificate not revoked, in runs whose registers are complete
    ended: int = 0  # confirmed enrolments of runs whose registers are complete
    certificates_valid: int = 0
    certificates_expiring: int = 0  # the glossary's "expiring": current, expiring within 90 days from today
    certificates_expired: int = 0
    monthly: list[tuple[str, int]] = field(
        default_factory=list
    )  # [(YYYY-MM, enrolments confirmed that month)] for the chart
    as_of: datetime | None = None  # the moment the glossary's figures describe (the summaries' as_of)
    # Positions the company's people work on (training.qualifications): requirements met by its people.
    position_requirements: int = 0
    requirements_covered: int = 0

    @property
    def coverage_rate(self) -> float | None:
        return (
            round(100 * self.requirements_covered / self.position_requirements, 1)
            if self.position_requirements
            else None
        )

    @property
    def attendance_rate(self) -> float | None:
        return round(100 * self.attended_marks / self.marks, 1) if self.marks else None

    @property
    def completion_rate(self) -> float | None:
        return round(100 * self.completed / self.ended, 1) if self.ended else None

    @property
    def no_show_rate(self) -> float | None:
        return round(100 * self.no_shows / self.ended, 1) if self.ended else None

    @property
    def empty(self) -> bool:
        return not (
            self.enrolments
            or self.seats_reserved
            or self.by_status
            or self.certificates_valid
            or self.certificates_expired
        )


def parse_period(first: object, last: object) -> tuple[date, date]:
    """?from=YYYY-MM-DD&to=YYYY-MM-DD; default: the last twelve months and the
    next six (so the runs a coordinator has booked show)."""
    today = org_today()

    def one(value: object, name: str, default: date) -> date:
        if value in (None, ""):
            return default
        try:
            parsed = date.fromisoformat(str(value))
        except ValueError:
            raise ValidationFailed(
                _("%(field)s must be a date like 2026-03-01.", field=name), fields={name: "invalid date"}
            ) from None
        if not 1970 <= parsed.year <= 2200:
            raise ValidationFailed(_("%(field)s is out of range.", field=name), fields={name: "out of range"})
        return parsed

    start = one(first, "from", today.replace(day=1) - timedelta(days=365))
    end = one(last, "to", today + timedelta(days=183))
    if end < start:
        raise ValidationFailed(_("to is before from."), fields={"to": "before from"})
    if (end - start).days > MAX_DAYS:
        raise ValidationFailed(_("A report covers at most ten years."), fields={"from": "too early"})
    return start, end


def figures(first: date, last: date, company_id: int | None = None) -> Figures:
    """Every figure of the report, for one company or (None) the platform."""
    result = Figures(first, last, company_id)
    in_period = and_(Run.starts_on >= first, Run.starts_on <= last)

    def scoped(stmt: SelectT) -> SelectT:
        return stmt.where(Enrolment.company_id == company_id) if company_id is not None else stmt

    # Reserved seats of the period's runs.
    alloc = select(SeatAllocation).join(Run, Run.id == SeatAllocation.run_id).where(in_period)
    if company_id is not None:
        alloc = alloc.where(SeatAllocation.company_id == company_id)
    allocations = list(db.session.scalars(alloc))
    if allocations:
        used = dict(
            ((r, c), n)
            for r, c, n in db.session.execute(
                select(Enrolment.run_id, Enrolment.company_id, func.count())
                .where(
                    Enrolment.run_id.in_({a.run_id for a in allocations}),
                    Enrolment.status == EnrolmentStatus.confirmed.value,
                )
                .group_by(Enrolment.run_id, Enrolment.company_id)
            )
        )
        for a in allocations:
            result.seats_reserved += a.seats
            result.seats_used += min(used.get((a.run_id, a.company_id), 0), a.seats)
            result.seats_released += a.released_seats

    # Enrolments by status.
    base = scoped(
        select(Enrolment.status, func.count())
        .join(Run, Run.id == Enrolment.run_id)
        .where(in_period, Run.status != RunStatus.cancelled.value)
        .group_by(Enrolment.status)
    )
    result.by_status = {s: n for s, n in db.session.execute(base)}

    # The glossary's figures, from the same facts as the reports dashboard.
    scope = metrics.Scope(date_from=first, date_to=last, company_id=company_id)
    now = utcnow()
    source = summaries.facts(scope, now)
    totals = metrics.totals(source.runs.values())
    result.enrolments = totals.confirmed
    result.attended_marks, result.marks = totals.attended, totals.planned
    result.no_shows, result.completed, result.ended = (
        totals.complete_no_shows,
        totals.complete_certified,
        totals.complete_confirmed,
    )
    result.certificates_expiring = metrics.expiring_count(scope, now)
    result.monthly = [(m.month.strftime("%Y-%m"), m.enrolments) for m in metrics.monthly(scope, source=source)][:121]
    result.as_of = source.as_of

    # Certificates of the period's enrolments, as of the end of the period.
    today = org_today()
    as_of = min(last, today)
    certs = (
        select(Certificate)
        .join(Enrolment, Enrolment.id == Certificate.enrolment_id)
        .join(Run, Run.id == Enrolment.run_id)
        .where(in_period, Certificate.superseded_by_id.is_(None))
    )
    for cert in db.session.scalars(scoped(certs)):
        state = cert.status_on(as_of)
        if state == "valid":
            result.certificates_valid += 1
        elif state == "expired":
            result.certificates_expired += 1
    return result


def company_report(company: Company, first: date, last: date) -> Figures:
    """The figures, and the coverage of the company's positions on the period's last day (or today)."""
    from .services import qualifications_of

    report = figures(first, last, company.id)
    coverage = qualifications_of(company.id, min(last, org_today())).coverage
    report.position_requirements = len(coverage)
    report.requirements_covered = sum(1 for c in coverage if c.covered)
    return report


def report_to_dict(report: Figures) -> dict[str, Any]:
    data = asdict(report)
    data["from"] = report.first.isoformat()
    data["to"] = report.last.isoformat()
    del data["first"], data["last"]
    data["attendance_rate"] = report.attendance_rate
    data["completion_rate"] = report.completion_rate
    data["no_show_rate"] = report.no_show_rate
    data["as_of"] = report.as_of.isoformat().replace("+00:00", "Z") if report.as_of else None
    data["coverage_rate"] = report.coverage_rate
    data["monthly"] = [{"month": m, "enrolments": n} for m, n in report.monthly]
    return data


# --- chart and export -------------------------------------------------------------------


def bar_chart_svg(monthly: list[tuple[str, int]], *, title: str) -> str:
    """Confirmed enrolments per month as a small server-side SVG bar chart."""
    from markupsafe import escape

    width, height, pad = 640, 200, 28
    n = max(len(monthly), 1)
    top = max([v for _m, v in monthly] + [1])
    bar = (width - 2 * pad) / n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" class="company-chart">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#888"/>',
    ]
    for i, (month, value) in enumerate(monthly):
        h = (height - 2 * pad) * value / top
        x = pad + i * bar
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{height - pad - h:.1f}" width="{max(bar - 4, 1):.1f}" '
            f'height="{h:.1f}" fill="#0B3C6E"><title>{escape(month)}: {value}</title></rect>'
        )
        if value:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - pad - h - 4:.1f}" font-size="11" '
                f'text-anchor="middle">{value}</text>'
            )
        if i % -(-n // 8) == 0:  # at most eight month labels: they stay legible on a phone
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 8}" font-size="10" '
                f'text-anchor="middle">{escape(month[2:])}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _fraction(percent: float | None) -> float | str:
    return "" if percent is None else percent / 100


def rows_for_export(company: Company, report: Figures) -> list[tuple[str, object, str | None]]:
    """(label, value, number format): dates as dates, rates as fractions shown as percentages."""
    pct, day = "0.0%", "yyyy-mm-dd"
    return [
        (_l("Company"), f"{company.code} {company.name}", None),
        (_l("Period from"), report.first, day),
        (_l("Period to"), report.last, day),
        (_l("Seats reserved"), report.seats_reserved, None),
        (_l("Seats used"), report.seats_used, None),
        (_l("Seats released"), report.seats_released, None),
        (_l("Enrolments"), report.enrolments, None),
        (_l("Attendance rate"), _fraction(report.attendance_rate), pct),
        (_l("No-shows"), report.no_shows, None),
        (_l("No-show rate"), _fraction(report.no_show_rate), pct),
        (_l("Completion rate"), _fraction(report.completion_rate), pct),
        (_l("Certificates valid"), report.certificates_valid, None),
        (_l("Certificates expiring within 90 days"), report.certificates_expiring, None),
        (_l("Certificates expired"), report.certificates_expired, None),
        (_l("Position requirements covered"), f"{report.requirements_covered} / {report.position_requirements}", None),
    ]


def to_xlsx(company: Company, report: Figures) -> bytes:
    """The report as a workbook: bilingual labels (like the reports' exports), the same figures as the page."""
    from openpyxl import Workbook

    from ..labels import bilingual
    from ..spreadsheets import safe_value

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has its one sheet
    sheet.title = bilingual(_l("Report")).replace(" / ", " ")[:31]
    for label, value, number_format in rows_for_export(company, report):
        sheet.append([bilingual(label), safe_value(value)])  # the company's name stays text
        if number_format:
            sheet.cell(sheet.max_row, 2).number_format = number_format
    months = book.create_sheet(bilingual(_l("Months")).replace(" / ", " ")[:31])
    months.append([bilingual(_l("Month")), bilingual(_l("Enrolments"))])
    for month, value in report.monthly:
        months.append([date.fromisoformat(f"{month}-01"), value])
        months.cell(months.max_row, 1).number_format = "yyyy-mm"
    sheet.column_dimensions["A"].width = 48
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- the monthly e-mail ---------------------------------------------------------------------


def send_monthly_reports(now: datetime | None = None) -> int:
    """Last month's report to every active coordinator, in their language,
    once per coordinator and month (a ReportMail row is the guarantee, even
    when two schedulers run at once); a company with nothing to report gets no
    e-mail. Returns the number of e-mails queued."""
    from sqlalchemy.exc import IntegrityError

    from .. import mail
    from ..accounts.models import Role, User
    from ..urls import public_base_url
    from .models import ReportMail
    from .services import SUBJECTS

    today = org_today(now)
    last = today.replace(day=1) - timedelta(days=1)
    first = last.replace(day=1)
    month = f"{first.year:04d}-{first.month:02d}"
    sent = 0
    for company in list(db.session.scalars(select(Company).order_by(Company.id))):
        coordinators = list(
            db.session.scalars(
                select(User)
                .where(User.company_id == company.id, User.role == Role.coordinator.value, User.active.is_(True))
                .order_by(User.id)
            )
        )
        done = set(
            db.session.scalars(
                select(ReportMail.user_id).where(ReportMail.company_id == company.id, ReportMail.month == month)
            )
        )
        todo = [u for u in coordinators if u.id not in done]
        if not todo:
            continue
        report = figures(first, last, company.id)
        if report.empty:
            continue
        for user in todo:
            try:
                with db.session.begin_nested():
                    db.session.add(ReportMail(company_id=company.id, user_id=user.id, month=month))
            except IntegrityError:
                continue  # another run sent it
            url = f"{public_base_url()}/companies/{company.id}/report?from={first.isoformat()}&to={last.isoformat()}"
            mail.queue(
                mail.build(
                    user.email,
                    SUBJECTS["company_report"],
                    "company_report",
                    locale=user.locale,
                    subject_args={"company": company.label(user.locale), "month": month},
                    user=user,
                    company_name=company.label(user.locale),
                    month=month,
                    report=report,
                    url=url,
                )
            )
            sent += 1
        db.session.commit()
    return sent
