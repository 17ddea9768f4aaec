"""Trying to break the catalogue's caches as visitors and abusers would: the anonymous
page cache, the listing shared by every visitor (training/pagecache.py: shared_part),
the kept cards and sidebar (training/rendering.py: fragment) and the per-process
listing summary (training/catalogue/listing.py).

Each test drives the pages as people do (anonymous, signed in, in either language,
behind a proxy, with forged headers and hostile query strings) and checks that what a
cache serves is what a fresh rendering shows to that visitor, now."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.conftest import login, make_test_app
from tests.factories import Factory
from tests.toolkit import another_server, app_pushed, fragments_uncached
from training import types
from training.accounts.models import User
from training.catalogue import services as catalogue
from training.catalogue.models import Course
from training.enrolment import services as enrolment
from training.extensions import db

_CSRF = re.compile(r'(name="csrf_token" value=")[^"]+"')
_NONCE = re.compile(r'nonce="[^"]+"')


def _html(client, url="/", **kw) -> str:
    response = client.get(url, **kw)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def _comparable(html: str) -> str:
    """A page without what is each response's own (its CSRF token and script nonce)."""
    return _NONCE.sub('nonce=""', _CSRF.sub(r'\1"', html))


@pytest.fixture
def cached(app):
    app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 60
    return app


def _fresh(app, client, url="/", **kw) -> str:
    """The page as it is rendered with no cache at all."""
    seconds = app.config["PUBLIC_PAGE_CACHE_SECONDS"]
    app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 0
    try:
        with fragments_uncached(app):
            return _html(client, url, **kw)
    finally:
        app.config["PUBLIC_PAGE_CACHE_SECONDS"] = seconds


# --- forged hosts, schemes and prefixes -------------------------------------------------


@pytest.fixture
def proxied(tmp_path, pg_database):
    """Behind one trusted proxy, without PUBLIC_BASE_URL: links follow the forwarded
    host (checked against TRUSTED_HOSTS), scheme and prefix."""
    app = make_test_app(
        tmp_path,
        pg_database,
        PUBLIC_BASE_URL=None,
        TRUSTED_PROXIES="1",
        TRUSTED_PROXY_PREFIX="1",
        PUBLIC_PAGE_CACHE_SECONDS=60,
    )
    with app_pushed(app):
        yield app


ATTACKS = [
    {"Host": "attacker.example"},
    {"X-Forwarded-Host": "attacker.example"},
    {"X-Forwarded-Host": "localhost:8443"},
    {"X-Forwarded-Proto": "https"},
    {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "localhost:8443"},
    {"X-Forwarded-Proto": "javascript"},
    {"X-Forwarded-Prefix": "/academy"},
    {"X-Forwarded-Prefix": "//attacker.example"},
    {"Forwarded": "host=attacker.example;proto=https"},
    {"X-Original-URL": "/evil", "X-Rewrite-URL": "/evil"},
]
PLANTED = ("attacker", "localhost:8443", "https://localhost", "javascript:", "/academy", "/evil")


def test_no_forwarded_header_plants_foreign_links_in_a_kept_page_listing_or_card(proxied):
    factory = Factory()
    course = factory.course(title="Robot cell commissioning")
    factory.run(course, city="Wuxi")
    trainee = factory.trainee(name="Ada Lovelace")
    signed_in, anonymous = login(proxied.test_client(), trainee), proxied.test_client()
    paths = ("/", "/?category=none", f"/courses/{course.id}")
    for headers in ATTACKS:
        for client in (signed_in, anonymous):
            for path in paths:
                assert client.get(path, headers=headers).status_code in (200, 400, 404), (headers, path)
    for client in (signed_in, anonymous):
        for path in paths:
            body = _html(client, path)
            for planted in PLANTED:
                assert planted not in body, (planted, path)
            assert f'href="/courses/{course.id}"' in body or path != "/"
            if path.startswith("/courses/"):
                assert f'href="http://localhost/courses/{course.id}"' in body  # the canonical link
    # a legitimately forwarded prefix and scheme are the pages of that address, kept apart
    mounted = _html(anonymous, "/", headers={"X-Forwarded-Prefix": "/academy", "X-Forwarded-Proto": "https"})
    assert f'href="/academy/courses/{course.id}"' in mounted


