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
since "upcoming" is relative to the organisation's date) and kept in this
process: a page reads the version (one primary-key read, with the page version)
and takes its slice of the order in Python. A change made on another server is
seen by the next page here; nothing is served from a summary older than the
version the page reads.

Building it reads every visible course's id, category, level and language in
title order from one covering index (``ix_courses_title_order``: no sort, no
course row) and the next start of each course with upcoming runs (a few
hundred rows); the default order is put together in Python from the two.

Run filters (mode, city, month, open seats) are answered from the summary plus
one live query: the courses with a matching run and the start of their first
one (seats are not in the summary). A search, another sort or an admin's view
of unpublished courses are not summarised: they go to the queries in
``training.catalogue.search``, which count and page in SQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from itertools import filterfalse
from operator import itemgetter

from flask import current_app
from sqlalchemy import func, select

from ..extensions import db
from ..pagecache import CATALOGUE_VERSION, current_version
from ..paging import Page
from ..types import org_today
from .models import Category, Course, Run
from .search import (
    MAX_CITIES,
    CatalogueQuery,
    Facets,
    catalogue_facets,
    course_cards,
    facet_categories,
    facet_months,
    run_conditions,
    search_courses,
    upcoming,
)

_Filtered = tuple[int | None, str | None, str | None]  # (category id, level, language) asked for
_KEPT = 4  # summaries per process (per version and day); older ones are dropped
_KEPT_FILTERS = 64  # filtered orders kept per summary
# A summary is also rebuilt after this long whatever the counter says: a bump that failed
# (logged by training.pagecache) leaves the order stale for at most this long.
LIFETIME_SECONDS = 300.0


@dataclass(frozen=True)
class ListingSummary:
    version: int
    today: date
    built_at: float  # time.monotonic()
    order: tuple[int, ...]  # the ids of every visible course, in the default order
    by_title: tuple[int, ...]  # the same ids by title (then id), as the database sorts them
    categories: tuple[tuple[str, Category, int], ...]  # (slug, category, visible courses), by name
    cities: tuple[str, ...]
    # The default order of a category, level and language filter, worked out on first use.
    filtered: dict[_Filtered, tuple[int, ...]] = field(default_factory=dict, compare=False, repr=False)

    def facets(self) -> Facets:
        return Facets(categories=list(self.categories), cities=list(self.cities), months=facet_months(self.today))

    @cached_property
    def places(self) -> dict[int, int]:
        """Each visible course's place in title order, by id (pages with run filters)."""
        return {course_id: place for place, course_id in enumerate(self.by_title)}

    @cached_property
    def attributes(self) -> dict[int, tuple[int | None, str, str]]:
        """(category id, level, language) of each visible course, by id: read on the first
        filtered page, not on every rebuild (most versions of the catalogue see none). Read
        later than the order, it may lack a course hidden since: such a course is not shown."""
        return {
            course_id: (category_id, level, language)
            for course_id, category_id, level, language in db.session.connection().execute(
                select(Course.id, Course.category_id, Course.level, Course.language).where(*_VISIBLE)
            )
        }

    def filtered_order(self, wanted: _Filtered) -> tuple[int, ...]:
        """The default order of the courses in this category, of this level and language."""
        found = self.filtered.get(wanted)
        if found is None:
            attributes = self.attributes
            found = tuple(course_id for course_id in self.order if _shown(attributes.get(course_id), wanted))
            with _lock:
                if len(self.filtered) >= _KEPT_FILTERS:
                    self.filtered.clear()
                self.filtered[wanted] = found
        return found


def _shown(attributes: tuple[int | None, str, str] | None, wanted: _Filtered) -> bool:
    if attributes is None:
        return False
    category_id, level, language = wanted
    return (
        (category_id is None or attributes[0] == category_id)
        and (not level or attributes[1] == level)
        and (not language or attributes[2] == language)
    )


def summarisable(query: CatalogueQuery) -> bool:
    """Whether the summary answers this query: the default order, no search, visible
    courses only; category, level and language filters are applied to the summary's ids,
    run filters to the courses one query finds."""
    return query.sort == "next" and not query.terms and not query.missing


