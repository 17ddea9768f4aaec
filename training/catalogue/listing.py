"""The catalogue's listing summary, kept per version of the data.

Every catalogue page shows the filter sidebar's counts (courses per category,
the cities of upcoming runs), and the catalogue's first pages list the visible
courses in the default order (those with an upcoming run by its date, then the
rest by title). Working these out reads every visible course: two counts, a
grouping of all upcoming runs and an anti-join, about 5 ms at 10,000 courses on
each page, and more the deeper the page.

They change only when courses, runs, their meetings or categories do: a commit
that changes one bumps the shared counter ``cache_versions.catalogue``
(``training.pagecache``), on every server; enrolments do not (seats are read
for each page's cards). So the summary is built once per version (and per day,
since "upcoming" is relative to today) and kept in this process: a page reads
the version (one primary-key read, with the page version) and takes its slice
of the order in Python. A change made on another server is seen by the next
page here; nothing is served from a summary older than the version the page
reads.

A search, the run filters (mode, city, month, open seats), another sort or an
admin's view of unpublished courses are not summarised: they go to the
queries in ``training.catalogue.search``, which count and page in SQL.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..pagecache import CATALOGUE_VERSION, current_version
from ..paging import Page
from ..types import org_today
from .models import Category, Course
from .search import (
    CatalogueQuery,
    Facets,
    catalogue_facets,
    course_cards,
    facet_cities,
    facet_months,
    run_conditions,
    search_courses,
    upcoming,
)

# (course id, category id, level, language) of each visible course, in the default order.
_Row = tuple[int, int | None, str, str]
_KEPT = 4  # summaries per process (per version and day); older ones are dropped
# A summary is also rebuilt after this long whatever the counter says: a bump that failed
# (logged by training.pagecache) leaves the order stale for at most this long.
LIFETIME_SECONDS = 300.0


@dataclass(frozen=True)
class ListingSummary:
    version: int
    today: date
    built_at: float  # time.monotonic()
    rows: tuple[_Row, ...]
    categories: tuple[tuple[str, Category, int], ...]  # (slug, category, visible courses), by name
    cities: tuple[str, ...]

    def facets(self) -> Facets:
        return Facets(categories=list(self.categories), cities=list(self.cities), months=facet_months(self.today))


def summarisable(query: CatalogueQuery) -> bool:
    """Whether the summary answers this query: the default order, no search, no run
    filters; category, level and language filters are applied to the summary's rows."""
    return query.sort == "next" and not query.terms and not query.has_run_filters and not query.missing


def catalogue_page(query: CatalogueQuery) -> tuple[Page, Facets]:
    """The catalogue page for ``query`` and the sidebar's facets, visible courses only."""
    summary = _summary()
    if summary is None:
        return search_courses(query), catalogue_facets()
    facets = summary.facets()
    if not summarisable(query):
        return search_courses(query), facets
    rows = summary.rows
    if query.category or query.level or query.language:
        category_id = next((cat.id for slug, cat, _n in summary.categories if slug == query.category), None)
        if query.category and category_id is None:
            return search_courses(query), facets
        rows = tuple(
            row
            for row in rows
            if (category_id is None or row[1] == category_id)
            and (not query.level or row[2] == query.level)
            and (not query.language or row[3] == query.language)
        )
    offset = (query.page - 1) * query.per_page
    ids = [row[0] for row in rows[offset : offset + query.per_page]]
    items = course_cards(ids, run_conditions(query), visible_only=True)
    return Page(items=items, page=query.page, per_page=query.per_page, total=len(rows)), facets


def _summary() -> ListingSummary | None:
    version = current_version(CATALOGUE_VERSION)
    if version is None:
        return None
    today = org_today()
    kept: dict[tuple[int, date], ListingSummary] = current_app.extensions.setdefault("catalogue_listing", {})
    found = kept.get((version, today))
    if found is None or time.monotonic() - found.built_at > LIFETIME_SECONDS:
        found = _build(version, today)
        with _lock:
            if len(kept) >= _KEPT:
                kept.clear()
            kept[(version, today)] = found
    return found


_lock = threading.Lock()


def _build(version: int, today: date) -> ListingSummary:
    conditions = run_conditions(CatalogueQuery())
    next_start = upcoming(conditions)
    rows = tuple(
        (r[0], r[1], r[2], r[3])
        for r in db.session.execute(
            select(Course.id, Course.category_id, Course.level, Course.language)
            .outerjoin(next_start, next_start.c.course_id == Course.id)
            .where(Course.published.is_(True), Course.archived.is_(False))
            .order_by(next_start.c.next_on.is_(None), next_start.c.next_on, Course.title, Course.id)
        )
    )
    counts = Counter(row[1] for row in rows)
    categories = tuple(
        (cat.slug, _detached(cat), counts[cat.id])
        for cat in db.session.scalars(select(Category).order_by(Category.name))
        if counts[cat.id]
    )
    return ListingSummary(
        version=version,
        today=today,
        built_at=time.monotonic(),
        rows=rows,
        categories=categories,
        cities=tuple(facet_cities(today)),
    )


def _detached(cat: Category) -> Category:
    """A copy of the category that belongs to no session: the summary outlives the request."""
    return Category(
        id=cat.id, slug=cat.slug, name=cat.name, name_zh=cat.name_zh, original_language=cat.original_language
    )
