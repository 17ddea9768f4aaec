"""Logging out ends the login on the server; a stranger's guesses never keep
the owner out; registration says nothing about who has an account."""

from __future__ import annotations

import os
import re
import threading
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from tests.conftest import make_test_app
from tests.factories import PASSWORD
from tests.toolkit import join_all, wait_until
from training.accounts import throttle
from training.accounts.models import LoginFailure, LoginSession
from training.extensions import db

OWNER = {"REMOTE_ADDR": "198.51.100.7"}
STRANGER = {"REMOTE_ADDR": "203.0.113.5"}


def _sign_in(client, email, password=PASSWORD, environ=None, **extra):
    return client.post("/login", data={"email": email, "password": password, **extra}, environ_base=environ or OWNER)


def _cookie(client, name):
    cookie = client.get_cookie(name)
    return cookie.value if cookie else None


# --- logout ---------------------------------------------------------------------------


def test_logout_ends_the_session_and_the_remember_cookie(app, client, factory):
    user = factory.trainee()
    assert _sign_in(client, user.email, remember="y").status_code == 302
    session_cookie, remember_cookie = _cookie(client, "session"), _cookie(client, "remember_token")
    assert session_cookie and remember_cookie
    assert client.get("/my/training").status_code == 200

    response = client.post("/logout")
    assert response.status_code == 302
    deleted = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token=")]
    assert deleted and ("Expires=Thu, 01 Jan 1970" in deleted[0] or "Max-Age=0" in deleted[0])
    assert _cookie(client, "remember_token") is None
    assert client.get("/my/training").status_code == 302

    copied_session = app.test_client()
    copied_session.set_cookie("session", session_cookie)
    assert copied_session.get("/my/training").status_code == 302
    copied_remember = app.test_client()
    copied_remember.set_cookie("remember_token", remember_cookie)
    assert copied_remember.get("/my/training").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(LoginSession)) == 0


def test_logout_clears_what_this_browser_kept_for_the_account(client, factory):
    """A training room's shared computer: the roster's service worker keeps the last roster (names, notes,
    marks) to open it offline, and unsent marks wait in localStorage for whoever opens that roster next,
    sent as theirs. Logging out tells the browser to drop both (Clear-Site-Data), not the cookies: the
    check-in device id stays, so one browser still checks in one account per meeting."""
    trainer = factory.trainer()
    assert _sign_in(client, trainer.email).status_code == 302
    response = client.post("/logout")
    assert response.status_code == 302
    directives = {d.strip() for d in response.headers.get("Clear-Site-Data", "").split(",")}
    assert {'"cache"', '"storage"'} <= directives and '"cookies"' not in directives
    assert "Clear-Site-Data" not in _sign_in(client, trainer.email).headers  # only a logout clears


def test_remember_cookie_restores_a_login_until_logout(app, client, factory):
    user = factory.trainee()
    _sign_in(client, user.email, remember="y")
    returning = app.test_client()  # the browser was closed: only the remember cookie is left
    returning.set_cookie("remember_token", _cookie(client, "remember_token"))
    assert returning.get("/my/training").status_code == 200
    returning.post("/logout")
    again = app.test_client()
    again.set_cookie("remember_token", _cookie(client, "remember_token"))
    assert again.get("/my/training").status_code == 302
    assert client.get("/my/training").status_code == 302  # the same login, ended


def test_logging_out_ends_only_that_login(app, factory):
    user = factory.trainee()
    phone, laptop = app.test_client(), app.test_client()
    _sign_in(phone, user.email)
    _sign_in(laptop, user.email)
    phone.post("/logout")
    assert phone.get("/my/training").status_code == 302
    assert laptop.get("/my/training").status_code == 200


def test_sessions_without_a_server_side_login_are_refused(app, factory):
    user = factory.trainee()
    client = app.test_client()
    with client.session_transaction() as sess:  # what the cookie held before logins were kept on the server
        sess["_user_id"] = f"{user.id}:{user.session_version}"
    assert client.get("/my/training").status_code == 302


