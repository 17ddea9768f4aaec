"""Accounts under attack: open redirects after login, session fixation,
guessing passwords, finding out who has an account, password resets, weak
passwords, and revoking sessions and tokens."""

from __future__ import annotations

import os
import re
import threading
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tests.conftest import api
from tests.factories import PASSWORD
from tests.toolkit import join_all, lock_waiters, wait_until
from training.accounts import services, throttle
from training.accounts.models import ApiToken, User
from training.extensions import db
from training.web import safe_next

EVIL_NEXT = [
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "///evil.example",
    "////evil.example",
    "https:evil.example",
    "https:/evil.example",
    "http://evil.example",
    "https://evil.example/path",
    "HTTPS://evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "%5C%5Cevil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    " //evil.example",
    "\x00//evil.example",
    "//evil.example@localhost",
    "http://localhost@evil.example",
    "/.//evil.example"[1:],
    "evil.example",
    "//%65vil.example",
    "／／evil.example",
    "//evil.example:80/",
    "ftp://evil.example",
]


def _lands_off_site(location: str | None) -> bool:
    """Where would a browser go? It strips tabs and newlines and reads \\ as /."""
    if not location:
        return False
    browser = re.sub(r"[\t\r\n]", "", location).replace("\\", "/").strip()
    parts = urlsplit(browser)
    if parts.scheme and parts.scheme not in ("http", "https"):
        return True  # javascript:, data:, ...
    return parts.netloc not in ("", "localhost")


def _post_login(client, email, password=PASSWORD, **extra):
    return client.post("/login", data={"email": email, "password": password, **extra})


@pytest.mark.parametrize("target", EVIL_NEXT)
def test_login_next_never_leads_off_site(client, factory, target):
    user = factory.trainee()
    response = _post_login(client, user.email, next=target)
    assert response.status_code in (302, 400)  # a NUL byte is a bad request
    assert not _lands_off_site(response.location), response.location
    assert safe_next(target) is None or not _lands_off_site(safe_next(target))


@pytest.mark.parametrize("target", EVIL_NEXT[:12])
def test_other_next_parameters_stay_on_site(client, target):
    response = client.get("/lang/zh", query_string={"next": target})
    assert response.status_code == 302 and not _lands_off_site(response.location), response.location
    response = client.get("/login", query_string={"next": target})
    assert response.status_code == 200


def test_local_next_is_followed(client, factory):
    user = factory.trainee()
    response = _post_login(client, user.email, next="/my/certificates?page=2")
    assert response.location == "/my/certificates?page=2"


def test_fresh_session_at_login(app, client, factory):
    user = factory.trainee()
    client.get("/lang/zh")  # now the visitor has a session cookie
    before = client.get_cookie("session").value
    response = _post_login(client, user.email)
    assert response.status_code == 302
    after = client.get_cookie("session").value
    assert after != before
    assert client.get("/my/training").status_code == 200
    # The cookie from before login (which an attacker could have planted) carries no login.
    attacker = app.test_client()
    attacker.set_cookie("session", before)
    assert attacker.get("/my/training").status_code == 302
    # The language chosen before login survives; nothing else does.
    assert '<html lang="zh-CN">' in client.get("/my/training").get_data(as_text=True)


def test_repeated_failures_make_that_source_wait_a_while(client, factory, clock):
    user = factory.trainee()
    for _ in range(throttle.FREE_FAILURES):
        assert _post_login(client, user.email, "wrong password!").status_code == 200
    held = _post_login(client, user.email)  # the right password, but this source must wait
    assert held.status_code == 200 and "not right, or the account is locked" in held.get_data(as_text=True)
    assert client.get("/my/training").status_code == 302
    clock.advance(minutes=1)  # the wait has run out
    assert _post_login(client, user.email).status_code == 302


