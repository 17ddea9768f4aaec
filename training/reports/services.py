"""Reports: what a viewer may see (scope), and the figures of the dashboard,
the exports and the API, all from ``metrics`` (the glossary).

Read-only: nothing here writes, except ``subscriptions`` (scheduled reports).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from dateutil.relativedelta import relativedelta
from flask_babel import gettext as _
from sqlalchemy import func, select

from ..accounts.models import User
from ..catalogue.models import Category, Course, Run, RunStatus, run_trainers
from ..catalogue.parsing import parse_date
from ..companies.models import Company
from ..enrolment.models import Enrolment
from ..errors import Forbidden, ValidationFailed
from ..extensions import Model, db
from ..figures import metrics, summaries
from ..figures.metrics import Scope
from ..permissions import report_limits
from ..types import org_today, utcnow

if TYPE_CHECKING:
    from .feedback import Overview

MAX_YEARS = 10
ID_FILTERS = ("course_id", "category_id", "trainer_id", "company_id", "run_id")


def default_period(today: date | None = None) -> tuple[date, date]:
    """The last twelve months, this one included."""
    today = today or org_today()
    return today.replace(day=1) - relativedelta(months=11), today


def _id(args: Mapping[str, Any], name: str) -> int | None:
    raw = args.get(name)
    if raw is None or str(raw).strip() == "":
        return None
    raw = str(raw).strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= 2**31 - 1:
        raise ValidationFailed(_("%(field)s must be a whole number.", field=name), fields={name: "not an integer"})
    return int(raw)


class BadRequest(ValidationFailed):
    """A period that is no period (not a date, an impossible date, from after to, too long): 400."""

    code = "bad_request"
    status = 400


def _date(args: Mapping[str, Any], name: str) -> date | None:
    if not args.get(name):
        return None
    try:
        return parse_date(str(args[name]).strip()[:32], name)
    except ValidationFailed as exc:
        raise BadRequest(exc.message, fields=exc.fields) from None


def _exists(model: type[Model], value: int | None, name: str) -> None:
    if value is not None and db.session.get(model, value) is None:
        raise ValidationFailed(_("%(field)s names nothing that exists.", field=name), fields={name: "unknown"})


def scope_for(viewer: User, args: Mapping[str, Any]) -> Scope:
    """The report a viewer asked for (``from``, ``to``, ``course_id``,
    ``category_id``, ``city``, ``trainer_id``, ``company_id``, ``run_id``),
    checked and narrowed to what they may see: trainers get the runs they
    teach, coordinators their company. Asking outside one's scope is a 403;
    a bad period (not a date, from after to, over ten years) a 400; a
    malformed or unknown id a 422."""
    limits = report_limits(viewer)
    if limits is None:
        raise Forbidden(_("Reports are for admins, trainers and company coordinators."))
    first, last = default_period()
    date_to = _date(args, "to") or last
    date_from = _date(args, "from") or min(first, date_to)
    if date_from > date_to:
        raise BadRequest(_("from must not be after to."), fields={"from": "after to"})
    if date_to > date_from + relativedelta(years=MAX_YEARS):
        raise BadRequest(_("A report covers at most %(n)s years.", n=MAX_YEARS), fields={"to": "too far"})
    ids = {name: _id(args, name) for name in ID_FILTERS}
    city = str(args.get("city") or "").strip()[:100] or None
    _exists(Company, ids["company_id"], "company_id")
    _exists(Course, ids["course_id"], "course_id")
    _exists(Category, ids["category_id"], "category_id")
    _exists(Run, ids["run_id"], "run_id")
    if ids["trainer_id"] is not None:
        trainer = db.session.get(User, ids["trainer_id"])
        if trainer is None:
            raise ValidationFailed(
                _("%(field)s names nothing that exists.", field="trainer_id"), fields={"trainer_id": "unknown"}
            )
    for name, value in limits.items():
        if ids[name] is not None and ids[name] != value:
            raise Forbidden(_("You may only see reports of your own runs or your own company."))
        ids[name] = value
    if (
        ids["run_id"] is not None
        and "company_id" in limits
        and not db.session.scalar(
            select(func.count())
            .select_from(Enrolment)
            .where(Enrolment.run_id == ids["run_id"], Enrolment.company_id == limits["company_id"])
        )
    ):
        raise Forbidden(_("You may only see reports of your own runs or your own company."))
    if (
        ids["run_id"] is not None
        and "trainer_id" in limits
        and not db.session.scalar(
            select(func.count())
            .select_from(run_trainers)
            .where(run_trainers.c.run_id == ids["run_id"], run_trainers.c.user_id == limits["trainer_id"])
        )
    ):
        raise Forbidden(_("You may only see reports of your own runs or your own company."))
    return Scope(date_from=date_from, date_to=date_to, city=city, **ids)


def course_choices() -> list[Course]:
    """Courses not archived, for the admin forms' course lists."""
    return list(db.session.scalars(select(Course).where(Course.archived.is_(False)).order_by(Course.code)))


