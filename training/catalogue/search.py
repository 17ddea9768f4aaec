"""Catalogue search and filters: one service for the HTML catalogue, the API
and the benchmark. (First version: LIKE matching; see issue 3 for the
full-text version.)"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from ..errors import ValidationFailed
from ..extensions import db
from .models import Category, Course, Run
from .services import confirmed_counts

MAX_PER_PAGE = 100


@dataclass
class CatalogueQuery:
    q: str = ""
    category: str | None = None
    level: str | None = None
    language: str | None = None
    mode: str | None = None
    city: str | None = None
    month: str | None = None  # YYYY-MM
    open_only: bool = False
    sort: str = "next"
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args, *, strict: bool = False) -> "CatalogueQuery":
        """Read a query string. Unknown or malformed values are ignored on pages
        (strict=False) and refused with a 422 in the API (strict=True)."""
        def bad(field_name, message):
            if strict:
                raise ValidationFailed(message, fields={field_name: "invalid"})

        def integer(name, default, lo, hi):
            raw = args.get(name)
            if raw in (None, ""):
                return default
            try:
                value = int(raw)
            except (TypeError, ValueError):
                bad(name, f"{name} must be a whole number.")
                return default
            if not lo <= value <= hi:
                bad(name, f"{name} must be between {lo} and {hi}.")
                return min(max(value, lo), hi)
            return value

        q = (args.get("q") or "").strip()[:200]
        query = cls(q=q)
        query.page = integer("page", 1, 1, 100000)
        query.per_page = integer("per_page", 20, 1, MAX_PER_PAGE)
        for name, allowed in (("level", {"beginner", "intermediate", "advanced"}),
                              ("mode", {"in_person", "online", "blended"}),
                              ("language", {"en", "zh", "en+zh", "de"}),
                              ("sort", {"next", "title", "newest"})):
            value = (args.get(name) or "").strip()
            if value and value not in allowed:
                bad(name, f"{name} must be one of {', '.join(sorted(allowed))}.")
                value = ""
            if value:
                setattr(query, name, value)
        query.category = (args.get("category") or "").strip()[:64] or None
        query.city = (args.get("city") or "").strip()[:100] or None
        month = (args.get("month") or "").strip()
        if month:
            try:
                date.fromisoformat(month + "-01")
                query.month = month
            except ValueError:
                bad("month", "month must look like 2026-12.")
        open_only = str(args.get("open_only") or "").lower()
        query.open_only = open_only in {"1", "true", "yes", "on"}
        return query


@dataclass
class CourseCard:
    course: Course
    upcoming_runs: list = field(default_factory=list)
    seats: dict = field(default_factory=dict)  # run id -> seats left

    @property
    def next_run(self):
        return self.upcoming_runs[0] if self.upcoming_runs else None


@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page)) if self.per_page else 1


def search_courses(query: CatalogueQuery, *, include_unpublished: bool = False) -> Page:
    stmt = select(Course)
    if not include_unpublished:
        stmt = stmt.where(Course.published.is_(True), Course.archived.is_(False))
    if query.q:
        like = f"%{query.q.lower()}%"
        stmt = stmt.where(or_(func.lower(Course.code).like(like), func.lower(Course.title).like(like),
                              func.lower(Course.summary).like(like), func.lower(Course.description).like(like)))
    if query.category:
        stmt = stmt.join(Category).where(Category.slug == query.category)
    if query.level:
        stmt = stmt.where(Course.level == query.level)
    if query.language:
        stmt = stmt.where(Course.language == query.language)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = {"title": Course.title, "newest": Course.created_at.desc()}.get(query.sort, Course.title)
    courses = list(db.session.scalars(stmt.order_by(order, Course.id).limit(query.per_page)
                                      .offset((query.page - 1) * query.per_page)
                                      .options(selectinload(Course.category))))
    today = date.today()
    runs = list(db.session.scalars(select(Run).where(Run.course_id.in_([c.id for c in courses]),
                                                     Run.ends_on >= today, Run.status == "open")
                                   .order_by(Run.starts_on)))
    counts = confirmed_counts(r.id for r in runs)
    cards = {c.id: CourseCard(c) for c in courses}
    for run in runs:
        cards[run.course_id].upcoming_runs.append(run)
        cards[run.course_id].seats[run.id] = max(run.capacity - counts.get(run.id, 0), 0)
    return Page(items=[cards[c.id] for c in courses], page=query.page, per_page=query.per_page, total=total)
