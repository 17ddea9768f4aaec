"""The catalogue's listing is kept for every visitor, signed in or not
(training/pagecache.py: shared_part): rendered once per query, language and version
of the data, while the frame around it (navigation, the viewer's name, the logout form
with its CSRF token) is each visitor's own. A change shows on the next page, whichever
server made it."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import login
from tests.toolkit import another_server, templates_rendered
from training.catalogue import services
from training.catalogue.models import Course
from training.extensions import db

LISTING = "catalogue/_listing.html"


@pytest.fixture
def cached(app):
    app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 60
    return app


def _page(client, url="/"):
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def test_signed_in_visitors_share_the_listing_and_keep_their_own_frame(cached, factory):
    course = factory.course(title="Robot cell commissioning")
    ada, bo = factory.trainee(name="Ada Lovelace"), factory.trainee(name="王博")
    first, second = login(cached.test_client(), ada), login(cached.test_client(), bo)
    anonymous = cached.test_client()
    with templates_rendered(cached) as rendered:
        one, two, three = _page(first), _page(second), _page(anonymous)
    assert rendered.count(LISTING) == 1
    assert "Ada Lovelace" in one and "王博" not in one
    assert "王博" in two and "Ada Lovelace" not in two
    assert "Ada Lovelace" not in three and "王博" not in three
    for html in (one, two, three):
        assert f'href="/courses/{course.id}"' in html
    # each signed-in frame carries its own session's CSRF token; the listing carries none
    token = 'name="csrf_token" value="'
    assert one.count(token) == 1 and two.count(token) == 1 and token not in three


def test_another_query_language_or_script_root_is_another_listing(cached, factory):
    factory.course(title="PLC fundamentals", title_translation="PLC 基础")
    client = login(cached.test_client(), factory.trainee())
    with templates_rendered(cached) as rendered:
        _page(client)
        _page(client, "/?q=PLC")
        zh = _page(client, "/?lang=zh")
        mounted = client.get("/", environ_overrides={"SCRIPT_NAME": "/academy"}).get_data(as_text=True)
        _page(client, "/?q=PLC")
    assert rendered.count(LISTING) == 4
    assert "PLC 基础" in zh
    assert 'href="/academy/courses/' in mounted


def test_a_change_shows_on_the_next_page_for_signed_in_visitors(cached, factory):
    course = factory.course(title="PLC fundamentals")
    client = login(cached.test_client(), factory.trainee())
    assert "PLC fundamentals" in _page(client)
    services.update_course(factory.admin(), course, {"title": "PLC fundamentals, 2nd edition"})
    assert "2nd edition" in _page(client)


def test_seats_held_for_a_company_show_at_once(cached, factory):
    course = factory.course(title="Vision systems")
    run = factory.run(course, capacity=4, start=datetime.now(UTC) + timedelta(days=10))
    client = login(cached.test_client(), factory.trainee())
    assert "4 seats left" in _page(client)
    factory.allocation(run, factory.company(), 3)  # a member company's reserved seats: not the public's
    html = _page(client)
    assert "1 seat left" in html and "4 seats left" not in html


def test_a_change_made_by_another_server_shows_on_the_next_page(cached, factory):
    course = factory.course(title="Functional safety basics")
    trainee = factory.trainee()
    course_id = course.id
    db.session.remove()
    with another_server(cached) as other:
        there = other.test_client()
        login(there, db.session.merge(trainee))
        db.session.remove()
        assert "Functional safety basics" in _page(there)
        assert "Functional safety basics" in _page(there)  # kept there
        changed = db.session.get(Course, course_id)
        changed.title = "Functional safety in practice"
        db.session.commit()  # here, not there: the other server learns of it through the shared version
        db.session.remove()
        html = _page(there)
        assert "Functional safety in practice" in html and "Functional safety basics" not in html


def test_logging_out_drops_the_frame_not_the_listing(cached, factory):
    factory.course(title="MES integration")
    trainee = factory.trainee(name="Carla Signed-In")
    client = login(cached.test_client(), trainee)
    assert "Carla Signed-In" in _page(client)
    html = _page(client)
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/logout", data={"csrf_token": token}).status_code in (302, 303)
    html = _page(client)
    assert "Carla Signed-In" not in html and "MES integration" in html


def test_without_the_page_cache_every_listing_is_rendered(app, factory):
    assert not app.config["PUBLIC_PAGE_CACHE_SECONDS"]
    factory.course()
    client = login(app.test_client(), factory.trainee())
    with templates_rendered(app) as rendered:
        _page(client)
        _page(client)
    assert rendered.count(LISTING) == 2
