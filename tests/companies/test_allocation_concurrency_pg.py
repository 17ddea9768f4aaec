"""Reserved seats hold under concurrency like capacity: 20 simultaneous
coordinator enrolments for 5 reserved seats through gunicorn on PostgreSQL
give exactly 5 confirmed and a clear 409 to the rest."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.enrolment.load_harness import Answer, LoadDatabase, Server, server_config

PG_URL = os.environ.get("TEST_DATABASE_URL")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set TEST_DATABASE_URL to run the concurrency proof"),
]


def _seed_company(database: LoadDatabase, workdir) -> tuple[str, int]:
    """A company with 5 reserved seats of the run (its whole capacity), a
    coordinator with a token, and 10 of its people (the other 10 addresses are new)."""
    from training import create_app
    from training.accounts.models import ApiToken, User
    from training.accounts.services import _token_hash
    from training.catalogue.models import SeatAllocation
    from training.companies.models import Company
    from training.extensions import db

    app = create_app(server_config(database.url, workdir))
    with app.app_context():
        company = Company(
            code="SZ-AUTO",
            name="Suzhou Auto Parts",
            address="",
            contact_name="",
            contact_email="",
            contact_phone="",
            tier="member",
            reviewed=True,
        )
        db.session.add(company)
        db.session.flush()
        coordinator = User(
            email="hr@sz-auto.example",
            display_name="HR Zhang",
            role="coordinator",
            active=True,
            session_version=1,
            company_id=company.id,
        )
        people = [
            User(
                email=f"worker{i}@sz-auto.example",
                display_name=f"工人 {i}",
                role="trainee",
                active=True,
                session_version=1,
                company_id=company.id,
            )
            for i in range(10)
        ]
        db.session.add_all([coordinator, *people])
        db.session.flush()
        token = "trn_" + uuid.uuid4().hex + uuid.uuid4().hex
        db.session.add(ApiToken(user_id=coordinator.id, token_hash=_token_hash(token), name="load"))
        db.session.add(
            SeatAllocation(run_id=database.run_id, company_id=company.id, seats=5, overflow=True, released_seats=0)
        )
        db.session.commit()
        company_id = company.id
        db.session.remove()
        db.engine.dispose()
    return token, company_id


def _post(base, run_id, token, email, timeout=60) -> Answer:
    data = json.dumps({"email": email, "name": "新同事 " + email.split("@")[0]}).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/runs/{run_id}/enrolments",
        data=data,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = {"raw": raw[:500].decode(errors="replace")}
    return Answer(status, body, time.perf_counter() - started, email)


@pytest.fixture
def company_server(tmp_path):
    database = LoadDatabase.create(PG_URL, capacity=5, trainees=0, workdir=tmp_path)
    token, company_id = _seed_company(database, tmp_path)
    server = Server(database.url, tmp_path, workers=4, threads=8)
    try:
        server.wait_ready()
        yield database, server, token, company_id
    finally:
        server.stop()
        database.drop()


def test_20_simultaneous_coordinator_enrolments_for_5_reserved_seats(company_server):
    database, server, token, company_id = company_server
    emails = [f"worker{i}@sz-auto.example" for i in range(10)] + [f"new{i}@sz-auto.example" for i in range(10)]
    barrier = threading.Barrier(len(emails) + 1, timeout=60)

    def one(email):
        barrier.wait()
        return _post(server.base, database.run_id, token, email)

    with ThreadPoolExecutor(max_workers=len(emails)) as pool:
        futures = [pool.submit(one, e) for e in emails]
        barrier.wait()
        answers = [f.result(timeout=90) for f in futures]

    statuses = sorted(a.status for a in answers)
    assert statuses == [201] * 5 + [409] * 15, (
        [a.body for a in answers if a.status not in (201, 409)][:3],
        server.read_log(),
    )
    assert all(
        a.body["status"] == "confirmed" and a.body["company_id"] == company_id for a in answers if a.status == 201
    )
    assert all(a.body["error"]["code"] == "no_company_seat" for a in answers if a.status == 409)
    rows = database.query("SELECT status, company_id FROM enrolments WHERE run_id = :r", r=database.run_id)
    assert sorted(r.status for r in rows) == ["confirmed"] * 5
    assert {r.company_id for r in rows} == {company_id}
    # Every new address made exactly one account, in the company, whether or not it got a seat.
    accounts = database.query("SELECT email, company_id FROM users WHERE email LIKE 'new%%@sz-auto.example'")
    assert len(accounts) == 10 and {a.company_id for a in accounts} == {company_id}
