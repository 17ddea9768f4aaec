"""The proof that a run is never oversold: simultaneous enrolments through the
real HTTP stack (gunicorn, several workers and threads) on PostgreSQL."""

import os

import pytest

from tests.enrolment.load_harness import LoadDatabase, Server, fire
from tests.toolkit import BARRIER_SECONDS, join_all

PG_URL = os.environ.get("TEST_DATABASE_URL")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set TEST_DATABASE_URL to run the concurrency proof"),
]


@pytest.fixture
def load_server(tmp_path):
    database = LoadDatabase.create(PG_URL, capacity=10, trainees=100, workdir=tmp_path)
    server = Server(database.url, tmp_path, workers=4, threads=8)
    try:
        server.wait_ready()
        yield database, server
    finally:
        server.stop()
        database.drop()


def test_100_simultaneous_enrolments_and_20_repeats_never_oversell(load_server):
    database, server = load_server
    tokens = database.tokens + [database.repeat_token] * 20
    assert len(database.tokens) == 100
    answers, _wall = fire(server.base, database.run_id, tokens)

    statuses = sorted({a.status for a in answers})
    assert set(statuses) <= {201, 409}, (
        statuses,
        [a.body for a in answers if a.status not in (201, 409)][:3],
        server.read_log(),
    )
    assert all(a.status == 201 for a in answers if a.token != database.repeat_token)

    repeats = [a for a in answers if a.token == database.repeat_token]
    assert sorted(a.status for a in repeats) == [201] + [409] * 19
    conflicts = [a for a in repeats if a.status == 409]
    created = next(a for a in repeats if a.status == 201)
    assert all(a.body["error"]["code"] == "already_enrolled" for a in conflicts)
    assert all(a.body["error"].get("enrolment_id") == created.body["id"] for a in conflicts)

    rows = database.query(
        "SELECT id, user_id, status, confirmed_at, waitlisted_at FROM enrolments WHERE run_id = :r", r=database.run_id
    )
    assert len(rows) == 101
    assert len({r.user_id for r in rows}) == 101  # one enrolment per trainee, the repeater included
    confirmed = [r for r in rows if r.status == "confirmed"]
    waitlisted = sorted((r for r in rows if r.status == "waitlisted"), key=lambda r: (r.waitlisted_at, r.id))
    assert len(confirmed) == 10 and len(waitlisted) == 91
    # first come, first served: every confirmed place was taken before anyone was waitlisted,
    # and each trainee was told the position they hold in the waitlist's order
    assert max(r.confirmed_at for r in confirmed) <= min(r.waitlisted_at for r in waitlisted)
    told = {a.body["id"]: a.body.get("waitlist_position") for a in answers if a.status == 201}
    assert [told[r.id] for r in waitlisted] == list(range(1, 92))
    assert all(told[r.id] is None for r in confirmed)
    assert all(a.body["status"] in ("confirmed", "waitlisted") for a in answers if a.status == 201)


def test_simultaneous_cancellations_enrolments_and_capacity_change_keep_the_order(app, factory):
    """Threads, each with its own session: 5 cancellations, 10 newcomers and a
    capacity increase at once. Seats go to the waitlist in order, never more
    than the capacity, and newcomers queue behind."""
    import threading

    from training.catalogue.services import update_run
    from training.enrolment import queries, services
    from training.enrolment.models import Enrolment
    from training.extensions import db

    admin = factory.admin()
    run = factory.run(capacity=5)
    confirmed = [services.enrol(factory.trainee(), run.id) for _ in range(5)]
    waiting = [services.enrol(factory.trainee(), run.id) for _ in range(10)]
    newcomers = [factory.trainee() for _ in range(10)]
    ids = {
        "confirmed": [(e.user_id, e.id) for e in confirmed],
        "waiting": [e.user_id for e in waiting],
        "new": [u.id for u in newcomers],
        "admin": admin.id,
        "run": run.id,
    }
    db.session.remove()
    barrier = threading.Barrier(16)
    failures = []

    def work(kind, arg):
        from training.accounts.models import User

        with app.app_context():
            try:
                barrier.wait(timeout=BARRIER_SECONDS)
                if kind == "cancel":
                    user_id, enrolment_id = arg
                    services.cancel(db.session.get(User, user_id), enrolment_id)
                elif kind == "enrol":
                    services.enrol(db.session.get(User, arg), ids["run"])
                else:
                    update_run(db.session.get(User, ids["admin"]), ids["run"], {"capacity": 8})
            except Exception as exc:  # collected and asserted below
                failures.append(repr(exc))
            finally:
                db.session.remove()

    threads = (
        [threading.Thread(target=work, args=("cancel", c)) for c in ids["confirmed"]]
        + [threading.Thread(target=work, args=("enrol", u)) for u in ids["new"]]
        + [threading.Thread(target=work, args=("capacity", None))]
    )
    for t in threads:
        t.start()
    join_all(threads)
    assert not failures
    rows = {e.user_id: e for e in db.session.query(Enrolment).filter_by(run_id=ids["run"])}
    now_confirmed = sorted(uid for uid, e in rows.items() if e.status == "confirmed")
    assert now_confirmed == sorted(ids["waiting"][:8])
    order = [e.user_id for e in db.session.scalars(queries.waitlist_query(ids["run"]))]
    assert order[:2] == ids["waiting"][8:] and sorted(order[2:]) == sorted(ids["new"])
