"""One address, one account, one enrolment, whatever runs at the same moment:
on-behalf enrolments by admins (double clicks, two admins), JSON imports and
registrations of the same new address, all released at once on PostgreSQL.
Every answer is the enrolment, the same enrolment named in a clear 409, or an
import that reports the person as already there; never a 500."""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from tests.enrolment.load_harness import LoadDatabase, Server, _pg
from tests.toolkit import BARRIER_SECONDS, join_all

PG_URL = os.environ.get("TEST_DATABASE_URL")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set TEST_DATABASE_URL"),
]

NEW = "new.person@example.com"


def _admin_token(database: LoadDatabase) -> str:
    from training.accounts.services import _token_hash

    token = "trn_" + uuid.uuid4().hex + uuid.uuid4().hex
    engine = create_engine(_pg(database.url))
    try:
        with engine.begin() as conn:
            user_id = conn.execute(
                text(
                    "INSERT INTO users (email, display_name, role, active, session_version, failed_logins, created_at) "
                    "VALUES ('boss@example.com', 'Boss', 'admin', true, 1, 0, now()) RETURNING id"
                )
            ).scalar_one()
            conn.execute(
                text("INSERT INTO api_tokens (user_id, token_hash, name, created_at) VALUES (:u, :h, 'load', now())"),
                {"u": user_id, "h": _token_hash(token)},
            )
    finally:
        engine.dispose()
    return token


def _post(base: str, path: str, token: str, payload: dict, timeout: float = 60):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw or b"{}")
    except ValueError:
        return status, {"raw": raw[:300].decode(errors="replace")}


@pytest.fixture
def served(tmp_path):
    database = LoadDatabase.create(PG_URL, capacity=10, trainees=1, workdir=tmp_path)
    server = Server(database.url, tmp_path, workers=3, threads=8)
    try:
        server.wait_ready()
        yield database, server, _admin_token(database)
    finally:
        server.stop()
        database.drop()


def test_thirty_simultaneous_enrolments_of_one_new_address_make_one_account_and_one_enrolment(served):
    database, server, token = served
    run = database.run_id
    calls = []
    for i in range(24):  # double clicks and a second admin, some typing the address differently
        email = NEW if i % 3 else "New.Person@Example.COM"
        calls.append(("person", f"/api/v1/runs/{run}/enrolments", {"email": email, "name": "New Person"}))
    for i in range(6):  # imports of a list holding the same person (and one more each)
        calls.append(
            (
                "import",
                f"/api/v1/runs/{run}/enrolments/import",
                {
                    "trainees": [
                        {"email": NEW, "name": "New Person"},
                        {"email": f"colleague{i}@example.com", "name": f"Colleague {i}"},
                    ]
                },
            )
        )
    barrier = threading.Barrier(len(calls), timeout=60)

    def one(call):
        kind, path, payload = call
        barrier.wait()
        return kind, *_post(server.base, path, token, payload)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        answers = list(pool.map(one, calls))

    assert all(status < 500 for _k, status, _b in answers), (answers, server.read_log())
    rows = database.query("SELECT id FROM users WHERE email = :e", e=NEW)
    assert len(rows) == 1
    user_id = rows[0].id
    enrolments = database.query(
        "SELECT id, status FROM enrolments WHERE run_id = :r AND user_id = :u", r=run, u=user_id
    )
    assert len(enrolments) == 1 and enrolments[0].status == "confirmed"
    enrolment_id = enrolments[0].id

    people = [(status, body) for kind, status, body in answers if kind == "person"]
    assert {status for status, _b in people} <= {201, 409}
    for status, body in people:
        if status == 201:
            assert body["id"] == enrolment_id
        else:
            assert body["error"]["code"] == "already_enrolled"
            assert body["error"]["enrolment_id"] == enrolment_id
    imported = [body for kind, status, body in answers if kind == "import" and status == 200]
    assert len(imported) == 6, answers
    assert all(not body["errors"] for body in imported)
    # the person was enrolled exactly once: by one on-behalf call or by one import
    enrolled_by_import = sum(1 for body in imported if body["enrolled"] == 2)
    assert sum(1 for status, _b in people if status == 201) + enrolled_by_import == 1
    # every colleague was enrolled by their own import; accounts are counted once
    assert len(database.query("SELECT id FROM users WHERE email LIKE 'colleague%'")) == 6
    assert sum(body["accounts_created"] for body in imported) <= 7
    # The account was made exactly once: by an on-behalf enrolment (an audit entry of its own) or by an
    # import (counted in that import's accounts_created beside its own colleague; no entry per account).
    creations = database.query(
        "SELECT count(*) AS n FROM audit_log WHERE action = 'user.create' AND detail LIKE :d", d=f"{NEW}%"
    )
    made_by_imports = sum(body["accounts_created"] for body in imported) - 6
    assert made_by_imports in (0, 1)
    assert creations[0].n + made_by_imports == 1


