"""Catalogue search and filters: one service for the HTML catalogue, the API
and the benchmark.

Full-text search runs against a search index with one row per course holding
its code, title, summary, description, category names and trainer names:

* SQLite: an FTS5 virtual table ``course_search`` with the trigram tokenizer,
  so any substring of three or more characters matches, Chinese included
  (Chinese has no spaces, so word splitting would not do).
* PostgreSQL: a table ``course_search`` with lower-cased columns, a ``document``
  column and a pg_trgm GIN index, searched with LIKE (which the trigram index serves).
* Either way, terms of one or two characters (``机器``, ``UA``) alone are looked up
  in the short-term index ``course_search_grams``, which also holds their rank.

Either way the index is kept in sync by database triggers on courses,
categories, runs, run_trainers and users, so every writer (services,
factories, imports, raw SQL) keeps it right. ``install_search_support`` creates
all of it, idempotently; ``create_all`` runs it through a metadata event and
the Alembic migration must call it (see its docstring).

Search semantics are the same on both databases: every term must occur
somewhere in the course (AND), as a case-insensitive substring.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Float,
    Integer,
    Select,
    and_,
    cast,
    event,
    func,
    literal,
    null,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.orm import joinedload

from ..content_i18n import LANGS
from ..errors import ValidationFailed
from ..extensions import db
from ..paging import Page
from ..types import org_today
from .models import Category, Course, Level, Mode, Run, RunStatus
from .seats import public_seats, public_seats_left_sql
from .services import LANGUAGES

MAX_PER_PAGE = 100
MAX_PAGE = 100000
MAX_TERMS = 8
COURSE_TEXTS = ("title", "summary", "description", "outcomes", "prerequisites", "audience")
SORTS = ("relevance", "next", "title", "newest")
TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"", "0", "false", "no", "off"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _clean(value, limit: int) -> str:
    """Text from a query string: control characters (NUL breaks PostgreSQL)
    removed, Unicode normalised (full-width letters become ASCII), trimmed."""
    if not isinstance(value, str):
        return ""
    value = unicodedata.normalize("NFKC", _CONTROL.sub(" ", value))
    return " ".join(value.split())[:limit]


@dataclass
class CatalogueQuery:
    q: str = ""
    category: str | None = None  # category slug
    level: str | None = None
    language: str | None = None
    mode: str | None = None
    city: str | None = None
    month: str | None = None  # YYYY-MM: a run starts in this month
    open_only: bool = False
    sort: str = "next"
    # "zh" / "en": only courses whose texts lack that language (admin course list).
    missing: str | None = None
    page: int = 1
    per_page: int = 20
    # Strict queries (the API) refuse unknown values instead of ignoring them.
    strict: bool = field(default=False, repr=False, compare=False)

    @classmethod
    def from_args(cls, args, *, strict: bool = False, default_per_page: int = 20) -> CatalogueQuery:
        """Read a query string. Unknown or malformed values are ignored on pages
        (strict=False) and refused with a 422 in the API (strict=True)."""

        def bad(field_name, message):
            if strict:
                raise ValidationFailed(message, fields={field_name: "invalid"})

        def integer(name, default, lo, hi):
            raw = _clean(args.get(name), 20)
            if raw == "":
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

        query = cls(q=_clean(args.get("q"), 200), strict=strict)
        query.page = integer("page", 1, 1, MAX_PAGE)
        query.per_page = integer("per_page", default_per_page, 1, MAX_PER_PAGE)
        for name, allowed in (
            ("level", {lv.value for lv in Level}),
            ("mode", {m.value for m in Mode}),
            ("language", set(LANGUAGES)),
            ("sort", set(SORTS)),
        ):
            value = _clean(args.get(name), 32)
            if value and value not in allowed:
                bad(name, f"{name} must be one of {', '.join(sorted(allowed))}.")
                value = ""
            if value:
                setattr(query, name, value)
        if _clean(args.get("sort"), 32) not in SORTS or (query.sort == "relevance" and not query.q):
            # Default order: best match first for a search, else the next start date.
            query.sort = "relevance" if query.q else "next"
        missing = _clean(args.get("missing"), 8)
        if missing and missing not in LANGS:
            bad("missing", "missing must be en or zh.")
        query.missing = missing if missing in LANGS else None
        query.category = _clean(args.get("category"), 64) or None
        query.city = _clean(args.get("city"), 100) or None
        month = _clean(args.get("month"), 7)
        if month:
            if (
                re.fullmatch(r"[0-9]{4}-[0-9]{2}", month)
                and 1 <= int(month[5:]) <= 12
                and 2000 <= int(month[:4]) <= 2999
            ):
                query.month = month
            else:
                bad("month", "month must look like 2026-12.")
        open_only = _clean(args.get("open_only"), 8).lower()
        if open_only not in TRUE_VALUES | FALSE_VALUES:
            bad("open_only", "open_only must be true or false.")
        query.open_only = open_only in TRUE_VALUES
        return query

    @property
    def terms(self) -> list[str]:
        return search_terms(self.q)

    @property
    def month_range(self) -> tuple[date, date] | None:
        if not self.month:
            return None
        first = date(int(self.month[:4]), int(self.month[5:]), 1)
        following = (first + timedelta(days=32)).replace(day=1)
        return first, following - timedelta(days=1)

    @property
    def has_run_filters(self) -> bool:
        return bool(self.mode or self.city or self.month or self.open_only)

    @property
    def is_filtered(self) -> bool:
        return bool(self.q or self.category or self.level or self.language or self.missing or self.has_run_filters)

    def to_args(self, **changes) -> dict:
        """The query string for this query (with changes): what links carry.
        Defaults are left out so URLs stay short."""
        values = {
            "q": self.q,
            "category": self.category,
            "level": self.level,
            "language": self.language,
            "mode": self.mode,
            "city": self.city,
            "month": self.month,
            "open_only": "1" if self.open_only else None,
            "missing": self.missing,
            "sort": self.sort,
            "page": self.page,
            "per_page": self.per_page,
        }
        values.update(changes)
        default_sort = "relevance" if values.get("q") else "next"
        if values.get("sort") == default_sort:
            values["sort"] = None
        if values.get("page") == 1:
            values["page"] = None
        if values.get("per_page") == CatalogueQuery.per_page:
            values["per_page"] = None
        return {k: v for k, v in values.items() if v not in (None, "", False)}


def search_terms(q: str) -> list[str]:
    """The query split into terms (at most MAX_TERMS, each at most 64 chars),
    lower-cased, without duplicates."""
    terms: list[str] = []
    for term in (q or "").split():
        term = stem(term.strip("\"'“”‘’").lower()[:64])
        if term and term not in terms:
            terms.append(term)
    return terms[:MAX_TERMS]


_DOUBLED = re.compile(r"([b-df-hj-np-tv-z])\1$")


def stem(term: str) -> str:
    """An English word cut back to a stem that is a substring of its other forms,
    so that "robots" finds "robot", "programming" finds "programme" and
    "factories" finds "factory" (matching is by substring, so a shorter stem only
    widens the search). Other terms, Chinese included, are left as they are.

    A stemmer such as Snowball is built for indexes that are stemmed too; its
    stems ("safeti", "factori") are not substrings of the words in our
    unstemmed index, so these few suffix rules serve substring search better."""
    if len(term) < 4 or not term.isascii() or not term.isalpha():
        return term
    for suffix, replacement in (
        ("ies", "y"),
        ("sses", "ss"),
        ("xes", "x"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("ing", ""),
        ("ed", ""),
        ("es", "e"),
        ("s", ""),
    ):
        if term.endswith(suffix) and not (suffix == "s" and term.endswith(("ss", "us", "is"))):
            cut = term[: len(term) - len(suffix)] + replacement
            if suffix in ("ing", "ed"):
                if len(cut) < 4:  # speed, string, used: no suffix to cut
                    return term
                cut = _DOUBLED.sub(r"\1", cut)  # programm(ing) -> program, controll(ed) -> control
            return cut if len(cut) >= 3 else term
    return term


@dataclass
class CourseCard:
    course: Course
    upcoming_runs: list = field(default_factory=list)
    seats: dict = field(default_factory=dict)  # run id -> seats left

    @property
    def next_run(self):
        return self.upcoming_runs[0] if self.upcoming_runs else None


# --- the query -----------------------------------------------------------------


def _today() -> date:
    return org_today()


def run_conditions(query: CatalogueQuery, today: date | None = None) -> list:
    """What makes a run count for the catalogue: open, not over (on ``today``, the
    organisation's date unless given), and matching the run filters (mode, city,
    month, open seats)."""
    conditions = [Run.status == RunStatus.open.value, Run.ends_on >= (today or _today())]
    if query.mode:
        conditions.append(Run.mode == query.mode)
    if query.city:
        conditions.append(func.lower(Run.city) == query.city.lower())
    if query.month_range:
        first, last = query.month_range
        conditions.append(Run.starts_on.between(first, last))
    if query.open_only:
        conditions.append(public_seats_left_sql() > 0)
    return conditions


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_SQLITE_ALL = "(code || ' ' || title || ' ' || summary || ' ' || description || ' ' || category || ' ' || trainers)"


def _sqlite_matches(terms: list[str]):
    """Matching course ids with a rank (lower is better) from the FTS5 index."""
    long_terms = [t for t in terms if len(t) >= 3]
    short_terms = [t for t in terms if len(t) < 3]
    if not long_terms:
        # One or two characters cannot use the trigram index: they are looked up in
        # the short-term index (code, title, summary, category, trainers), which also
        # holds the rank (the best column the gram occurs in, of the first term).
        joins = "".join(
            f" JOIN course_search_grams g{i} ON g{i}.course_id = g0.course_id AND g{i}.gram = :g{i}"
            for i in range(1, len(short_terms))
        )
        sql = f"SELECT g0.course_id AS course_id, -g0.weight AS rank FROM course_search_grams g0{joins} WHERE g0.gram = :g0"
        grams = {f"g{i}": term for i, term in enumerate(short_terms)}
        return (
            text(sql)
            .bindparams(**grams)
            .columns(course_id=Integer, rank=Float)
            .cte("matches")
            .prefix_with("MATERIALIZED")
        )
    where, params = ["course_search MATCH :fts"], {}
    params["fts"] = " AND ".join('"' + t.replace('"', '""') + '"' for t in long_terms)
    # Weights per column: code, title, summary, description, category, trainers.
    rank = "bm25(course_search, 10.0, 6.0, 3.0, 1.0, 3.0, 3.0)"
    for i, term in enumerate(short_terms):
        # Beside a longer term, whose match has narrowed the rows already, a short
        # term is checked with LIKE, descriptions included.
        params[f"s{i}"] = f"%{_like_escape(term)}%"
        where.append(f"{_SQLITE_ALL} LIKE :s{i} ESCAPE '\\'")
    sql = f"SELECT rowid AS course_id, {rank} AS rank FROM course_search WHERE {' AND '.join(where)}"
    # MATERIALIZED: run the full-text match once. Left to itself, SQLite may
    # loop over courses and repeat the MATCH for each one (seconds, not ms).
    return (
        text(sql).bindparams(**params).columns(course_id=Integer, rank=Float).cte("matches").prefix_with("MATERIALIZED")
    )


def _postgresql_matches(terms: list[str]):
    """Matching course ids with a rank (lower is better): terms of three or more
    characters through the trigram index (``course_search_ids``), short terms alone
    through the short-term index. The rank reads the index's lower-cased columns
    (lower() per row and column was most of a search's time)."""
    scores, params = [], {}
    has_long = any(len(t) >= 3 for t in terms)
    for i, term in enumerate(terms):
        name = f"p{i}"
        params[name] = f"%{_like_escape(term)}%"
        scores.append(
            f"(CASE WHEN code LIKE lower(:{name}) THEN 10 ELSE 0 END"
            f" + CASE WHEN title LIKE lower(:{name}) THEN 6 ELSE 0 END"
            f" + CASE WHEN summary LIKE lower(:{name}) THEN 3 ELSE 0 END"
            f" + CASE WHEN category LIKE lower(:{name}) THEN 3 ELSE 0 END"
            f" + CASE WHEN trainers LIKE lower(:{name}) THEN 3 ELSE 0 END + 1)"
        )
    if not has_long:
        # As on SQLite: short terms alone use the short-term index (no descriptions),
        # which holds each gram's score too (the same sum as below, per term).
        joins = "".join(
            f" JOIN course_search_grams g{i} ON g{i}.course_id = g0.course_id AND g{i}.gram = lower(:g{i})"
            for i in range(1, len(terms))
        )
        total = " + ".join(f"g{i}.weight" for i in range(len(terms)))
        sql = f"SELECT g0.course_id, -({total})::float AS rank FROM course_search_grams g0{joins} WHERE g0.gram = lower(:g0)"
        grams = {f"g{i}": term for i, term in enumerate(terms)}
        return text(sql).bindparams(**grams).columns(course_id=Integer, rank=Float).subquery("matches")
    patterns = ", ".join(f"lower(:p{i})" for i in range(len(terms)))
    where = [f"course_id IN (SELECT course_search_ids(ARRAY[{patterns}]::text[]))"]
    sql = f"SELECT course_id, -({' + '.join(scores)})::float AS rank FROM course_search WHERE {' AND '.join(where)}"
    return text(sql).bindparams(**params).columns(course_id=Integer, rank=Float).subquery("matches")


def _matches(terms: list[str]):
    if db.session.get_bind().dialect.name == "postgresql":
        return _postgresql_matches(terms)
    return _sqlite_matches(terms)


def missing_language_sql(lang: str):
    """Courses with a text that has no ``lang`` version while the other language has one
    (training.content_i18n: the column holds the original, *_translation the other)."""
    conditions = []
    for name in COURSE_TEXTS:
        original, translation = getattr(Course, name), getattr(Course, f"{name}_translation")
        has_original, has_translation = func.coalesce(original, "") != "", func.coalesce(translation, "") != ""
        conditions.append(and_(Course.original_language != lang, has_original, ~has_translation))
        conditions.append(and_(Course.original_language == lang, ~has_original, has_translation))
    return or_(*conditions)


def search_courses(query: CatalogueQuery, *, include_unpublished: bool = False) -> Page:
    """One page of course cards for the query; a fixed number of SQL queries
    whatever the page size (count, page, runs, seats)."""
    if (
        query.strict
        and query.category
        and db.session.scalar(select(Category.id).where(Category.slug == query.category)) is None
    ):
        raise ValidationFailed(f"Unknown category {query.category!r}.", fields={"category": "unknown"})

    stmt = select(Course)
    if not include_unpublished:
        stmt = stmt.where(Course.published.is_(True), Course.archived.is_(False))
    matches = None
    terms = query.terms
    if terms:
        matches = _matches(terms)
        stmt = stmt.join(matches, matches.c.course_id == Course.id)
    if query.category:
        stmt = stmt.where(
            Course.category_id == select(Category.id).where(Category.slug == query.category).scalar_subquery()
        )
    if query.level:
        stmt = stmt.where(Course.level == query.level)
    if query.language:
        stmt = stmt.where(Course.language == query.language)
    if query.missing:
        stmt = stmt.where(missing_language_sql(query.missing))

    conditions = run_conditions(query)
    offset, limit = (query.page - 1) * query.per_page, query.per_page
    if query.sort == "next" and not query.has_run_filters:
        total, ids = _page_by_next_start(stmt, conditions, offset, limit)
    else:
        total, ids = _page(stmt, query, matches, conditions, offset, limit)
    return Page(items=course_cards(ids, conditions), page=query.page, per_page=query.per_page, total=total)


def course_cards(ids: list[int], run_conditions: list, *, visible_only: bool = False) -> list[CourseCard]:
    """The cards of these courses, in this order: each course with its category,
    its runs that meet ``run_conditions`` and their seats left, in one statement
    (a course's row comes once per run; a page's courses have a run or two each).
    ``visible_only`` leaves out a course that is no longer published (ids from a kept summary)."""
    if not ids:
        return []
    stmt = (
        select(Course, Run, public_seats_left_sql())
        .outerjoin(Run, and_(Run.course_id == Course.id, *run_conditions))
        .where(Course.id.in_(ids))
        .options(joinedload(Course.category))
        .order_by(Run.starts_on, Run.id)
    )
    if visible_only:
        stmt = stmt.where(Course.published.is_(True), Course.archived.is_(False))
    cards: dict[int, CourseCard] = {}
    for course, run, left in db.session.execute(stmt):
        card = cards.get(course.id)
        if card is None:
            card = cards[course.id] = CourseCard(course)
        if run is not None:
            card.upcoming_runs.append(run)
            card.seats[run.id] = public_seats(left)
    return [cards[i] for i in ids if i in cards]


def _page(stmt, query: CatalogueQuery, matches, run_conditions, offset: int, limit: int) -> tuple[int, list[int]]:
    """Count, then sort and page over narrow rows (ids): sorting whole course
    rows, descriptions included, is what makes a catalogue of thousands slow.
    (A count(*) OVER () window measured slower.) A search counts and pages in
    one statement (``_count_and_page``): its matches are found once, not twice."""
    next_start = None
    counted = stmt
    if query.has_run_filters or query.sort == "next":
        soonest = upcoming(run_conditions)
        if query.has_run_filters:
            stmt = counted = stmt.join(soonest, soonest.c.course_id == Course.id)
        else:
            stmt = stmt.outerjoin(soonest, soonest.c.course_id == Course.id)
        next_start = soonest.c.next_on
    order: list[tuple[Any, bool]]  # (key, descending)
    if query.sort == "relevance" and matches is not None:
        order = [(matches.c.rank, False), (Course.title, False)]
    elif query.sort == "title":
        order = [(Course.title, False)]
    elif query.sort == "newest":
        order = [(Course.created_at, True)]
    elif next_start is not None:
        order = [(next_start.is_(None), False), (next_start, False), (Course.title, False)]
    else:
        order = [(Course.title, False)]
    if matches is not None or query.has_run_filters:
        # A search or run filters: a few hundred courses at most, found once for both.
        return _count_and_page(stmt, order, offset, limit)
    total = db.session.scalar(select(func.count()).select_from(counted.with_only_columns(Course.id).subquery())) or 0
    if not total or offset >= total:
        return total, []
    keys = [key.desc() if descending else key for key, descending in order]
    rows = db.session.execute(
        stmt.with_only_columns(Course.id).order_by(*keys, Course.id).limit(limit).offset(offset)
    ).all()
    return total, [row.id for row in rows]


def _count_and_page(stmt, order: list[tuple[Any, bool]], offset: int, limit: int) -> tuple[int, list[int]]:
    """The total and one page of a search in one statement.

    The matching courses (id and sort keys only) are materialised once; the
    count and the page's slice are both read from them. Counting and paging in
    two statements found every match twice (a trigram or gram look-up plus a
    rank per matching course, each time), and left PostgreSQL free to plan the
    paging query as "rank every course, then join" instead of "find the
    matches, then rank those". The count is exact: the tests and the pager
    rely on it. One row comes back even for an empty page (the total, no id)."""
    found = (
        stmt.with_only_columns(Course.id.label("id"), *[key.label(f"k{i}") for i, (key, _desc) in enumerate(order)])
        .cte("found")
        .prefix_with("MATERIALIZED")
    )
    keys = [found.c[f"k{i}"] for i in range(len(order))]
    page = (
        select(found.c.id, *keys)
        .order_by(*[k.desc() if d else k for k, (_key, d) in zip(keys, order, strict=True)], found.c.id)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    counted = select(func.count().label("total")).select_from(found).subquery("counted")
    page_keys = [page.c[f"k{i}"] for i in range(len(order))]
    rows = db.session.execute(
        select(counted.c.total, page.c.id)
        .select_from(counted.outerjoin(page, true()))
        .order_by(*[k.desc() if d else k for k, (_key, d) in zip(page_keys, order, strict=True)], page.c.id)
    ).all()
    total = rows[0].total if rows else 0
    return total or 0, [row.id for row in rows if row.id is not None]


def upcoming(run_conditions):
    return (
        select(Run.course_id.label("course_id"), func.min(Run.starts_on).label("next_on"))
        .where(*run_conditions)
        .group_by(Run.course_id)
        .subquery("upcoming")
    )


def _page_by_next_start(stmt, run_conditions, offset: int, limit: int) -> tuple[int, list[int]]:
    """The default order (courses with dates first, by their next start, then
    the rest by title) in two queries whatever the catalogue's size.

    Sorting every course by an outer-joined "next start" made the first page
    cost a sort of the whole catalogue. Instead the courses *with* upcoming
    runs (a few hundred) are sorted by date, the courses without are read in
    title order from the listing index, and one query takes the page's slice
    of each: both counts first, then both slices in one UNION ALL."""
    soonest = upcoming(run_conditions)
    dated = stmt.join(soonest, soonest.c.course_id == Course.id)
    undated = stmt.where(~select(Run.id).where(Run.course_id == Course.id, *run_conditions).exists())
    total, with_dates = db.session.execute(
        select(
            select(func.count()).select_from(stmt.with_only_columns(Course.id).subquery()).scalar_subquery(),
            select(func.count()).select_from(dated.with_only_columns(Course.id).subquery()).scalar_subquery(),
        )
    ).one()
    total, with_dates = total or 0, with_dates or 0
    if not total or offset >= total:
        return total, []
    dated_offset, dated_limit = min(offset, with_dates), max(0, min(limit, with_dates - offset))
    undated_offset, undated_limit = max(0, offset - with_dates), limit - dated_limit
    parts: list[Select[Any]] = []
    if dated_limit:
        parts.append(
            dated.with_only_columns(
                Course.id.label("id"),
                literal(0).label("part"),
                soonest.c.next_on.label("next_on"),
                Course.title.label("title"),
            )
            .order_by(soonest.c.next_on, Course.title, Course.id)
            .limit(dated_limit)
            .offset(dated_offset)
            .subquery()
            .select()
        )
    if undated_limit:
        parts.append(
            undated.with_only_columns(
                Course.id.label("id"),
                literal(1).label("part"),
                cast(null(), Date).label("next_on"),
                Course.title.label("title"),
            )
            .order_by(Course.title, Course.id)
            .limit(undated_limit)
            .offset(undated_offset)
            .subquery()
            .select()
        )
    both = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("page")
    # The outer sort repeats each part's order over at most two pages of rows.
    rows = db.session.execute(select(both.c.id).order_by(both.c.part, both.c.next_on, both.c.title, both.c.id)).all()
    return total, [row.id for row in rows]


@dataclass
class Facets:
    categories: list  # (slug, Category, course count)
    cities: list[str]
    months: list[tuple[str, date]]  # (YYYY-MM, its first day), the coming months

    def category(self, slug: str | None) -> Category | None:
        return next((cat for s, cat, _n in self.categories if s == slug), None)

    def key(self) -> tuple:
        """Everything the facets show, as a key for their rendered HTML."""
        return (
            tuple((s, cat.id, cat.name, cat.name_zh, cat.original_language, n) for s, cat, n in self.categories),
            tuple(self.cities),
            tuple(m for m, _first in self.months),
        )


def catalogue_facets(*, include_unpublished: bool = False) -> Facets:
    """What the filter sidebar offers: categories with their course counts,
    the cities of upcoming runs, and the next twelve months (two queries)."""
    today = _today()
    return Facets(
        categories=[(cat.slug, cat, n) for cat, n in facet_categories(include_unpublished=include_unpublished)],
        cities=facet_cities(today),
        months=facet_months(today),
    )


def facet_categories(*, include_unpublished: bool = False) -> list[tuple[Category, int]]:
    """The categories that have courses (visible ones unless ``include_unpublished``),
    with how many, by name (one query)."""
    visible = (
        [Course.archived.is_(False)]
        if include_unpublished
        else [Course.published.is_(True), Course.archived.is_(False)]
    )
    # Counted per category_id first, then joined to the categories: the count reads
    # ix_courses_listing (published, archived, category_id, ...) in order, without
    # visiting the course rows, instead of hashing every course against its category.
    counts = (
        select(Course.category_id.label("category_id"), func.count().label("n"))
        .where(*visible)
        .group_by(Course.category_id)
        .subquery("counts")
    )
    rows = db.session.execute(
        select(Category, counts.c.n).join(counts, counts.c.category_id == Category.id).order_by(Category.name)
    ).all()
    return [(cat, n) for cat, n in rows]


MAX_CITIES = 200  # in the filter sidebar


def facet_cities(today: date) -> list[str]:
    """The cities of open runs that are not over, sorted (the first MAX_CITIES);
    training.catalogue.listing reads them with each course's next start."""
    return sorted(
        {
            c
            for c in db.session.scalars(
                select(Run.city)
                .where(Run.status == RunStatus.open.value, Run.ends_on >= today, Run.city != "")
                .distinct()
            )
            if c
        }
    )[:MAX_CITIES]


def facet_months(today: date) -> list[tuple[str, date]]:
    """The next twelve months as (YYYY-MM, first day), this one first."""
    months = []
    year, month = today.year, today.month
    for _ in range(12):
        months.append((f"{year:04d}-{month:02d}", date(year, month, 1)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


# --- the search index: DDL, triggers and rebuild ---------------------------------

# Both languages of a course's title, summary and description are indexed
# (training.content_i18n: the column holds the original, *_translation the other).
# Databases migrated only up to before the bilingual columns get the older source:
# the early migrations call install_search_support too.
_BILINGUAL = {
    "title": "(c.title || ' ' || coalesce(c.title_translation, ''))",
    "summary": "(coalesce(c.summary, '') || ' ' || coalesce(c.summary_translation, ''))",
    "description": "(coalesce(c.description, '') || ' ' || coalesce(c.description_translation, ''))",
}
_SINGLE = {"title": "c.title", "summary": "coalesce(c.summary, '')", "description": "coalesce(c.description, '')"}
_TRANSLATED_COLUMNS = ", title_translation, summary_translation, description_translation"


def _bilingual(connection) -> bool:
    from sqlalchemy import inspect

    return "title_translation" in {c["name"] for c in inspect(connection).get_columns("courses")}


def _sqlite_source(bilingual: bool) -> str:
    cols = _BILINGUAL if bilingual else _SINGLE
    return f"""
CREATE VIEW IF NOT EXISTS course_search_source AS
SELECT c.id AS course_id, c.code AS code, {cols["title"]} AS title,
       {cols["summary"]} AS summary, {cols["description"]} AS description,
       coalesce((SELECT cat.name || ' ' || coalesce(cat.name_zh, '') || ' ' || cat.slug
                 FROM categories cat WHERE cat.id = c.category_id), '') AS category,
       coalesce((SELECT group_concat(DISTINCT u.display_name)
                 FROM run_trainers rt JOIN runs r ON r.id = rt.run_id JOIN users u ON u.id = rt.user_id
                 WHERE r.course_id = c.id), '') AS trainers
FROM courses c
"""


_SQLITE_COLUMNS = "code, title, summary, description, category, trainers"


# The short-term index: every character and every pair of adjacent characters
# (no blanks) of a course's code, title, summary, category and trainer names,
# lower-cased. A one- or two-character term (机, 机器, UA) is one primary-key
# look-up there instead of a LIKE scan over every course. SQLite triggers
# cannot loop, so they cut the grams against a table of positions 1..N
# (N = GRAM_POSITIONS; text beyond it is not in the short-term index).
GRAM_POSITIONS = 3000
# Each gram's weight ranks a short term: 4 if it occurs in the code, 3 in the title,
# 2 in the summary, category or trainers (the best of them). PostgreSQL keeps its own
# score there (see course_search_refresh).
_SQLITE_GRAM_FIELDS = (
    ("lower(code)", 4),
    ("lower(title)", 3),
    ("lower(summary || ' ' || category || ' ' || trainers)", 2),
)


def _sqlite_grams(course_ids_sql: str) -> str:
    fields = " UNION ALL ".join(
        f"SELECT course_id, {expression} AS t, {weight} AS w FROM course_search_source "
        f"WHERE course_id IN ({course_ids_sql})"
        for expression, weight in _SQLITE_GRAM_FIELDS
    )
    return (
        f"DELETE FROM course_search_grams WHERE course_id IN ({course_ids_sql});\n"
        f"  INSERT OR IGNORE INTO course_search_grams(gram, course_id, weight) "
        f"SELECT gram, course_id, max(w) FROM ("
        f"SELECT substr(f.t, p.i, 2) AS gram, f.course_id AS course_id, f.w AS w FROM ({fields}) f "
        f"JOIN course_search_positions p ON p.i < length(f.t) WHERE instr(substr(f.t, p.i, 2), ' ') = 0 "
        f"UNION ALL SELECT substr(f.t, p.i, 1), f.course_id, f.w FROM ({fields}) f "
        f"JOIN course_search_positions p ON p.i <= length(f.t) WHERE substr(f.t, p.i, 1) <> ' '"
        f") GROUP BY gram, course_id;"
    )


def _sqlite_refresh(course_ids_sql: str) -> str:
    return (
        f"DELETE FROM course_search WHERE rowid IN ({course_ids_sql});\n"
        f"  INSERT INTO course_search(rowid, {_SQLITE_COLUMNS}) SELECT course_id, {_SQLITE_COLUMNS} "
        f"FROM course_search_source WHERE course_id IN ({course_ids_sql});\n  " + _sqlite_grams(course_ids_sql)
    )


def _sqlite_triggers(bilingual: bool) -> dict:
    translated = _TRANSLATED_COLUMNS if bilingual else ""
    return {
        **_SQLITE_TRIGGERS,
        "course_search_courses_au": (
            f"AFTER UPDATE OF code, title, summary, description{translated}, category_id ON courses",
            _sqlite_refresh("SELECT OLD.id UNION SELECT NEW.id"),
        ),
    }


_SQLITE_TRIGGERS = {
    "course_search_courses_ai": ("AFTER INSERT ON courses", _sqlite_refresh("SELECT NEW.id")),
    "course_search_courses_au": (
        "AFTER UPDATE OF code, title, summary, description, category_id ON courses",
        _sqlite_refresh("SELECT OLD.id UNION SELECT NEW.id"),
    ),
    "course_search_courses_ad": (
        "AFTER DELETE ON courses",
        "DELETE FROM course_search WHERE rowid = OLD.id;\n  DELETE FROM course_search_grams WHERE course_id = OLD.id;",
    ),
    "course_search_categories_au": (
        "AFTER UPDATE OF name, name_zh, slug ON categories",
        _sqlite_refresh("SELECT id FROM courses WHERE category_id = NEW.id"),
    ),
    "course_search_run_trainers_ai": (
        "AFTER INSERT ON run_trainers",
        _sqlite_refresh("SELECT course_id FROM runs WHERE id = NEW.run_id"),
    ),
    "course_search_run_trainers_ad": (
        "AFTER DELETE ON run_trainers",
        _sqlite_refresh("SELECT course_id FROM runs WHERE id = OLD.run_id"),
    ),
    "course_search_runs_au": (
        "AFTER UPDATE OF course_id ON runs",
        _sqlite_refresh("SELECT OLD.course_id UNION SELECT NEW.course_id"),
    ),
    "course_search_runs_ad": ("AFTER DELETE ON runs", _sqlite_refresh("SELECT OLD.course_id")),
    "course_search_users_au": (
        "AFTER UPDATE OF display_name ON users",
        _sqlite_refresh(
            "SELECT r.course_id FROM runs r JOIN run_trainers rt ON rt.run_id = r.id WHERE rt.user_id = NEW.id"
        ),
    ),
}


def _install_sqlite(connection) -> None:
    run = connection.exec_driver_sql
    run(f"CREATE VIRTUAL TABLE IF NOT EXISTS course_search USING fts5({_SQLITE_COLUMNS}, tokenize = 'trigram')")
    _drop_grams_without_weight(connection)
    run(
        "CREATE TABLE IF NOT EXISTS course_search_grams (gram TEXT NOT NULL, course_id INTEGER NOT NULL, "
        "weight INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (gram, course_id)) WITHOUT ROWID"
    )
    run("CREATE TABLE IF NOT EXISTS course_search_positions (i INTEGER PRIMARY KEY)")
    run(
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {GRAM_POSITIONS}) "
        "INSERT OR IGNORE INTO course_search_positions(i) SELECT i FROM n"
    )
    run("DROP VIEW IF EXISTS course_search_source")
    bilingual = _bilingual(connection)
    run(_sqlite_source(bilingual))
    for name, (when, body) in _sqlite_triggers(bilingual).items():
        run(f"DROP TRIGGER IF EXISTS {name}")
        run(f"CREATE TRIGGER {name} {when} BEGIN\n  {body}\nEND")
    _rebuild_sqlite(connection)


def _rebuild_sqlite(connection) -> None:
    connection.exec_driver_sql("DELETE FROM course_search")
    connection.exec_driver_sql(
        f"INSERT INTO course_search(rowid, {_SQLITE_COLUMNS}) "
        f"SELECT course_id, {_SQLITE_COLUMNS} FROM course_search_source"
    )
    for statement in _sqlite_grams("SELECT id FROM courses").split(";\n"):
        connection.exec_driver_sql(statement.strip().rstrip(";"))


_PG_STATEMENTS = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """CREATE TABLE IF NOT EXISTS course_search (
        course_id integer PRIMARY KEY REFERENCES courses(id) ON DELETE CASCADE,
        code text NOT NULL DEFAULT '', title text NOT NULL DEFAULT '', summary text NOT NULL DEFAULT '',
        description text NOT NULL DEFAULT '', category text NOT NULL DEFAULT '',
        trainers text NOT NULL DEFAULT '', document text NOT NULL DEFAULT '')""",
    "CREATE INDEX IF NOT EXISTS ix_course_search_document_trgm ON course_search USING gin (document gin_trgm_ops)",
    """CREATE TABLE IF NOT EXISTS course_search_grams (
        gram text NOT NULL, course_id integer NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
        weight integer NOT NULL DEFAULT 0, PRIMARY KEY (gram, course_id) INCLUDE (weight))""",
    """CREATE OR REPLACE VIEW course_search_source AS
    SELECT c.id AS course_id, c.code::text AS code, {title}::text AS title,
           {summary}::text AS summary, {description}::text AS description,
           coalesce((SELECT concat_ws(' ', cat.name, cat.name_zh, cat.slug)
                     FROM categories cat WHERE cat.id = c.category_id), '')::text AS category,
           coalesce((SELECT string_agg(DISTINCT u.display_name, ', ')
                     FROM run_trainers rt JOIN runs r ON r.id = rt.run_id JOIN users u ON u.id = rt.user_id
                     WHERE r.course_id = c.id), '')::text AS trainers
    FROM courses c""",
    """CREATE OR REPLACE FUNCTION course_search_refresh(ids integer[]) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO course_search (course_id, code, title, summary, description, category, trainers, document)
      SELECT s.course_id, lower(s.code), lower(s.title), lower(s.summary), lower(s.description),
             lower(s.category), lower(s.trainers),
             lower(concat_ws(' ', s.code, s.title, s.summary, s.description, s.category, s.trainers))
      FROM course_search_source s WHERE s.course_id = ANY(ids)
      ON CONFLICT (course_id) DO UPDATE SET
        code = EXCLUDED.code, title = EXCLUDED.title, summary = EXCLUDED.summary,
        description = EXCLUDED.description, category = EXCLUDED.category,
        trainers = EXCLUDED.trainers, document = EXCLUDED.document;
      DELETE FROM course_search_grams WHERE course_id = ANY(ids);
      -- A gram's weight is a short term's score: 10 for the code, 6 the title, 3 each for
      -- the summary, category and trainers it occurs in, plus 1.
      INSERT INTO course_search_grams (gram, course_id, weight)
      SELECT x.gram, x.course_id, sum(x.w) + 1
      FROM (SELECT DISTINCT g.gram, f.course_id, f.field, f.w
            FROM (SELECT s.course_id, v.field, v.t, v.w FROM course_search s
                  CROSS JOIN LATERAL (VALUES (1, s.code, 10), (2, s.title, 6), (3, s.summary, 3),
                                             (4, s.category, 3), (5, s.trainers, 3)) AS v(field, t, w)
                  WHERE s.course_id = ANY(ids)) f
            CROSS JOIN LATERAL (
              SELECT substr(f.t, i, 2) AS gram FROM generate_series(1, length(f.t) - 1) AS i
              UNION SELECT substr(f.t, i, 1) FROM generate_series(1, length(f.t)) AS i) g
            WHERE position(' ' in g.gram) = 0 AND g.gram <> '') x
      GROUP BY x.gram, x.course_id;
    END $$""",
    # The courses whose document contains every pattern, through the trigram index. The
    # planner prices a LIKE over a whole description like one over a word and prefers
    # reading every document (measured 15x slower at 10,000 courses); inside this
    # function it may not.
    """CREATE OR REPLACE FUNCTION course_search_ids(patterns text[]) RETURNS SETOF integer
    LANGUAGE plpgsql STABLE SET enable_seqscan = off AS $$
    BEGIN
      RETURN QUERY EXECUTE 'SELECT course_id FROM course_search WHERE '
        || (SELECT string_agg('document LIKE $1[' || i || ']', ' AND ') FROM generate_subscripts(patterns, 1) AS g(i))
        USING patterns;
    END $$""",
    """CREATE OR REPLACE FUNCTION course_search_on_course() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM course_search_refresh(ARRAY[NEW.id]); RETURN NULL; END $$""",
    """CREATE OR REPLACE FUNCTION course_search_on_category() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM course_search_refresh(ARRAY(SELECT id FROM courses WHERE category_id = NEW.id));
    RETURN NULL; END $$""",
    """CREATE OR REPLACE FUNCTION course_search_on_run_trainer() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        PERFORM course_search_refresh(ARRAY(SELECT course_id FROM runs WHERE id = OLD.run_id));
      ELSE
        PERFORM course_search_refresh(ARRAY(SELECT course_id FROM runs WHERE id = NEW.run_id));
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION course_search_on_run() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        PERFORM course_search_refresh(ARRAY[OLD.course_id]);
      ELSE
        PERFORM course_search_refresh(ARRAY[OLD.course_id, NEW.course_id]);
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION course_search_on_user() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM course_search_refresh(ARRAY(
      SELECT DISTINCT r.course_id FROM runs r JOIN run_trainers rt ON rt.run_id = r.id WHERE rt.user_id = NEW.id));
    RETURN NULL; END $$""",
]

_PG_TRIGGERS = {
    "course_search_courses": (
        "AFTER INSERT OR UPDATE OF code, title, summary, description{translated}, category_id",
        "courses",
        "course_search_on_course",
    ),
    "course_search_categories": ("AFTER UPDATE OF name, name_zh, slug", "categories", "course_search_on_category"),
    "course_search_run_trainers": ("AFTER INSERT OR DELETE", "run_trainers", "course_search_on_run_trainer"),
    "course_search_runs": ("AFTER UPDATE OF course_id OR DELETE", "runs", "course_search_on_run"),
    "course_search_users": ("AFTER UPDATE OF display_name", "users", "course_search_on_user"),
}


def _drop_grams_without_weight(connection) -> None:
    """The short-term index before it kept weights: dropped, to be created and filled again."""
    from sqlalchemy import inspect

    inspector = inspect(connection)
    if inspector.has_table("course_search_grams") and "weight" not in {
        c["name"] for c in inspector.get_columns("course_search_grams")
    }:
        connection.exec_driver_sql("DROP TABLE course_search_grams")


def _install_postgresql(connection) -> None:
    _drop_grams_without_weight(connection)
    bilingual = _bilingual(connection)
    cols = _BILINGUAL if bilingual else _SINGLE
    for statement in _PG_STATEMENTS:
        if "course_search_source AS" in statement:
            statement = statement.format(**cols)
        connection.exec_driver_sql(statement)
    for name, (when, table, function) in _PG_TRIGGERS.items():
        when = when.replace("{translated}", _TRANSLATED_COLUMNS if bilingual else "")
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        connection.exec_driver_sql(
            f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()"
        )
    _rebuild_postgresql(connection)


def _rebuild_postgresql(connection) -> None:
    connection.exec_driver_sql("DELETE FROM course_search_grams")
    connection.exec_driver_sql("DELETE FROM course_search")
    connection.exec_driver_sql("SELECT course_search_refresh(ARRAY(SELECT id FROM courses))")


def install_search_support(connection) -> None:
    """Create the search index, its triggers and fill it from the courses.

    Idempotent and dialect-aware (SQLite FTS5, PostgreSQL pg_trgm); needs the
    courses, categories, runs, run_trainers and users tables to exist. The
    Alembic migration calls it at the end of ``upgrade()``::

        from training.catalogue.search import install_search_support
        install_search_support(op.get_bind())

    and again after any later migration that recreates one of those tables
    (SQLite batch mode drops a table's triggers with it).
    """
    name = connection.dialect.name
    if name == "sqlite":
        _install_sqlite(connection)
    elif name == "postgresql":
        _install_postgresql(connection)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"no search support for {name}")


def uninstall_search_support(connection) -> None:
    """Drop what install_search_support created (Alembic ``downgrade()``)."""
    if connection.dialect.name == "sqlite":
        for trigger in _SQLITE_TRIGGERS:
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
        connection.exec_driver_sql("DROP VIEW IF EXISTS course_search_source")
        connection.exec_driver_sql("DROP TABLE IF EXISTS course_search")
        connection.exec_driver_sql("DROP TABLE IF EXISTS course_search_grams")
        connection.exec_driver_sql("DROP TABLE IF EXISTS course_search_positions")
    elif connection.dialect.name == "postgresql":
        for trigger, (_when, table, _function) in _PG_TRIGGERS.items():
            if connection.exec_driver_sql(f"SELECT to_regclass('{table}')").scalar() is not None:
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        connection.exec_driver_sql("DROP TABLE IF EXISTS course_search_grams")
        connection.exec_driver_sql("DROP TABLE IF EXISTS course_search")
        connection.exec_driver_sql("DROP VIEW IF EXISTS course_search_source")
        for function in (
            "course_search_on_course",
            "course_search_on_category",
            "course_search_on_run_trainer",
            "course_search_on_run",
            "course_search_on_user",
        ):
            connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {function}()")
        connection.exec_driver_sql("DROP FUNCTION IF EXISTS course_search_refresh(integer[])")
        connection.exec_driver_sql("DROP FUNCTION IF EXISTS course_search_ids(text[])")


def rebuild_search_index() -> None:
    """Refill the index from the courses (after a bulk load with triggers off,
    or to repair it); commits."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        _rebuild_postgresql(connection)
    else:
        _rebuild_sqlite(connection)
    db.session.commit()


def _search_tables_needed(tables) -> bool:
    names = {t.name for t in tables or ()}
    return not names or "courses" in names


@event.listens_for(db.Model.metadata, "after_create")
def _after_create(target, connection, **kw):
    # create_all (tests, scratch databases) installs the index with the tables.
    if _search_tables_needed(kw.get("tables")) and connection.dialect.name in ("sqlite", "postgresql"):
        install_search_support(connection)


@event.listens_for(db.Model.metadata, "before_drop")
def _before_drop(target, connection, **kw):
    # The PostgreSQL index references courses: drop it first so drop_all works.
    if connection.dialect.name in ("sqlite", "postgresql"):
        uninstall_search_support(connection)
