"""CSRF: every state-changing request to a page (not the bearer-token API)
without a valid token gets 400 and writes nothing; with the token it works."""

from __future__ import annotations

import re

import pytest
from flask import g

from tests.conftest import login, make_test_app
from tests.factories import Factory
from tests.security.conftest import build_world, snapshot
from training.extensions import db

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# A plausible form for every route, so the refusal is about the token and nothing else.
FORM = {
    "email": "someone@example.com",
    "password": "correct horse battery staple",
    "name": "Mallory",
    "confirm": "correct horse battery staple",
    "current": "correct horse battery staple",
    "reason": "csrf",
    "status": "cancelled",
    "title": "Hacked",
    "code": "HACK-1",
    "hours": "8",
    "role": "admin",
}


@pytest.fixture
def csrf_app(tmp_path, pg_database):
    app = make_test_app(tmp_path, pg_database, WTF_CSRF_ENABLED=True)
    with app.app_context():
        yield app
        db.session.remove()


# Posts that change nothing and act for no one: the verification pages' PDF check (web.same_origin_only:
# a post from another site is refused; tests/certificates/test_issued_documents.py). Nothing else.
NO_TOKEN = {("POST", "/verify"), ("POST", "/verify/<code>")}


def state_changing_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            continue  # bearer tokens only (tests/security/test_api_bearer_only.py)
        if any((method, rule.rule) in NO_TOKEN for method in rule.methods):
            continue
        for method in sorted(rule.methods & STATE_CHANGING):
            yield method, rule


def test_there_are_forms_to_check(csrf_app):
    assert len(list(state_changing_rules(csrf_app))) >= 20


def _location(view) -> str:
    return f"{view.__module__}.{view.__name__}"  # how Flask-WTF names an exempt view


def test_only_the_pdf_check_goes_without_a_token_and_it_refuses_other_sites(csrf_app):
    from flask_wtf.csrf import CSRFProtect

    from training.extensions import csrf

    assert isinstance(csrf, CSRFProtect)
    exempt = {
        (method, rule.rule)
        for rule in csrf_app.url_map.iter_rules()
        for method in rule.methods & STATE_CHANGING
        if not rule.rule.startswith("/api/") and _location(csrf_app.view_functions[rule.endpoint]) in csrf._exempt_views
    }
    assert exempt == NO_TOKEN
    world = build_world(Factory())
    before = snapshot()
    client = csrf_app.test_client()
    login(client, world.admin)
    for _method, rule in sorted(NO_TOKEN):
        url = rule.replace("<code>", "7SDS8N91PMN6SEE7TRTQ1QXZR15G")
        assert client.post(url, data=FORM, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert client.post(url, data=FORM, headers={"Origin": "https://attacker.example"}).status_code == 403
    db.session.expire_all()
    assert snapshot() == before


@pytest.mark.parametrize("who", ["admin", "trainer", "trainee", None])
def test_every_post_without_token_is_refused_and_writes_nothing(csrf_app, who):
    world = build_world(Factory())
    ids = world.ids()
    before = snapshot()
    refused = []
    for method, rule in state_changing_rules(csrf_app):
        client = csrf_app.test_client()
        if who:
            login(client, getattr(world, who))
        url = rule.build({name: ids[name] for name in rule.arguments}, append_unknown=False)[1]
        for kwargs in ({"data": FORM}, {"json": {"records": []}}, {"data": dict(FORM, csrf_token="forged")}):
            response = client.open(url, method=method, **kwargs)
            if response.status_code != 400:
                refused.append(f"{method} {rule.rule} as {who}: {response.status_code}")
    assert not refused, "accepted without a CSRF token:\n" + "\n".join(refused)
    db.session.expire_all()
    assert snapshot() == before


def _token(client, path):
    # The test holds one app context across requests, so flask.g would keep the
    # previous request's token: forget it, as a real request would.
    g.pop("csrf_token", None)
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_with_the_token_forms_work(csrf_app):
    world = build_world(Factory())
    client = csrf_app.test_client()
    before_login = token = _token(client, "/login")
    response = client.post(
        "/login", data={"email": world.trainee.email, "password": "correct horse battery staple", "csrf_token": token}
    )
    assert response.status_code == 302
    # A token from another session is refused.
    stranger = csrf_app.test_client()
    stranger_token = _token(stranger, "/login")
    token = _token(client, "/account")
    assert token != before_login  # the session, and with it the CSRF secret, is new after login
    assert client.post("/logout", data={"csrf_token": before_login}).status_code == 400
    assert client.post("/logout", data={"csrf_token": stranger_token}).status_code == 400
    assert client.get("/my/training").status_code == 200  # still logged in
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/my/training").status_code == 302  # logged out