def test_with_a_public_base_url_no_header_reaches_a_kept_page(cached, factory):
    cached.config["PUBLIC_BASE_URL"] = "https://training.example.com"
    course = factory.course(title="Robot cell commissioning")
    client = cached.test_client()
    for headers in ATTACKS:
        client.get(f"/courses/{course.id}", headers=headers)
        client.get("/", headers=headers)
    body = _html(client, f"/courses/{course.id}")
    assert 'href="https://training.example.com/courses/' in body
    for planted in PLANTED:
        assert planted not in body, planted


# --- languages ----------------------------------------------------------------------------


def _language(html: str) -> str:
    return re.search(r'<html lang="([^"]+)"', html).group(1)


def _with(path: str, args: str) -> str:
    return path + ("&" if "?" in path else "?") + args if args else path


def test_a_language_is_never_served_to_a_visitor_of_the_other(cached, factory):
    course = factory.course(title="Robot cell commissioning", title_translation="机器人单元调试")
    factory.run(course)
    ada = factory.trainee(name="Ada Lovelace", locale="zh")
    bo = factory.trainee(name="Bo Peters", locale="en")
    chinese_first = [
        (cached.test_client(), "", {"Accept-Language": "zh-CN,zh;q=0.9"}),
        (cached.test_client(), "lang=zh", {}),
        (login(cached.test_client(), ada), "", {}),
    ]
    for path in ("/", "/?per_page=5", f"/courses/{course.id}"):
        for client, args, headers in chinese_first:
            zh = _html(client, _with(path, args), headers=headers)
            assert _language(zh) == "zh-CN" and "机器人单元调试" in zh, (path, args, headers)
        english = [
            (cached.test_client(), "", {"Accept-Language": "en-GB,en;q=0.8"}),
            (cached.test_client(), "", {}),
            (cached.test_client(), "lang=en", {"Accept-Language": "zh-CN"}),
            (login(cached.test_client(), bo), "", {"Accept-Language": "zh-CN"}),
        ]
        for client, args, headers in english:
            en = _html(client, _with(path, args), headers=headers)
            assert _language(en) == "en" and "机器人单元调试" not in en, (path, args, headers)
            assert "Robot cell commissioning" in en
    # the language chosen in the session (the switcher) wins over the browser's, and is kept apart
    switcher = cached.test_client()
    with switcher.session_transaction() as sess:
        sess["lang"] = "zh"
    assert _language(_html(switcher, "/", headers={"Accept-Language": "en"})) == "zh-CN"
    assert _language(_html(cached.test_client(), "/", headers={"Accept-Language": "en"})) == "en"


# --- the viewer ---------------------------------------------------------------------------


def test_no_signed_in_visitors_name_role_or_enrolment_reaches_another_visitor(cached, factory):
    course = factory.course(title="Robot cell commissioning")
    run = factory.run(course, capacity=5)
    admin = factory.admin(name="Grace Hopper")
    ada = factory.trainee(name="Ada Lovelace")
    factory.enrolment(run, ada)
    bo = factory.trainee(name="Bo Peters")
    paths = ("/", "/?level=beginner", f"/courses/{course.id}")
    visitors = {
        "admin": login(cached.test_client(), admin),
        "ada": login(cached.test_client(), ada),
        "bo": login(cached.test_client(), bo),
        "anonymous": cached.test_client(),
    }
    for path in paths:
        pages = {who: _html(client, path) for who, client in visitors.items()}
        assert "Grace Hopper" in pages["admin"] and "Ada Lovelace" in pages["ada"]
        names = {"admin": "Grace Hopper", "ada": "Ada Lovelace", "bo": "Bo Peters"}
        for who, html in pages.items():
            for other, name in names.items():
                if other != who:
                    assert name not in html, (who, name, path)
            if who != "admin":
                assert 'href="/admin' not in html, (who, path)
        # each page is exactly what a rendering for that visitor alone shows
        for who, client in visitors.items():
            assert _comparable(_html(client, path)) == _comparable(_fresh(cached, client, path)), (who, path)
    # an anonymous visitor first, then the enrolled trainee: her state is hers
    db.session.expire_all()
    cached.extensions["page_cache"].clear()
    cached.extensions["shared_parts"].clear()
    _html(visitors["anonymous"], f"/courses/{course.id}")
    assert "Cancel my place" in _html(visitors["ada"], f"/courses/{course.id}")
    assert "Cancel my place" not in _html(visitors["bo"], f"/courses/{course.id}")
    assert "Cancel my place" not in _html(visitors["anonymous"], f"/courses/{course.id}")