def test_login_says_nothing_about_which_emails_exist(app, client, factory, monkeypatch):
    user = factory.trainee()
    calls = []
    real_verify = services._hasher.verify

    def counting_verify(hashed, password):
        calls.append(hashed)
        return real_verify(hashed, password)

    monkeypatch.setattr(services._hasher, "verify", counting_verify)

    def attempt(email, password):
        calls.clear()
        response = _post_login(app.test_client(), email, password)
        body = response.get_data(as_text=True)
        message = re.search(r'<div class="alert[^>]*>\s*(.*?)\s*<', body, re.S).group(1)
        return response.status_code, message, len(calls)

    unknown = attempt("nobody@example.com", "whatever password")
    wrong = attempt(user.email, "whatever password")
    assert unknown == wrong  # same status, same words, same work (one argon2 verification)
    assert unknown[2] == 1
    for _ in range(throttle.FREE_FAILURES):
        attempt(user.email, "whatever password")
    assert attempt(user.email, PASSWORD) == wrong  # held back looks the same too
    for _ in range(throttle.FREE_FAILURES):
        attempt("nobody@example.com", "whatever password")
    assert attempt("nobody@example.com", PASSWORD) == wrong  # and unknown addresses are held back alike


def test_forgot_password_says_the_same_for_unknown_addresses(client, factory, mailbox):
    user = factory.trainee()
    known = client.post("/password/forgot", data={"email": user.email}, follow_redirects=True)
    unknown = client.post("/password/forgot", data={"email": "nobody@example.com"}, follow_redirects=True)
    assert known.status_code == unknown.status_code == 200
    strip = lambda r: re.sub(r'value="[^"]*"', "", r.get_data(as_text=True))  # noqa: E731 - a one-line local helper
    assert strip(known) == strip(unknown)
    assert [m["To"] for m in mailbox()] == [user.email]


def _reset_link(mailbox) -> str:
    body = mailbox()[-1].get_body(("plain",)).get_content()
    return urlsplit(re.search(r"https?://\S+/password/reset/\S+", body).group(0)).path


def test_password_reset_by_emailed_single_use_token(app, client, factory, mailbox):
    user = factory.trainee()
    other_device = app.test_client()
    assert _post_login(other_device, user.email).status_code == 302
    client.post("/password/forgot", data={"email": user.email})
    link = _reset_link(mailbox)
    assert client.get(link).status_code == 200
    weak = client.post(link, data={"password": "password123", "confirm": "password123"})
    assert weak.status_code == 200 and "too common" in weak.get_data(as_text=True)
    new = "a new and long passphrase 7"
    done = client.post(link, data={"password": new, "confirm": new})
    assert done.status_code == 302 and done.location.endswith("/login")
    # Single use: the link is spent once the password changed.
    again = client.get(link)
    assert again.status_code == 302 and "/password/forgot" in again.location
    assert (
        client.post(
            link, data={"password": "yet another passphrase 8", "confirm": "yet another passphrase 8"}
        ).status_code
        == 302
    )
    assert _post_login(app.test_client(), user.email, "yet another passphrase 8").status_code == 200
    assert _post_login(app.test_client(), user.email, new).status_code == 302
    # The reset ended the sessions that were open.
    assert other_device.get("/my/training").status_code == 302


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="needs PostgreSQL (set TEST_DATABASE_URL) for truly concurrent transactions",
)
def test_one_reset_link_used_twice_at_once_sets_one_password_on_postgresql(app, factory, mailbox, monkeypatch):
    """The link is single use also when it is replayed while the first use is being written: the second
    read the account before the first committed, passed the link's check and set its own password after
    the first (both people were told 'Your password is set'; only the second one's worked)."""
    user = factory.trainee()
    app.test_client().post("/password/forgot", data={"email": user.email})
    link = _reset_link(mailbox)
    first_password, second_password = "the first new passphrase 1", "the second new passphrase 2"
    responses: dict[str, object] = {}
    first = threading.current_thread()

    def replay():
        responses["second"] = app.test_client().post(
            link, data={"password": second_password, "confirm": second_password}
        )

    second = threading.Thread(target=replay)
    forget_account = throttle.forget_account

    def meanwhile(key):  # inside the first reset: the new password written, not committed
        forget_account(key)
        if threading.current_thread() is first and second.ident is None:
            db.session.flush()
            second.start()
            wait_until(lambda: not second.is_alive() or lock_waiters() > 0, "the replay ends or waits")

    monkeypatch.setattr(throttle, "forget_account", meanwhile)
    try:
        responses["first"] = app.test_client().post(link, data={"password": first_password, "confirm": first_password})
    finally:
        join_all([second] if second.ident is not None else [])
    monkeypatch.undo()

    assert responses["first"].status_code == 302 and responses["first"].location.endswith("/login")
    assert responses["second"].status_code == 302 and "/password/forgot" in responses["second"].location
    assert _post_login(app.test_client(), user.email, first_password).status_code == 302
    assert _post_login(app.test_client(), user.email, second_password).status_code == 200