def test_simultaneous_registrations_of_one_address_give_one_account(app):
    """Ten people registering the same address at once (threads, each with its
    own session): one account, nine clear refusals, no 500."""
    from training.accounts import services as accounts
    from training.errors import Conflict
    from training.extensions import db

    db.session.remove()
    barrier = threading.Barrier(10)
    outcomes = []

    def register(i):
        with app.app_context():
            try:
                barrier.wait(timeout=BARRIER_SECONDS)
                accounts.create_user(
                    email="Same.Person@example.com",
                    name=f"Person {i}",
                    password="a long enough passphrase",
                    check_strength=False,
                )
                outcomes.append("created")
            except Conflict as exc:
                outcomes.append(exc.code)
            except Exception as exc:  # asserted below
                outcomes.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=register, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    join_all(threads)
    assert sorted(outcomes) == ["created"] + ["email_taken"] * 9
    from training.accounts.models import User

    assert db.session.query(User).filter_by(email="same.person@example.com").count() == 1


PEOPLE = 12  # fewer than the connection pool (5 + 10 overflow)


def test_registration_page_race_answers_the_same_refusal(app):
    """The registration form itself, twelve submissions at once, then the
    e-mailed link opened twelve times at once: every submission gets the same
    answer, and there is one account. (Twelve: fewer than the connection
    pool's 15, so no request waits for a connection on a loaded machine.)"""
    import re
    from email import message_from_bytes, policy
    from pathlib import Path
    from urllib.parse import urlsplit

    from training.accounts.models import User
    from training.extensions import db

    db.session.remove()
    barrier = threading.Barrier(PEOPLE)
    statuses = []

    def submit(i):
        client = app.test_client()
        barrier.wait(timeout=BARRIER_SECONDS)
        response = client.post(
            "/register",
            data={
                "email": "racer@example.com",
                "name": f"Racer {i}",
                "password": "Tr41ning-platform!",
                "confirm": "Tr41ning-platform!",
                "password2": "Tr41ning-platform!",
            },
        )
        statuses.append((response.status_code, response.location))

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(PEOPLE)]
    for t in threads:
        t.start()
    join_all(threads)
    assert statuses == [(302, "/login")] * PEOPLE, statuses
    mails = [
        message_from_bytes(p.read_bytes(), policy=policy.default) for p in Path(app.config["MAIL_DIR"]).glob("*.eml")
    ]
    links = [
        urlsplit(re.search(r"http://\S+/register/confirm/\S+", m.get_body(("plain",)).get_content()).group(0)).path
        for m in mails
    ]
    assert len(links) == PEOPLE

    barrier = threading.Barrier(PEOPLE)
    confirmed = []

    def confirm(link):
        client = app.test_client()
        barrier.wait(timeout=BARRIER_SECONDS)
        confirmed.append(client.post(link).status_code)

    threads = [threading.Thread(target=confirm, args=(link,)) for link in links]
    for t in threads:
        t.start()
    join_all(threads)
    assert confirmed == [302] * PEOPLE, confirmed
    with app.app_context():
        assert db.session.query(User).filter_by(email="racer@example.com").count() == 1