# --- changes show on the next request ---------------------------------------------------


def _card(html: str, course: Course | int) -> str:
    """The HTML of the course's card on a catalogue page ("" when it is not listed)."""
    course_id = course if isinstance(course, int) else course.id
    start = html.find(f'href="/courses/{course_id}"')
    return "" if start < 0 else html[start : start + 2500]


def test_a_full_cancelled_unpublished_or_archived_course_shows_at_once_to_everyone(cached, factory):
    admin = factory.admin()
    tight = factory.course(code="FULL-1", title="Tight course")
    tight_run = factory.run(tight, capacity=1, city="Wuxi")
    cancelled = factory.course(code="CANC-1", title="Cancelled course")
    cancelled_run = factory.run(cancelled, city="Ningbo")
    hidden = factory.course(code="HIDE-1", title="Soon hidden course")
    factory.run(hidden)
    archived = factory.course(code="ARCH-1", title="Soon archived course")
    factory.run(archived)
    signed_in = login(cached.test_client(), factory.trainee())
    taker_id = factory.trainee(name="Seat Taker").id
    tight, hidden, archived, admin_id = tight.id, hidden.id, archived.id, admin.id
    tight_run, cancelled_run = tight_run.id, cancelled_run.id
    db.session.remove()
    with another_server(cached) as other:
        other.config["PUBLIC_PAGE_CACHE_SECONDS"] = 60
        clients = {
            "anonymous": cached.test_client(),
            "signed in": signed_in,
            "anonymous elsewhere": other.test_client(),
        }

        def pages(url="/?per_page=50"):
            seen = {}
            for who, client in clients.items():
                seen[who] = _html(client, url)
                db.session.remove()  # this server's request ran in the test's session: end its transaction
            return seen

        for html in pages().values():
            assert "1 seat left" in _card(html, tight) and "Ningbo" in html
            for course in (hidden, archived):
                assert _card(html, course)
        pages()  # now every page and listing is kept

        # the enrolment service itself (the path trainees take), not a row written by the test
        taken = enrolment.enrol(db.session.get(User, taker_id), tight_run)
        taken_id = taken.id
        db.session.remove()
        for who, html in pages().items():
            assert "Full · waitlist" in _card(html, tight) and "1 seat left" not in _card(html, tight), who
        for who, html in pages(f"/courses/{tight}").items():
            assert "Full · waitlist" in html, who
        enrolment.cancel(db.session.get(User, taker_id), taken_id, "Plans changed")
        db.session.remove()
        for who, html in pages().items():
            assert "1 seat left" in _card(html, tight), who  # the seat is back at once

        enrolment.cancel_run(db.session.get(User, admin_id), cancelled_run, "Trainer ill")
        db.session.remove()
        for who, html in pages().items():
            assert "Ningbo" not in html, who  # neither on the card nor among the sidebar's cities

        catalogue.update_course(db.session.get(User, admin_id), db.session.get(Course, hidden), {"published": False})
        catalogue.archive_course(db.session.get(User, admin_id), db.session.get(Course, archived))
        db.session.remove()
        for who, html in pages().items():
            assert not _card(html, hidden) and not _card(html, archived), who
            assert "Soon hidden course" not in html and "Soon archived course" not in html
        for client in clients.values():
            for course_id in (hidden, archived):
                assert client.get(f"/courses/{course_id}").status_code == 404
                db.session.remove()


# --- today, in the organisation's time zone ----------------------------------------------


