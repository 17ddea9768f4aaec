"""The catalogue kept whole for signed-in visitors (training/pagecache.py: cached_for_everyone): one copy
for all of them with stand-ins for the layout's viewer parts (training/rendering.py: viewer_part), each
response with its visitor's own navigation, name, menu and CSRF token. Tried as visitors and abusers would:
several people of different roles and languages on one page, a logout, a new session version, a
deactivation, a new name or role, a change on another server, a name made of HTML."""

from __future__ import annotations

import re

import pytest

from tests.conftest import login
from tests.toolkit import another_server, fragments_uncached, templates_rendered
from training.accounts import services as accounts
from training.admin import services as admin_services
from training.catalogue import services as catalogue
from training.extensions import db
from training.rendering import _VIEWER_SLOTS

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_NONCE = re.compile(r'nonce="([^"]+)"')


@pytest.fixture
def cached(app):
    app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 60
    return app


def _page(client, url="/", **kw):
    response = client.get(url, **kw)
    assert response.status_code == 200, (url, response.status_code)
    html = response.get_data(as_text=True)
    for slot in _VIEWER_SLOTS.values():
        assert slot not in html  # no stand-in ever reaches a visitor
    return response, html


def _uncached(app, client, url="/") -> str:
    """The page as a rendering for this visitor alone shows it, without any cache."""
    app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 0
    try:
        with fragments_uncached(app):
            return _page(client, url)[1]
    finally:
        app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 60


def _comparable(html: str) -> str:
    return _NONCE.sub('nonce=""', _CSRF.sub('name="csrf_token" value=""', html))


def test_signed_in_visitors_share_one_kept_page_and_each_sees_only_their_own_parts(cached, factory):
    factory.course(title="Robot cell commissioning")
    people = {
        "Grace Hopper": factory.admin(name="Grace Hopper"),
        "Ada Lovelace": factory.trainee(name="Ada Lovelace"),
        "Linus Trainer": factory.trainer(name="Linus Trainer"),
    }
    for person in people.values():
        accounts.start_session(person)
    session_ids = {name: person.get_id() for name, person in people.items()}
    db.session.remove()
    with another_server(cached) as server:  # an app context per request, as under gunicorn
        server.config["WTF_CSRF_ENABLED"] = True  # each session's own logout token, checked
        clients = {}
        for name, session_id in session_ids.items():
            clients[name] = server.test_client()
            with clients[name].session_transaction() as session:
                session["_user_id"], session["_fresh"] = session_id, True
        first, _ = _page(clients["Grace Hopper"])
        assert first.headers["X-Page-Cache"] == "miss"
        with templates_rendered(server) as rendered:
            pages = {name: _page(client) for name, client in clients.items()}
        assert rendered == []  # the page kept whole, each visitor's parts put in
        tokens = set()
        for name, (response, html) in pages.items():
            assert response.headers["X-Page-Cache"] == "hit"
            assert name in html and "Robot cell commissioning" in html and "/login" not in html
            assert all(other not in html for other in people if other != name), name
            assert ('href="/admin/"' in html) == (name == "Grace Hopper")
            assert ("My trainer profile" in html) == (name == "Linus Trainer")
            assert ("My training" in html) == (name == "Ada Lovelace")
            nonces = set(_NONCE.findall(html))
            assert all(f"'nonce-{n}'" in response.headers["Content-Security-Policy"] for n in nonces)
            logout_tokens = set(_CSRF.findall(html))
            assert len(logout_tokens) == 1
            tokens |= logout_tokens
            # exactly what a rendering for this visitor alone shows
            assert _comparable(html) == _comparable(_uncached(server, clients[name]))
        assert len(tokens) == 3
        # the token each page carries is the one its session accepts: the logout works, a forged one fails
        grace = clients["Grace Hopper"]
        assert grace.post("/logout", data={"csrf_token": "forged"}).status_code == 400
        token = _CSRF.findall(_page(grace)[1])[0]
        assert grace.post("/logout", data={"csrf_token": token}).status_code in (302, 303)
        html = _page(grace)[1]
        assert "Grace Hopper" not in html and "/login" in html