def catalogue_page(query: CatalogueQuery) -> tuple[Page, Facets]:
    """The catalogue page for ``query`` and the sidebar's facets, visible courses only."""
    summary = _summary()
    if summary is None:
        return search_courses(query), catalogue_facets()
    facets = summary.facets()
    if not summarisable(query):
        return search_courses(query), facets
    category_id = next((cat.id for slug, cat, _n in summary.categories if slug == query.category), None)
    if query.category and category_id is None:
        return search_courses(query), facets  # a category without visible courses, or none at all
    wanted = (category_id, query.level, query.language)
    conditions = run_conditions(query, summary.today)
    if query.has_run_filters:
        ids: Sequence[int] = _with_matching_runs(summary, wanted, conditions)
    elif query.category or query.level or query.language:
        ids = summary.filtered_order(wanted)
    else:
        ids = summary.order
    offset = (query.page - 1) * query.per_page
    items = course_cards(list(ids[offset : offset + query.per_page]), conditions, visible_only=True)
    return Page(items=items, page=query.page, per_page=query.per_page, total=len(ids)), facets


def _with_matching_runs(summary: ListingSummary, wanted: _Filtered, conditions: list) -> list[int]:
    """The visible courses with a run that meets ``conditions`` (the run filters), by the
    start of their first such run, then title and id: the order ``search_courses`` gives."""
    places = summary.places
    filtered = wanted != (None, None, None)
    attributes = summary.attributes if filtered else {}
    found = []
    for course_id, next_on in db.session.connection().execute(select(upcoming(conditions))).all():
        place = places.get(course_id)
        if place is not None and (not filtered or _shown(attributes.get(course_id), wanted)):
            found.append((next_on, place, course_id))
    found.sort(key=itemgetter(0, 1))
    return [course_id for _next_on, _place, course_id in found]


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
_VISIBLE = (Course.published.is_(True), Course.archived.is_(False))


def _build(version: int, today: date) -> ListingSummary:
    connection = db.session.connection()
    # Every visible course's id in title order, from ix_courses_title_order alone (no sort, no
    # course row); one column, as each column read costs about as much as the first. The
    # driver's rows are read as they are (plain integers: nothing to convert), 1.5 ms less
    # than through SQLAlchemy's rows at 10,000 courses.
    result = connection.execute(select(Course.id).where(*_VISIBLE).order_by(Course.title, Course.id))
    try:
        by_title = tuple(map(itemgetter(0), result.cursor.fetchall()))
    finally:
        result.close()
    # Upcoming runs per course and city: each course's next start, and the sidebar's cities
    # (those of facet_cities, in the same statement).
    next_start: dict[int, date] = {}
    cities: set[str] = set()
    for course_id, city, starts_on in connection.execute(
        select(Run.course_id, Run.city, func.min(Run.starts_on))
        .where(*run_conditions(CatalogueQuery(), today))
        .group_by(Run.course_id, Run.city)
    ).all():
        if course_id not in next_start or starts_on < next_start[course_id]:
            next_start[course_id] = starts_on
        if city:
            cities.add(city)
    # The default order: courses with an upcoming run by its date, then title and id (the
    # database's collation, not Python's: a stable sort of them in title order), then the
    # rest in title order.
    dated = list(filter(next_start.__contains__, by_title))
    dated.sort(key=next_start.__getitem__)
    order = tuple(dated + list(filterfalse(next_start.__contains__, by_title)))
    return ListingSummary(
        version=version,
        today=today,
        built_at=time.monotonic(),
        order=order,
        by_title=by_title,
        categories=tuple((cat.slug, _detached(cat), n) for cat, n in facet_categories()),
        cities=tuple(sorted(cities)[:MAX_CITIES]),
    )


def _detached(cat: Category) -> Category:
    """A copy of the category that belongs to no session: the summary outlives the request."""
    return Category(
        id=cat.id, slug=cat.slug, name=cat.name, name_zh=cat.name_zh, original_language=cat.original_language
    )