def test_password_reset_link_expires(client, factory, mailbox, monkeypatch):
    user = factory.trainee()
    client.post("/password/forgot", data={"email": user.email})
    link = _reset_link(mailbox)
    monkeypatch.setattr(services, "RESET_MAX_AGE", -1)  # as if the hour had passed
    response = client.get(link)
    assert response.status_code == 302 and "/password/forgot" in response.location
    assert (
        client.post(
            link, data={"password": "a new and long passphrase 7", "confirm": "a new and long passphrase 7"}
        ).status_code
        == 302
    )
    assert _post_login(client, user.email).status_code == 302  # the old password still works


def test_tampered_reset_token_is_refused(client, factory):
    user = factory.trainee()
    token = services.password_reset_token(user)
    assert client.get(f"/password/reset/{token[:-2]}xx").status_code == 302
    assert client.get("/password/reset/" + "A" * 5000).status_code in (302, 404)


@pytest.mark.parametrize(
    "password, problem",
    [
        ("short1", "between 10 and 256"),
        ("password123", "too common"),
        ("aaaaaaaaaaaa", "too simple"),
        ("mallory.smith-2024", "e-mail address"),
    ],
)
def test_weak_passwords_are_refused_at_registration(client, password, problem):
    response = client.post(
        "/register",
        data={"name": "Mallory Smith", "email": "mallory.smith@example.com", "password": password, "confirm": password},
    )
    assert response.status_code == 200 and problem in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "mallory.smith@example.com")) is None


def test_changing_the_password_checks_strength_and_ends_other_sessions(app, client, factory):
    user = factory.trainee()
    other_device = app.test_client()
    _post_login(other_device, user.email)
    _post_login(client, user.email)
    client.post("/account/password", data={"current": PASSWORD, "password": "password123", "confirm": "password123"})
    assert other_device.get("/my/training").status_code == 200  # refused change: nothing ended
    new = "a new and long passphrase 7"
    client.post("/account/password", data={"current": PASSWORD, "password": new, "confirm": new})
    assert client.get("/my/training").status_code == 200  # this session goes on
    assert other_device.get("/my/training").status_code == 302


def test_user_revokes_one_api_token(client, factory):
    user = factory.trainee()
    _post_login(client, user.email)
    page = client.post("/account/tokens", data={"name": "MES"}, follow_redirects=True).get_data(as_text=True)
    token = re.search(r"trn_[A-Za-z0-9_\-]+", page).group(0)
    headers = {"Authorization": f"Bearer {token}"}
    anonymous = client.application.test_client()
    assert anonymous.get(f"/api/v1/enrolments/{999}", headers=headers).status_code == 404  # accepted: 404, not 401
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert row.token_hash != token and token not in row.token_hash  # only a hash is stored
    client.post(f"/account/tokens/{row.id}/revoke")
    assert anonymous.get("/api/v1/enrolments/999", headers=headers).status_code == 401


def test_nobody_revokes_someone_elses_token(client, factory):
    owner, mallory = factory.trainee(), factory.trainee()
    caller = api(client, owner)
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == owner.id))
    _post_login(client, mallory.email)
    client.post(f"/account/tokens/{row.id}/revoke")
    db.session.refresh(row)
    assert row.revoked_at is None
    assert caller.get("/api/v1/enrolments/999").status_code == 404