@pytest.mark.parametrize("secure", [True, False])
def test_remember_cookie_secure_follows_the_session_cookie(tmp_path, pg_database, secure):
    app = make_test_app(tmp_path, pg_database, SESSION_COOKIE_SECURE=secure)
    assert app.config["REMEMBER_COOKIE_SECURE"] is secure


# --- throttling -----------------------------------------------------------------------


def test_a_strangers_failed_logins_do_not_stop_the_owner(client, factory, clock, mailbox):
    user = factory.trainee()
    stranger = client.application.test_client()
    for _ in range(30):
        assert _sign_in(stranger, user.email, "a wrong guess!", environ=STRANGER).status_code == 200
    assert _sign_in(stranger, user.email, environ=STRANGER).status_code == 200  # held back, even when right
    assert _sign_in(client, user.email, environ=OWNER).status_code == 302
    assert client.get("/my/training").status_code == 200
    assert mailbox() == []  # one source is no distributed attack: nothing to tell


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="needs PostgreSQL (set TEST_DATABASE_URL) for truly concurrent transactions",
)
def test_guesses_sent_at_once_get_no_more_free_tries_than_one_after_another_on_postgresql(app, factory, monkeypatch):
    """Each attempt read the source's failures before the (slow) password check and recorded its own
    only after it: guesses sent at the same moment all saw none, so a burst had every one of them
    checked instead of FREE_FAILURES. Now an attempt counts before its check; a success takes it back."""
    from training.accounts import services

    user = factory.trainee()
    email, stored_hash = user.email, user.password_hash
    guesses = throttle.FREE_FAILURES + 3
    checked: list[str] = []  # the guesses whose password was compared with the account's
    arrived: set[int] = set()
    finished: set[int] = set()
    real_verify = services._hasher.verify

    def verify(hashed, password):
        if hashed == stored_hash:
            checked.append(password)
            arrived.add(threading.get_ident())
            # hold this check until every other guess is at its own check or answered
            wait_until(lambda: len(arrived | finished) == guesses, "every guess checked or answered")
        return real_verify(hashed, password)

    monkeypatch.setattr(services._hasher, "verify", verify)
    statuses: list[int] = []

    def guess(n):
        try:
            statuses.append(_sign_in(app.test_client(), email, f"wrong guess {n}!", environ=STRANGER).status_code)
        finally:
            finished.add(threading.get_ident())

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(guesses)]
    for thread in threads:
        thread.start()
    join_all(threads)

    assert statuses == [200] * guesses  # every guess refused
    assert len(checked) == throttle.FREE_FAILURES
    assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == throttle.FREE_FAILURES
    monkeypatch.undo()
    assert _sign_in(app.test_client(), email, environ=STRANGER).status_code == 200  # this source waits now
    assert _sign_in(app.test_client(), email, environ=OWNER).status_code == 302  # the owner does not


def test_delays_grow_for_the_source_that_keeps_guessing(client, factory, clock):
    user = factory.trainee()
    for _ in range(throttle.FREE_FAILURES):
        _sign_in(client, user.email, "a wrong guess!", environ=STRANGER)
    waits = []
    for _ in range(6):
        waits.append(throttle.source_wait(throttle.account_key(user.email), STRANGER["REMOTE_ADDR"], clock()))
        clock.advance(seconds=waits[-1].total_seconds())
        _sign_in(client, user.email, "a wrong guess!", environ=STRANGER)
    assert [w.total_seconds() / 60 for w in waits] == [1, 2, 4, 8, 15, 15]


