"""What a course card on the catalogue page shows, as the key of its rendered HTML.

``templates/catalogue/_macros.html:course_card`` is rendered once per distinct
key and process (``training.rendering.fragment``). The key is the card's
content itself, not an "updated at" that every writer would have to bump: the
course's texts, code, level, hours and language, its category's names, the next
run's dates, mode and place, that run's seats left and how many more dates
there are. A card that starts to show something else adds it here;
``tests/catalogue/test_card_cache.py`` changes every column of the course, its
category and its runs and fails when a change shows on the uncached card but
not in the key.

The catalogue's search hero and filter sidebar (``templates/catalogue/_filters.html``)
are kept the same way: ``filters_key`` is the query's every field but the page
number, and what the facets show.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import fields

from .search import CatalogueQuery, CourseCard, Facets

_COURSE = (
    "id",
    "code",
    "level",
    "hours",
    "language",
    "original_language",
    "title",
    "title_translation",
    "summary",
    "summary_translation",
)
_CATEGORY = ("id", "name", "name_zh", "original_language")
_RUN = ("id", "starts_on", "ends_on", "mode", "city", "location", "location_translation", "original_language")


def card_key(card: CourseCard) -> Hashable:
    course = card.course
    category = course.category
    run = card.next_run
    return (
        "course_card",
        tuple(getattr(course, name) for name in _COURSE),
        None if category is None else tuple(getattr(category, name) for name in _CATEGORY),
        None if run is None else tuple(getattr(run, name) for name in _RUN),
        None if run is None else card.seats.get(run.id),
        len(card.upcoming_runs),
    )


_QUERY_FIELDS = tuple(f.name for f in fields(CatalogueQuery) if f.name not in ("page", "strict"))


def filters_key(part: str, query: CatalogueQuery, facets: Facets) -> Hashable:
    return ("catalogue_filters", part, tuple(getattr(query, name) for name in _QUERY_FIELDS), facets.key())