def test_the_anonymous_and_the_signed_in_copies_never_mix(cached, factory):
    factory.course(title="PLC fundamentals")
    anonymous = cached.test_client()
    signed_in = login(cached.test_client(), factory.trainee(name="Bo Wang 王博"))
    for _ in range(2):
        html = _page(anonymous)[1]
        assert "Bo Wang" not in html and "Log out" not in html and "/login" in html
        html = _page(signed_in)[1]
        assert "Bo Wang 王博" in html and "Log out" in html and "/login" not in html
    db.session.rollback()


def test_a_logout_a_new_session_version_or_a_deactivation_ends_the_kept_page_at_once(cached, factory):
    factory.course()
    admin = factory.admin(name="Root Admin")
    people = [factory.trainee(name=f"Trainee {i}") for i in range(3)]
    clients = [login(cached.test_client(), person) for person in people]
    names = [person.display_name for person in people]
    cookies = []
    for client, person in zip(clients, people, strict=True):
        assert person.display_name in _page(client)[1]
        assert _page(client)[0].headers["X-Page-Cache"] == "hit"
        cookies.append(client.get_cookie("session").value)
    assert clients[0].post("/logout").status_code in (302, 303)  # CSRF is off in tests
    accounts.end_all_sessions(people[1])  # a new session version
    admin_services.update_user(
        admin, people[2], name=people[2].display_name, role="trainee", company=None, phone=None, active=False
    )
    db.session.remove()
    for cookie, name in zip(cookies, names, strict=True):
        replayed = cached.test_client()
        replayed.set_cookie("session", cookie)
        html = _page(replayed)[1]
        assert name not in html and "Log out" not in html and "/login" in html


def test_a_new_name_or_role_shows_on_the_next_kept_page(cached, factory):
    factory.course()
    admin = factory.admin(name="Root Admin")
    person = factory.trainee(name="Old Name")
    client = login(cached.test_client(), person)
    _page(client)
    assert "Old Name" in _page(client)[1]
    admin_services.update_user(admin, person, name="New Name", role="admin", company=None, phone=None, active=True)
    db.session.remove()
    response, html = _page(client)
    assert "New Name" in html and "Old Name" not in html and 'href="/admin/"' in html


def test_a_name_made_of_markup_or_a_stand_in_stays_text(cached, factory):
    factory.course()
    hostile = factory.trainee(name="<script>alert(1)</script> viewer-menu-0000 csrf-slot-x")
    other = factory.trainee(name="Quiet Person")
    for person in (hostile, other):
        client = login(cached.test_client(), person)
        _page(client)
        html = _page(client)[1]
        assert "<script>alert(1)</script>" not in html
        if person is hostile:
            assert "&lt;script&gt;alert(1)&lt;/script&gt; viewer-menu-0000 csrf-slot-x" in html
        else:
            assert "Quiet Person" in html and "alert(1)" not in html
    db.session.rollback()


def test_each_signed_in_visitor_gets_their_language(cached, factory):
    factory.course(title="Machine vision")
    english = login(cached.test_client(), factory.trainee(name="En Reader", locale="en"))
    chinese = login(cached.test_client(), factory.trainee(name="Zh Reader", locale="zh"))
    for _ in range(2):
        en_html, zh_html = _page(english)[1], _page(chinese)[1]
        assert '<html lang="en">' in en_html and "Log out" in en_html and "En Reader" in en_html
        assert '<html lang="zh-CN">' in zh_html and "Log out" not in zh_html and "Zh Reader" in zh_html
    assert '<html lang="zh-CN">' in _page(english, "/?lang=zh")[1]
    assert '<html lang="en">' in _page(english)[1]
    db.session.rollback()


def test_a_change_on_another_server_is_never_served_from_a_kept_signed_in_page(cached, factory):
    course = factory.course(title="Before the change")
    person = factory.trainee(name="Reader")
    admin = factory.admin()
    accounts.start_session(person)
    session_id = person.get_id()
    db.session.remove()
    with another_server(cached) as one, another_server(cached) as two:
        client = one.test_client()
        with client.session_transaction() as session:
            session["_user_id"], session["_fresh"] = session_id, True
        assert "Before the change" in _page(client)[1]
        assert _page(client)[0].headers["X-Page-Cache"] == "hit"
        with two.app_context():
            catalogue.update_course(db.session.merge(admin), db.session.merge(course), {"title": "After the change"})
            db.session.remove()
        response, html = _page(client)
        assert "After the change" in html and "Before the change" not in html and "Reader" in html
        assert response.headers["X-Page-Cache"] == "miss"