def test_one_ipv6_network_is_one_source(client, factory, clock):
    user = factory.trainee()
    for n in range(1, 40):  # a whole /64 belongs to one machine: rotating addresses buys nothing
        _sign_in(client, user.email, "a wrong guess!", environ={"REMOTE_ADDR": f"2001:db8:1:2::{n:x}"})
    assert db.session.scalar(select(func.count(func.distinct(LoginFailure.source)))) == 1
    assert _sign_in(client, user.email, environ={"REMOTE_ADDR": "2001:db8:1:2::beef"}).status_code == 200
    assert _sign_in(client, user.email, environ={"REMOTE_ADDR": "2001:db8:1:3::1"}).status_code == 302


def test_a_distributed_attack_locks_the_account_and_tells_the_owner_the_way_in(app, client, factory, clock, mailbox):
    user = factory.trainee()
    bots = [{"REMOTE_ADDR": f"192.0.2.{n}"} for n in range(1, throttle.DISTRIBUTED_SOURCES + 3)]
    for bot in bots:
        _sign_in(app.test_client(), user.email, "a wrong guess!", environ=bot)
    refused = _sign_in(client, user.email, environ=OWNER)  # the right password from the owner's own place
    assert refused.status_code == 200
    notices = mailbox()
    assert [m["To"] for m in notices] == [user.email]  # told once, however long it goes on
    body = notices[0].get_body(("plain",)).get_content()
    link = re.search(r"http://localhost/password/reset/\S+", body).group(0)
    new = "a new and long passphrase 7"
    assert client.post(urlsplit(link).path, data={"password": new, "confirm": new}).status_code == 302
    assert _sign_in(client, user.email, new, environ=OWNER).status_code == 302


def test_the_lock_ends_when_the_attack_stops(app, client, factory, clock):
    user = factory.trainee()
    for n in range(1, throttle.DISTRIBUTED_SOURCES + 1):
        _sign_in(app.test_client(), user.email, "a wrong guess!", environ={"REMOTE_ADDR": f"192.0.2.{n}"})
    assert _sign_in(client, user.email, environ=OWNER).status_code == 200
    clock.advance(minutes=16)
    assert _sign_in(client, user.email, environ=OWNER).status_code == 302


# --- registration ---------------------------------------------------------------------

NEW_PASSWORD = "Gear-box-2031!"


