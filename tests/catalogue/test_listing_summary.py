"""The catalogue's listing summary (training/catalogue/listing.py) and the cached hero and
sidebar (templates/catalogue/_filters.html): a page built from them is exactly the page
the queries build, and a change shows on the next page, whichever server made it."""

from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
from werkzeug.datastructures import MultiDict

from tests.conftest import login
from tests.toolkit import another_server, count_queries, fragments_uncached
from training.catalogue import listing, search
from training.catalogue.models import Category, Course
from training.catalogue.search import CatalogueQuery, catalogue_facets, search_courses
from training.extensions import db


@pytest.fixture
def catalogue(factory):
    robots = Category(slug="robots", name="Robotics", name_zh="机器人")
    safety = Category(slug="safety", name="Safety", name_zh="功能安全")
    empty = Category(slug="empty", name="Nothing here")
    db.session.add_all([robots, safety, empty])
    db.session.commit()
    now = datetime.now(UTC)
    courses = []
    for i in range(9):
        course = factory.course(
            code=f"LS-{i}",
            title=f"{'BAC'[i % 3]} course {i}",
            category=[robots, safety][i % 2],
            level=["beginner", "intermediate", "advanced"][i % 3],
            language=["en", "zh"][i % 2],
        )
        courses.append(course)
        if i % 3 != 2:  # a third have no upcoming run: listed after the dated ones, by title
            factory.run(course, start=now + timedelta(days=30 - 2 * i), city=["Suzhou", "苏州"][i % 2])
    factory.course(code="LS-HIDDEN", title="A hidden course", category=robots, published=False)
    factory.course(code="LS-OLD", title="An archived course", category=robots, archived=True)
    return courses


QUERIES = [
    "",
    "page=2&per_page=4",
    "page=3&per_page=4",
    "page=9",
    "category=robots",
    "category=safety&per_page=2&page=2",
    "category=empty",
    "category=no-such-slug",
    "level=advanced",
    "language=zh&level=beginner",
]


def _ids(page):
    return [card.course.id for card in page.items], page.total


@pytest.mark.parametrize("args", QUERIES)
def test_a_summarised_page_is_the_page_the_queries_build(app, catalogue, args):
    query = CatalogueQuery.from_args(MultiDict(parse_qsl(args)), default_per_page=18)
    assert listing.summarisable(query)
    with app.test_request_context(f"/?{args}"):
        page, facets = listing.catalogue_page(query)
        expected = search_courses(query)
        assert _ids(page) == _ids(expected)
        assert [[r.id for r in card.upcoming_runs] for card in page.items] == [
            [r.id for r in card.upcoming_runs] for card in expected.items
        ]
        assert [card.seats for card in page.items] == [card.seats for card in expected.items]
        fresh = catalogue_facets()
        assert facets.key() == fresh.key()


def test_a_change_shows_on_the_next_page(client, factory, catalogue):
    assert "A brand-new course" not in client.get("/").get_data(as_text=True)
    factory.course(code="LS-NEW", title="A brand-new course", category=catalogue[0].category)
    page = client.get("/?category=robots&per_page=50").get_data(as_text=True)
    assert "A brand-new course" in page
    catalogue[1].published = False
    db.session.commit()
    assert catalogue[1].title not in client.get("/?per_page=50").get_data(as_text=True)


def test_a_change_made_by_another_server_shows_on_the_next_page(app, catalogue):
    hidden, shown = catalogue[0].id, catalogue[3].id
    db.session.remove()
    with another_server(app) as other:
        there = other.test_client()
        assert f'/courses/{hidden}"' in there.get("/?per_page=50").get_data(as_text=True)  # its summary is kept
        course = db.session.get(Course, hidden)
        course.published = False
        db.session.commit()  # committed here; the other server reads the shared version on its next page
        db.session.remove()
        html = there.get("/?per_page=50").get_data(as_text=True)
        assert f'/courses/{hidden}"' not in html and f'/courses/{shown}"' in html


def test_the_order_follows_the_day(app, client, catalogue, monkeypatch):
    with app.test_request_context("/"):
        today_first = _ids(listing.catalogue_page(CatalogueQuery(per_page=50))[0])[0]
        later = date.today() + timedelta(days=400)  # every run is over by then
        monkeypatch.setattr(listing, "org_today", lambda: later)
        monkeypatch.setattr(search, "org_today", lambda: later)
        page, facets = listing.catalogue_page(CatalogueQuery(per_page=50))
        by_title = _ids(search_courses(CatalogueQuery(per_page=50)))
        assert _ids(page) == by_title and _ids(page)[0] != today_first
        assert facets.cities == [] and facets.months[0][0] == later.strftime("%Y-%m")