def summary(viewer: User, args: Mapping[str, Any]) -> metrics.Summary:
    """The key figures (from the summaries: ``as_of`` says when they were taken)."""
    scope = scope_for(viewer, args)
    return metrics.summary(scope, utcnow(), summaries.facts(scope))


def monthly(viewer: User, args: Mapping[str, Any]) -> tuple[Scope, list[metrics.Month], datetime]:
    scope = scope_for(viewer, args)
    source = summaries.facts(scope)
    return scope, metrics.monthly(scope, source=source), source.as_of


# --- the dashboard ---------------------------------------------------------------------------


@dataclass
class FilterOptions:
    courses: list[Course]
    categories: list[Category]
    cities: list[str]
    trainers: list[User]
    companies: list[Company] = field(default_factory=list)


@dataclass
class Dashboard:
    scope: Scope
    summary: metrics.Summary
    months: list[metrics.Month]
    courses: list[tuple[Course, metrics.Totals]]
    distribution: list[int]
    expiring: list[tuple[date, int]]
    trainers: list[metrics.TrainerFigures]
    options: FilterOptions
    feedback: Overview | None = None  # satisfaction per run, course and trainer
    limits: dict[str, int] = field(default_factory=dict)

    @property
    def as_of(self) -> datetime:
        return self.summary.as_of

    @property
    def empty(self) -> bool:
        return self.summary.totals.runs == 0 and self.summary.certificates_issued == 0


def _options(limits: dict[str, int]) -> FilterOptions:
    runs = select(Run.id).where(Run.status != RunStatus.cancelled.value)
    if "trainer_id" in limits:
        runs = runs.where(
            Run.id.in_(select(run_trainers.c.run_id).where(run_trainers.c.user_id == limits["trainer_id"]))
        )
    if "company_id" in limits:
        runs = runs.where(Run.id.in_(select(Enrolment.run_id).where(Enrolment.company_id == limits["company_id"])))
    courses = list(
        db.session.scalars(
            select(Course).where(Course.id.in_(select(Run.course_id).where(Run.id.in_(runs)))).order_by(Course.code)
        )
    )
    categories = (
        list(
            db.session.scalars(
                select(Category)
                .where(Category.id.in_({c.category_id for c in courses if c.category_id}))
                .order_by(Category.name)
            )
        )
        if courses
        else []
    )
    cities = sorted({c for c in db.session.scalars(select(Run.city).where(Run.id.in_(runs)).distinct()) if c})
    trainers = list(
        db.session.scalars(
            select(User)
            .where(User.id.in_(select(run_trainers.c.user_id).where(run_trainers.c.run_id.in_(runs))))
            .order_by(User.display_name)
        )
    )
    stmt = select(Company).order_by(Company.name)
    if "company_id" in limits:
        stmt = stmt.where(Company.id == limits["company_id"])
    companies = list(db.session.scalars(stmt))
    return FilterOptions(courses, categories, cities, trainers, companies)


def dashboard(viewer: User, args: Mapping[str, Any]) -> Dashboard:
    scope = scope_for(viewer, args)
    now = utcnow()
    source = summaries.facts(scope, now)
    return Dashboard(
        scope=scope,
        summary=metrics.summary(scope, now, source),
        months=metrics.monthly(scope, source=source),
        courses=metrics.by_course(scope, source=source),
        distribution=metrics.attendance_distribution(scope, source=source),
        expiring=metrics.expiring_by_month(scope, now),
        trainers=metrics.trainer_hours(scope, source=source),
        options=_options(report_limits(viewer) or {}),
        feedback=_feedback(viewer, scope),
        limits=report_limits(viewer) or {},
    )


def _feedback(viewer: User, scope: Scope) -> Overview:
    from . import feedback

    return feedback.overview(viewer, scope)