def test_upcoming_runs_follow_the_organisations_day_not_utc(cached, factory, monkeypatch):
    """At 01:30 in Shanghai it is still yesterday in UTC: a run that ended yesterday
    (Shanghai) is over for the catalogue, on every cached and summarised page."""
    now = datetime(2030, 3, 1, 17, 30, tzinfo=UTC)  # 2030-03-02 01:30 in Asia/Shanghai
    monkeypatch.setattr(types, "utcnow", lambda: now)
    ended = factory.course(code="TZ-ENDED", title="Ended yesterday in Shanghai")
    factory.run(
        ended,
        meetings=1,
        start=datetime(2030, 3, 1, 1, 0, tzinfo=UTC),  # 09:00 on 1 March in Shanghai
        starts_on=datetime(2030, 3, 1).date(),
        ends_on=datetime(2030, 3, 1).date(),
        city="Yesterdayville",
    )
    today = factory.course(code="TZ-TODAY", title="Running today in Shanghai")
    factory.run(
        today,
        meetings=1,
        start=datetime(2030, 3, 2, 1, 0, tzinfo=UTC),
        starts_on=datetime(2030, 3, 2).date(),
        ends_on=datetime(2030, 3, 2).date(),
        city="Todayville",
    )
    signed_in = login(cached.test_client(), factory.trainee())
    for client in (cached.test_client(), signed_in):
        html = _html(client, "/?per_page=50")
        assert "Todayville" in _card(html, today) and "Yesterdayville" not in html
        # listed first: the only course with an upcoming run
        assert html.find(f'href="/courses/{today.id}"') < html.find(f'href="/courses/{ended.id}"')
        assert not _card(_html(client, "/?city=Yesterdayville"), ended)
    # in UTC it is still 1 March: the same run is upcoming there (and the kept pages follow)
    cached.config["ORG_TIMEZONE"] = "UTC"
    for client in (cached.test_client(), signed_in):
        assert "Yesterdayville" in _card(_html(client, "/?per_page=50&page=1"), ended)


# --- hostile query strings ---------------------------------------------------------------


HOSTILE = [
    b"q=%FF%FE",
    b"q=\xff\xfe",
    b"q=%00",
    b"q=" + b"A" * 20_000,
    b"page=99999999999999999999999",
    b"per_page=-1&page=0",
    b"category=%ED%A0%80",
    b"city=%F0%9F%A4%96&month=2026-13",
    b"lang=xx&lang=zh",
    b"q[]=1&q[]=2&sort[$ne]=1",
    b"month=9999-99&level=../../etc",
    b"q=%E4%B8%AD&q=" + b"%E4%B8%AD" * 500,
]


@pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_query_strings_are_answered_without_an_error(cached, factory, query):
    factory.run(factory.course(title="Robot cell commissioning"))
    for client in (cached.test_client(), login(cached.test_client(), factory.trainee())):
        for _ in range(2):  # the second from the cache
            response = client.get("/", environ_overrides={"QUERY_STRING": query.decode("latin-1")})
            assert response.status_code in (200, 400), response.status_code


def test_many_distinct_query_strings_keep_every_cache_bounded(cached, factory):
    factory.run(factory.course(title="Robot cell commissioning"))
    anonymous = cached.test_client()
    signed_in = login(cached.test_client(), factory.trainee())
    page_cache, shared = cached.extensions["page_cache"], cached.extensions["shared_parts"]
    page_cache.max_entries = shared.max_entries = 50
    for i in range(300):
        assert anonymous.get(f"/?q=robot{i}").status_code == 200
        assert signed_in.get(f"/?utm_source={i}").status_code == 200
        assert len(page_cache._entries) <= 50 and len(shared._entries) <= 50
        assert page_cache.size <= page_cache.max_bytes and shared.size <= shared.max_bytes
    assert len(cached.extensions["catalogue_listing"]) <= 4


def test_a_kept_course_page_carries_each_responses_own_script_nonce(cached, factory):
    """The course page's JSON-LD has the nonce of the Content-Security-Policy it is sent
    with, whether the page was rendered now or served from the anonymous cache."""
    course = factory.course(title="OPC UA information models")
    factory.run(course)
    client = cached.test_client()
    nonces = set()
    for expected in ("miss", "hit", "hit"):
        response = client.get(f"/courses/{course.id}")
        assert response.headers["X-Page-Cache"] == expected
        header = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
        page = re.search(r'<script type="application/ld\+json" nonce="([^"]+)">', response.get_data(as_text=True))
        assert page and page.group(1) == header
        assert "\x00" not in response.get_data(as_text=True)
        nonces.add(header)
    assert len(nonces) == 3