def test_without_a_readable_version_the_page_is_built_from_the_queries(app, catalogue, monkeypatch):
    monkeypatch.setattr(listing, "current_version", lambda *_names: None)
    with app.test_request_context("/"):
        page, facets = listing.catalogue_page(CatalogueQuery(per_page=50))
        assert _ids(page) == _ids(search_courses(CatalogueQuery(per_page=50)))
        assert facets.key() == catalogue_facets().key()


def test_a_search_another_sort_and_the_missing_language_list_are_not_summarised(app, catalogue):
    for args in ({"q": "course"}, {"sort": "title"}, {"missing": "zh"}, {"q": "course", "city": "Suzhou"}):
        assert not listing.summarisable(CatalogueQuery.from_args(args))


@pytest.fixture
def runs_catalogue(factory, catalogue):
    """The catalogue with more to filter runs on: a second run of another mode and city, two
    courses whose first matching run starts on the same day (then title decides), a full run,
    a run of a hidden course, a closed run and one that is over."""
    now = datetime.now(UTC)
    factory.run(catalogue[0], start=now + timedelta(days=45), city="Ningbo", mode="blended")
    factory.run(catalogue[3], start=now + timedelta(days=26), city="Ningbo", mode="online")
    factory.run(catalogue[7], start=now + timedelta(days=26), city="ningbo", mode="online")
    full = factory.run(catalogue[4], start=now + timedelta(days=40), city="Wuxi", capacity=1)
    factory.enrolment(full)
    factory.run(catalogue[5], start=now + timedelta(days=12), city="Wuxi", status="closed")
    factory.run(catalogue[8], start=now - timedelta(days=20), city="Wuxi")  # over
    hidden = db.session.scalar(db.select(Course).where(Course.code == "LS-HIDDEN"))
    factory.run(hidden, start=now + timedelta(days=10), city="Ningbo", mode="online")
    return catalogue


def _month(days: int) -> str:
    return (date.today() + timedelta(days=days)).strftime("%Y-%m")


RUN_FILTERS = [
    "city=Ningbo",
    "city=NINGBO&per_page=1&page=2",
    "city=Wuxi",
    "city=nowhere",
    "mode=online",
    "mode=in_person&level=beginner",
    "mode=blended&category=robots",
    "open_only=1",
    "open_only=1&category=safety&per_page=2&page=2",
    "open_only=1&city=Wuxi",
    "month={soon}",
    "month={later}&open_only=1&language=zh",
    "month=2099-01",
    "city=Ningbo&page=7",
    "category=empty&city=Ningbo",
]


@pytest.mark.parametrize("args", RUN_FILTERS)
def test_a_page_with_run_filters_is_the_page_the_queries_build(app, runs_catalogue, monkeypatch, args):
    args = args.format(soon=_month(20), later=_month(45))
    query = CatalogueQuery.from_args(MultiDict(parse_qsl(args)), default_per_page=18)
    assert listing.summarisable(query) and query.has_run_filters
    with app.test_request_context(f"/?{args}"):
        expected = search_courses(query)
        listing.catalogue_page(CatalogueQuery())  # the summary is built
        with count_queries() as sent:
            page, facets = listing.catalogue_page(query)
        assert _ids(page) == _ids(expected)
        assert [[r.id for r in card.upcoming_runs] for card in page.items] == [
            [r.id for r in card.upcoming_runs] for card in expected.items
        ]
        assert [card.seats for card in page.items] == [card.seats for card in expected.items]
        assert facets.key() == catalogue_facets().key()
    # the version, the courses with a matching run, then the page's courses with their runs
    assert sent.count <= 3


def test_run_filters_order_by_the_first_matching_run_then_title(app, runs_catalogue):
    with app.test_request_context("/"):
        page = listing.catalogue_page(CatalogueQuery(city="ningbo", per_page=50))[0]
    titles = [card.course.title for card in page.items]
    # Two courses' runs start on the same day ("B course 3" and "A course 7": by title), then the blended run.
    assert titles == [runs_catalogue[7].title, runs_catalogue[3].title, runs_catalogue[0].title]
    assert "A hidden course" not in titles


