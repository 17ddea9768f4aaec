"""The session cookie decoded once per process (training/sessions.py): the same cookie gives the same
session, never one another request changed; a forged, altered or expired cookie is refused however often
the genuine one was read; data that is not plain is read afresh each time."""

from __future__ import annotations

import time

from tests.conftest import login
from training import sessions


def _cookie(client) -> str:
    return client.get_cookie("session").value


def _with_cookie(app, value: str):
    client = app.test_client()
    client.set_cookie("session", value)
    return client


def _kept_cookie(app, factory) -> str:
    """Mei Lin's signed-in cookie, after a request with it alone read (and kept) it."""
    client = login(app.test_client(), factory.trainee(name="Mei Lin"))
    client.get("/")
    cookie = _cookie(client)
    assert "Mei Lin" in _with_cookie(app, cookie).get("/").get_data(as_text=True)
    return cookie


def test_the_same_cookie_gives_the_same_session_and_no_request_changes_what_the_next_gets(app, factory):
    person = factory.trainee(name="Mei Lin")
    client = login(app.test_client(), person)
    assert "Mei Lin" in client.get("/").get_data(as_text=True)
    cookie = _cookie(client)
    for _ in range(3):
        replayed = _with_cookie(app, cookie)
        assert "Mei Lin" in replayed.get("/").get_data(as_text=True)
    # a request that changes its session (a language chosen) changes its own cookie only
    visitor = app.test_client()
    assert visitor.get("/lang/en?next=/").status_code in (302, 303)
    english = _cookie(visitor)
    for _ in range(2):
        assert '<html lang="en">' in _with_cookie(app, english).get("/", headers={"Accept-Language": "zh"}).get_data(
            as_text=True
        )
    changer = _with_cookie(app, english)
    assert changer.get("/lang/zh?next=/").status_code in (302, 303)
    assert '<html lang="zh-CN">' in changer.get("/").get_data(as_text=True)
    html = _with_cookie(app, english).get("/", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert '<html lang="en">' in html


def test_an_altered_or_forged_cookie_is_refused_after_the_genuine_one_was_read(app, factory):
    cookie = _kept_cookie(app, factory)
    payload, stamp, signature = cookie.rsplit(".", 2)
    altered = f"{payload}.{stamp}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    other_stamp = f"{payload}.{stamp[:-1]}{'A' if stamp[-1] != 'A' else 'B'}.{signature}"
    for forged in (altered, other_stamp, cookie + "x", "x" + cookie):
        html = _with_cookie(app, forged).get("/").get_data(as_text=True)
        assert "Mei Lin" not in html and "/login" in html, forged


def test_an_expired_cookie_is_refused_even_when_it_was_kept(app, factory, monkeypatch):
    cookie = _kept_cookie(app, factory)
    lifetime = app.permanent_session_lifetime.total_seconds()
    now = time.time()
    later = now + lifetime + 60
    monkeypatch.setattr(sessions.time, "time", lambda: later)
    html = _with_cookie(app, cookie).get("/").get_data(as_text=True)
    assert "Mei Lin" not in html and "/login" in html
    earlier = now - 3600  # signed "in the future": refused, as itsdangerous does
    monkeypatch.setattr(sessions.time, "time", lambda: earlier)
    assert "/login" in _with_cookie(app, cookie).get("/").get_data(as_text=True)


def test_a_session_holding_messages_is_read_afresh_and_shows_them_once(app, factory):
    person = factory.trainee(name="Mei Lin")
    client = login(app.test_client(), person)
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "Saved once.")]
    cookie = _cookie(client)
    first = _with_cookie(app, cookie)
    assert first.get("/").get_data(as_text=True).count("Saved once.") == 1
    assert "Saved once." not in first.get("/").get_data(as_text=True)
    assert (tuple(app.session_interface.get_signing_serializer(app).secret_keys), cookie) not in (
        app.session_interface._cookies
    )
    # the same cookie sent again still holds its message (a cookie is what the browser sends)
    assert "Saved once." in _with_cookie(app, cookie).get("/").get_data(as_text=True)


def test_a_cookie_of_another_secret_key_is_refused(app, factory):
    cookie = _kept_cookie(app, factory)
    app.config["SECRET_KEY"] = app.secret_key = "another-secret"
    html = _with_cookie(app, cookie).get("/").get_data(as_text=True)
    assert "Mei Lin" not in html and "/login" in html
