"""Work that is never lost: the transactional outbox, jobs that survive their
runner, and pages that answer normally while Redis or the database is down."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.certificates.conftest import completed_run
from tests.conftest import api, login, make_test_app
from tests.factories import Factory
from tests.toolkit import wait_until
from training import jobs, mail, outbox
from training.certificates.models import Certificate
from training.extensions import db, limiter
from training.types import utcnow


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def _rows(state=None):
    stmt = select(outbox.OutboxMessage)
    if state:
        stmt = stmt.where(outbox.OutboxMessage.state == state)
    rows = list(db.session.scalars(stmt))
    db.session.rollback()
    return rows


def test_mail_is_written_in_the_transaction_and_sent_after_commit(app, factory, mailbox):
    user = factory.trainee()
    mail.queue(mail.build(user.email, "Reset your password", "password_reset", user=user, url="http://localhost/x"))
    assert mailbox() == []  # not committed yet: nothing sent
    assert [type(o).__name__ for o in db.session.new] == ["OutboxMessage"]  # a row of this transaction
    db.session.commit()
    (row,) = _rows()
    assert row.state == "done" and row.key.startswith("mail:") and row.recipient == user.email
    assert len(mailbox()) == 1


def test_rolled_back_mail_is_never_sent(app, factory, mailbox):
    user = factory.trainee()
    mail.queue(mail.build(user.email, "Reset your password", "password_reset", user=user, url="http://localhost/x"))
    db.session.rollback()
    db.session.commit()
    assert _rows() == [] and mailbox() == []


def test_a_row_is_claimed_by_one_relay_only(app):
    outbox._insert(
        [
            {
                "key": "mail:one",
                "kind": "mail",
                "name": "mail",
                "recipient": "a@example.com",
                "payload": b"To: a@example.com\nSubject: x\n\nhello\n",
            }
        ]
    )
    row_id = db.session.scalar(select(outbox.OutboxMessage.id))
    db.session.rollback()
    assert outbox.claim(row_id) is True
    assert outbox.claim(row_id) is False  # a second relay finds it taken
    assert outbox.relay(now=utcnow() + timedelta(hours=1))["sent"] == 1  # the lease ran out: delivered once
    assert outbox.relay(now=utcnow() + timedelta(hours=1))["sent"] <= 1
    assert outbox.relay(now=utcnow() + timedelta(hours=2))["sent"] == 0


def test_the_same_key_is_stored_once(app):
    row = {"key": "job:x/1", "kind": "mail", "name": "mail", "recipient": None, "payload": b"To: a@example.com\n\nx"}
    outbox._insert([row])
    outbox._insert([row])
    assert db.session.scalar(select(func.count()).select_from(outbox.OutboxMessage)) == 1


def test_a_job_that_sends_the_same_mail_again_sends_it_once(app, factory, mailbox):
    user = factory.trainee()
    raw = mail.build(
        user.email, "Reset your password", "password_reset", user=user, url="http://localhost/x"
    ).as_bytes()
    again = raw.replace(b"Message-ID: <", b"Message-ID: <other")
    for payload in (raw, again):  # a job run twice (after a crash) renders the message twice
        with outbox.collecting("job:abc"):
            mail.send_messages(None, [payload])
    assert len(_rows()) == 1 and len(mailbox()) == 1


def test_fire_and_forget_never_raises(app, factory, monkeypatch, caplog):
    def broken(rows):
        raise RuntimeError("database gone")

    monkeypatch.setattr(outbox, "_insert", broken)
    jobs.fire_and_forget("send_mail", messages=[b"To: a@example.com\n\nx"])
    jobs.fire_and_forget("enrolment_notify", enrolment_ids=[1], kind="reminder")
    assert "could not record background work" in caplog.text


def test_backoff_grows_and_is_capped():
    waits = [outbox.backoff(n).total_seconds() for n in range(1, 20)]
    assert waits == sorted(waits) and waits[0] == 10 and waits[-1] == 3600


def test_job_progress_tells_the_truth(app, client, factory):
    admin = factory.admin()
    app.config["CERT_SYNC_LIMIT"] = 2
    run, _ = completed_run(factory, ["A One", "B Two", "C Three"])
    response = api(client, admin).post(f"/api/v1/runs/{run.id}/certificates", json={"email": True})
    assert response.status_code == 202
    job = api(client, admin).get(response.headers["Location"]).get_json()
    assert job["state"] == "finished" and job["result"]["emailed"] == 3
    assert (job["done"], job["total"], job["stage"]) == (3, 3, "emailing")  # not 6/6 for three certificates


def test_a_job_whose_runner_died_is_finished_by_the_reaper_exactly_once(app, factory, mailbox):
    """The worker died after issuing and e-mailing one holder: the reaper hands
    the job out again and it finishes the rest, nothing twice."""
    from training.certificates import services

    admin = factory.admin()
    run, _ = completed_run(factory, ["A One", "B Two", "C Three"])
    services.issue_for_run(admin, run.id)
    first = db.session.scalars(select(Certificate).order_by(Certificate.id)).first()
    first.emailed_at = utcnow()
    mail.queue(
        mail.build(
            "a@example.com",
            "Your certificate: %(course)s",
            "certificate_issued",
            user=admin,
            certificate=first,
            course="x",
            verify_url="http://localhost/v",
            display_code="X",
        )
    )
    db.session.commit()
    assert len(mailbox()) == 1
    dead = jobs.Job(
        id="00000000-0000-0000-0000-000000000001",
        kind="certificates.issue_run",
        state="running",
        attempts=1,
        lease_until=utcnow() - timedelta(seconds=1),
        done=1,
        total=3,
        stage="emailing",
        args_json=json.dumps({"run_id": run.id, "actor_id": admin.id, "email": True}),
    )
    db.session.add(dead)
    db.session.commit()
    assert jobs.reap() == {"requeued": 1, "failed": 0}
    db.session.expire_all()
    job = db.session.get(jobs.Job, dead.id)
    assert job.state == "finished" and job.attempts == 2 and job.result["emailed"] == 2
    assert job.result["issued"] == []
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 3
    assert len(mailbox()) == 3
    assert jobs.reap() == {"requeued": 0, "failed": 0}


def test_a_job_that_keeps_dying_is_given_up(app, factory):
    dead = jobs.Job(
        id="00000000-0000-0000-0000-000000000002",
        kind="certificates.issue_run",
        state="running",
        attempts=3,
        lease_until=utcnow() - timedelta(seconds=1),
        args_json="{}",
    )
    db.session.add(dead)
    db.session.commit()
    assert jobs.reap() == {"requeued": 0, "failed": 1}
    db.session.expire_all()
    assert db.session.get(jobs.Job, dead.id).state == "failed"


def test_a_job_taken_by_another_runner_is_not_run_twice(app, factory):
    job = jobs.Job(
        id="00000000-0000-0000-0000-000000000003",
        kind="send_reminders",
        state="running",
        attempts=1,
        lease_until=utcnow() + timedelta(minutes=1),
        args_json="{}",
    )
    db.session.add(job)
    db.session.commit()
    jobs.run(job.id)
    db.session.expire_all()
    assert db.session.get(jobs.Job, job.id).state == "running" and job.attempts == 1


@pytest.fixture
def redis_down_app(tmp_path, pg_database):
    """Production settings with Redis unreachable: RQ jobs, rate limits in Redis."""
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    app = make_test_app(
        tmp_path,
        pg_database,
        REDIS_URL=url,
        JOBS_MODE="rq",
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=url,
        RATELIMIT_STORAGE_OPTIONS={"socket_connect_timeout": 1},
        RATELIMIT_KEY_PREFIX="redis-down",
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_login_and_enrolment_answer_normally_while_redis_is_down(redis_down_app):
    app = redis_down_app
    assert limiter.enabled
    factory = Factory()
    trainee = factory.trainee()
    run = factory.run(capacity=5)
    client = app.test_client()
    wrong = client.post("/login", data={"email": trainee.email, "password": "wrong"})
    assert wrong.status_code == 200  # the form again, with its message; never a 500
    right = client.post("/login", data={"email": trainee.email, "password": "password-123"})
    assert right.status_code in (200, 302)
    login(client, trainee)
    enrol = client.post(f"/runs/{run.id}/enrol")
    assert enrol.status_code == 302
    db.session.expire_all()
    from training.enrolment.models import Enrolment

    assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 1
    db.session.rollback()
    # The confirmation is sent by the web process's relay, without Redis: wait until the relay has marked it
    # done (it writes the message first, then marks the row; reading between the two is not a failure).
    wait_until(lambda: [r.state for r in _rows()] == ["done"], "the relay delivering the confirmation")
    folder = Path(app.config["MAIL_DIR"])
    assert len(list(folder.glob("*.eml"))) == 1


def test_a_job_waits_while_redis_is_down_and_is_handed_out_later(redis_down_app, monkeypatch):
    admin = Factory().admin()
    job = jobs.submit("send_reminders", created_by=admin, hours_before=1)  # Redis refuses: no exception
    db.session.expire_all()
    assert db.session.get(jobs.Job, job.id).state == "queued"
    handed = []
    monkeypatch.setattr(jobs, "enqueue_rq", lambda func, *args, job_id=None: handed.append(args))
    assert jobs.reap(utcnow() + jobs.QUEUE_GRACE + timedelta(seconds=1)) == {"requeued": 1, "failed": 0}
    assert handed and handed[0][0] == job.id


def test_database_errors_answer_503_not_500(tmp_path):
    from training import create_app

    port = _closed_port()
    broken = create_app(
        {
            "TESTING": True,
            "CATCH_IN_TESTS": True,
            "SECRET_KEY": "x",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "MAIL_DIR": str(tmp_path / "mail"),
            "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{port}/x?connect_timeout=2",
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": False},
        }
    )
    client = broken.test_client()
    page = client.get("/")
    assert page.status_code == 503 and page.headers["Retry-After"]
    answer = client.get("/api/v1/courses")
    assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "service_unavailable"
    assert client.post("/login", data={"email": "a@example.com", "password": "x"}).status_code == 503


def test_a_signed_in_visitor_gets_the_503_page_when_the_database_goes_away_mid_request(
    tmp_path, pg_database, monkeypatch
):
    """The database fails after the user was read (a restart during the request): the 503 page's layout
    and the request log do not read the user again (which failed once more and made it a 500)."""
    from sqlalchemy.exc import OperationalError

    from training.catalogue import routes as catalogue_routes

    app = make_test_app(tmp_path, pg_database, CATCH_IN_TESTS=True, RAISE_UNEXPECTED_ERRORS=False)
    with app.app_context():
        user = Factory().trainee()
        client = login(app.test_client(), user)
        assert client.get("/").status_code == 200

        def database_gone(*_args, **_kwargs):
            def refused():
                raise OperationalError("connect", {}, OSError("connection refused"))

            db.session.rollback()  # what a failed statement leaves behind: the user's row expired
            monkeypatch.setattr(db.engine.pool, "connect", refused)  # and the server gone
            raise OperationalError("SELECT", {}, OSError("terminating connection due to administrator command"))

        monkeypatch.setattr(catalogue_routes, "render_template", database_gone)
        page = client.get("/")
        assert page.status_code == 503 and page.headers["Retry-After"] == "5"
        assert b"briefly unavailable" in page.data
        db.session.remove()


def test_production_refuses_to_start_without_shared_state(monkeypatch, pg_database):
    from training import create_app

    for name in ("SECRET_KEY", "SIGNING_DIR", "DOCUMENT_DIR", "ALLOW_LOCAL_STATE"):
        monkeypatch.delenv(name, raising=False)
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/unused"
    with pytest.raises(RuntimeError, match="SECRET_KEY, SIGNING_DIR, DOCUMENT_DIR"):
        create_app({"SQLALCHEMY_DATABASE_URI": url})
    monkeypatch.setenv("SECRET_KEY", "k")
    monkeypatch.setenv("SIGNING_DIR", "/srv/shared/signing")
    monkeypatch.setenv("DOCUMENT_DIR", "/srv/shared/documents")
    assert create_app({"SQLALCHEMY_DATABASE_URI": url}) is not None
    monkeypatch.delenv("SIGNING_DIR")
    monkeypatch.setenv("ALLOW_LOCAL_STATE", "1")
    assert create_app({"SQLALCHEMY_DATABASE_URI": url}) is not None


def test_openapi_documents_the_202_of_issuing(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    responses = doc["paths"]["/runs/{run_id}/certificates"]["post"]["responses"]
    assert "202" in responses and "Location" in responses["202"]["headers"]
    assert responses["202"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/IssueStarted"}