def test_a_run_that_fills_up_leaves_the_open_seats_page_at_once(app, client, factory, runs_catalogue):
    from training.pagecache import CATALOGUE_VERSION, current_version

    course = runs_catalogue[6]  # its one run starts in 18 days, in Suzhou
    assert course.title in client.get("/?open_only=1&per_page=50").get_data(as_text=True)
    version = current_version(CATALOGUE_VERSION)
    run = course.runs[0]
    for _ in range(run.capacity):
        factory.enrolment(run)
    assert current_version(CATALOGUE_VERSION) == version  # the summary is kept; seats are read live
    html = client.get("/?open_only=1&per_page=50").get_data(as_text=True)
    assert course.title not in html
    assert course.title in client.get("/?per_page=50").get_data(as_text=True)


def test_summarised_pages_take_fewer_queries_and_the_summary_is_built_once(client, factory, catalogue):
    login(client, factory.trainee())
    with count_queries() as first:
        assert client.get("/").status_code == 200
    with count_queries() as again:
        assert client.get("/?page=2&per_page=3").status_code == 200
    # the user, the version, the page's courses with their runs and seats left
    assert again.count <= 3
    assert first.count <= again.count + 3  # the summary: the order, the categories, the cities


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/?category=robots",
        "/?q=course&sort=title",
        "/?city=Suzhou&open_only=1&mode=in_person&level=advanced&language=zh",
        "/?lang=zh",
        "/?month=2099-01&per_page=5&page=2",
    ],
)
def test_the_cached_hero_and_sidebar_are_what_a_fresh_rendering_shows(app, client, catalogue, url):
    def both():
        db.session.expire_all()
        cached = client.get(url).get_data(as_text=True)
        with fragments_uncached(app):
            fresh = client.get(url).get_data(as_text=True)
        assert cached == fresh
        return cached

    before = both()
    robots = db.session.scalar(db.select(Category).where(Category.slug == "robots"))
    robots.name, robots.name_zh = "Robot cells", "机器人单元"
    db.session.commit()
    after = both()
    assert "Robot cells" in after or "机器人单元" in after
    assert before != after


def test_an_enrolment_changes_seats_not_the_summary(app, client, factory, catalogue):
    from training.pagecache import CATALOGUE_VERSION, VERSION_NAME, current_version

    client.get("/")
    pages, summary = current_version(VERSION_NAME), current_version(CATALOGUE_VERSION)
    kept = dict(app.extensions["catalogue_listing"])
    run = catalogue[0].runs[0]
    before = client.get("/?per_page=50").get_data(as_text=True)
    factory.enrolment(run)
    assert current_version(VERSION_NAME) > pages and current_version(CATALOGUE_VERSION) == summary
    after = client.get("/?per_page=50").get_data(as_text=True)
    assert app.extensions["catalogue_listing"] == kept  # not rebuilt
    assert after != before  # the card shows one seat fewer
    run.city = "Ningbo"
    db.session.commit()
    assert current_version(CATALOGUE_VERSION) > summary
    assert "Ningbo" in client.get("/").get_data(as_text=True)  # the sidebar's cities


def test_a_kept_summary_never_shows_a_course_that_is_no_longer_public(app, catalogue, monkeypatch):
    """A bump that failed leaves a stale summary: its hidden courses are still not shown,
    and it is rebuilt after LIFETIME_SECONDS whatever the counter says."""
    from training import pagecache

    with app.test_request_context("/"):
        first = _ids(listing.catalogue_page(CatalogueQuery(per_page=50))[0])[0]
    monkeypatch.setattr(pagecache, "bump_version", lambda *args, **kwargs: None)  # the bump is lost
    hidden = db.session.get(Course, first[0])
    hidden.published = False
    db.session.commit()
    with app.test_request_context("/"):
        ids, _total = _ids(listing.catalogue_page(CatalogueQuery(per_page=50))[0])
    assert first[0] not in ids and ids == first[1:]
    clock = listing.time.monotonic() + listing.LIFETIME_SECONDS + 1
    monkeypatch.setattr(listing.time, "monotonic", lambda: clock)
    with app.test_request_context("/"):
        page = listing.catalogue_page(CatalogueQuery(per_page=50))[0]
    assert _ids(page) == (first[1:], len(first) - 1)