def test_logout_everywhere_ends_sessions_and_tokens(app, client, factory):
    user = factory.trainee()
    caller = api(app.test_client(), user)
    phone, laptop = app.test_client(), app.test_client()
    _post_login(phone, user.email)
    _post_login(laptop, user.email)
    stolen = laptop.get_cookie("session").value
    assert laptop.post("/account/logout-everywhere").status_code == 302
    assert phone.get("/my/training").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/my/training").status_code == 302
    assert caller.get("/api/v1/enrolments/999").status_code == 401
    assert _post_login(app.test_client(), user.email).status_code == 302  # the password still works


# --- names: what certificates print ---------------------------------------------------------

INVISIBLE_OR_CONTROL_NAMES = [
    "\u200f\u200b",  # a right-to-left mark and a zero-width space: nothing to read
    "\u200d\u2060\ufeff",
    "Anna\x07 Müller",  # a control character (the bell)
    "Anna\x7f",
    "Anna\x9bx",  # a C1 control
    "\u202eAnna Müller",  # right-to-left override: the name would print reversed
    "Li \u2066Lei\u2069",  # an isolate
    "\u202aAnna",
]
READABLE_NAMES = ["欧阳晓燕", "محمد عبد الله", "Zoë O'Brien-Łukasz", "\u200fمحمد", "می\u200cخواهم", "Nguyễn Văn An"]


@pytest.mark.parametrize("name", INVISIBLE_OR_CONTROL_NAMES)
def test_a_name_without_a_readable_character_or_with_control_characters_is_refused_everywhere(client, factory, name):
    """The holder's name is printed on certificates and shown on the public verification page: one of
    only invisible characters printed a blank name, control characters went into the PDF, and a
    direction override showed another name than the one stored. The account settings, registration, an
    admin's edit and a certificate's reissue all refuse it (one rule: accounts.services.clean_name)."""
    from tests.certificates.conftest import completed_run
    from tests.conftest import login
    from training.admin import services as admin_services
    from training.certificates import services as certificates
    from training.certificates.models import Certificate
    from training.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        services.clean_name(name)
    admin = factory.admin()
    run, (enrolment,) = completed_run(factory, ["Anna Müller"])
    trainee = enrolment.user
    login(client, trainee)
    page = client.post("/account", data={"name": name, "company": "", "phone": "", "locale": ""})
    assert page.status_code == 200
    db.session.expire_all()
    assert db.session.get(User, trainee.id).display_name == "Anna Müller"
    registered = app_client = client.application.test_client()
    registered = app_client.post(
        "/register",
        data={
            "name": name,
            "email": "newcomer@example.com",
            "password": "a long passphrase 42",
            "confirm": "a long passphrase 42",
        },
    )
    assert registered.status_code == 200
    with pytest.raises(ValidationFailed):
        admin_services.update_user(admin, trainee, name=name, role="trainee", company=None, phone=None, active=True)
    (issued,) = certificates.issue_for_run(admin, run.id)["issued"]
    reissue = api(client, admin).post(f"/api/v1/certificates/{issued['code']}/reissue", json={"holder_name": name})
    assert reissue.status_code == 422 and "holder_name" in reissue.get_json()["error"]["fields"]
    db.session.expire_all()
    assert [c.holder_name for c in db.session.scalars(select(Certificate))] == ["Anna Müller"]


def test_names_in_every_script_with_their_joiners_and_marks_are_kept(client, factory):
    from tests.certificates.conftest import completed_run

    admin = factory.admin()
    run, _ = completed_run(factory, ["Anna Müller"])
    (issued,) = services_issue(admin, run)
    code = issued["code"]
    for name in READABLE_NAMES:
        assert services.clean_name(f"  {name}  ") == name
        response = api(client, admin).post(f"/api/v1/certificates/{code}/reissue", json={"holder_name": name})
        assert response.status_code == 201 and response.get_json()["holder_name"] == name
        code = response.get_json()["code"]


def services_issue(admin, run):
    from training.certificates import services as certificates

    return certificates.issue_for_run(admin, run.id)["issued"]