def _register(client, email, name="Mallory Smith"):
    return client.post(
        "/register", data={"name": name, "email": email, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )


def _flashes(client):
    with client.session_transaction() as session:
        return [(category, re.sub(r"\S+@\S+", "<email>", message)) for category, message in session.get("_flashes", ())]


def test_registration_answers_the_same_for_new_and_taken_addresses(app, factory, mailbox, monkeypatch):
    from training.accounts import services

    owner = factory.trainee()
    hashes = []
    real_hash = services._hasher.hash
    monkeypatch.setattr(services._hasher, "hash", lambda password: hashes.append(1) or real_hash(password))

    def attempt(email):
        hashes.clear()
        client = app.test_client()
        response = _register(client, email)
        return (
            response.status_code,
            response.location,
            _flashes(client),
            len(hashes),
            sorted(k for k in response.headers.keys() if k not in ("X-Request-Id", "Content-Length")),
        )

    taken, new = attempt(owner.email), attempt("newcomer@example.com")
    assert taken == new  # same status, place, message, headers and work (one argon2 hash each)
    assert new[0] == 302 and new[3] == 1
    assert db.session.scalar(select(func.count()).select_from(LoginSession)) == 0  # nobody was logged in
    mails = {m["To"]: m.get_body(("plain",)).get_content() for m in mailbox()}
    assert "You already have an account" in {m["Subject"] for m in mailbox() if m["To"] == owner.email}
    assert "/register/confirm/" not in mails[owner.email] and "http://localhost/login" in mails[owner.email]
    assert "http://localhost/register/confirm/" in mails["newcomer@example.com"]


def test_the_emailed_link_creates_the_account_once(app, client, mailbox):
    from training.accounts.models import User

    assert _register(client, "newcomer@example.com", name="欧阳晓燕").status_code == 302
    assert db.session.scalar(select(User).where(User.email == "newcomer@example.com")) is None
    body = mailbox()[-1].get_body(("plain",)).get_content()
    link = urlsplit(re.search(r"http://localhost/register/confirm/\S+", body).group(0)).path
    page = client.get(link)
    assert page.status_code == 200 and "欧阳晓燕" in page.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "newcomer@example.com")) is None  # a GET creates nothing
    created = client.post(link)
    assert created.status_code == 302 and client.get("/my/training").status_code == 200
    user = db.session.scalar(select(User).where(User.email == "newcomer@example.com"))
    assert user.display_name == "欧阳晓燕" and user.password_hash and NEW_PASSWORD not in user.password_hash
    again = app.test_client().post(link)  # a second click: the account exists, nothing new
    assert again.status_code == 302 and again.location.endswith("/login")
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    assert _sign_in(app.test_client(), "newcomer@example.com", NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize("token", ["nonsense", "A" * 5000, ""])
def test_a_forged_registration_link_creates_nothing(client, token):
    from training.accounts.models import User

    response = client.post(f"/register/confirm/{token}") if token else client.post("/register/confirm/x")
    assert response.status_code in (302, 404)
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_the_registration_link_expires(client, mailbox, monkeypatch):
    from training.accounts import services

    _register(client, "late@example.com")
    link = urlsplit(
        re.search(r"http://\S+/register/confirm/\S+", mailbox()[-1].get_body(("plain",)).get_content()).group(0)
    ).path
    monkeypatch.setattr(services, "REGISTRATION_MAX_AGE", -1)
    response = client.post(link)
    assert response.status_code == 302 and response.location.endswith("/register")


# --- other devices after a password change, a reset or logging out everywhere -------------------


def _change_password(device, user, mailbox):
    new = "a new and long passphrase 7"
    device.post("/account/password", data={"current": PASSWORD, "password": new, "confirm": new})


def _reset_password(device, user, mailbox):
    device.post("/password/forgot", data={"email": user.email})
    body = mailbox()[-1].get_body(("plain",)).get_content()
    link = urlsplit(re.search(r"https?://\S+/password/reset/\S+", body).group(0)).path
    new = "a new and long passphrase 7"
    assert device.post(link, data={"password": new, "confirm": new}).status_code == 302


def _logout_everywhere(device, user, mailbox):
    assert device.post("/account/logout-everywhere").status_code == 302


@pytest.mark.parametrize("end", [_change_password, _reset_password, _logout_everywhere])
def test_a_kept_login_on_another_device_ends_with_a_new_password_or_logging_out_everywhere(app, factory, mailbox, end):
    """The other device's session cookie and its remember cookie (the browser closed and opened again),
    and a copy of either taken before: none opens the account afterwards."""
    user = factory.trainee()
    laptop, phone = app.test_client(), app.test_client()
    assert _sign_in(laptop, user.email).status_code == 302
    assert _sign_in(phone, user.email, remember="y").status_code == 302
    session_cookie, remember_cookie = _cookie(phone, "session"), _cookie(phone, "remember_token")
    assert phone.get("/my/training").status_code == 200

    end(laptop, user, mailbox)

    assert phone.get("/my/training").status_code == 302
    for name, value in (("session", session_cookie), ("remember_token", remember_cookie)):
        copy = app.test_client()
        copy.set_cookie(name, value)
        assert copy.get("/my/training").status_code == 302, name


def test_logging_out_takes_a_post_and_a_get_changes_nothing(client, factory):
    user = factory.trainee()
    _sign_in(client, user.email, remember="y")
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        assert client.open("/logout", method=method).status_code == 405
    assert client.get("/my/training").status_code == 200  # still signed in
    assert client.post("/logout").status_code == 302
    assert client.get("/my/training").status_code == 302
    assert client.post("/logout").status_code == 302  # again, signed out: to the login page, nothing else
