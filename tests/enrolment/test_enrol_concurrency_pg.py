"""The proof that a run is never oversold: simultaneous enrolments through the
real HTTP stack (gunicorn, several workers and threads) on PostgreSQL."""
import os

import pytest

from tests.enrolment.load_harness import LoadDatabase, Server, fire

PG_URL = os.environ.get("TEST_DATABASE_URL")

pytestmark = [
    pytest.mark.postgres, pytest.mark.slow,
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
    assert set(statuses) <= {201, 409}, (statuses, [a.body for a in answers if a.status not in (201, 409)][:3],
                                         server.read_log())
    assert all(a.status == 201 for a in answers if a.token != database.repeat_token)

    repeats = [a for a in answers if a.token == database.repeat_token]
    assert sorted(a.status for a in repeats) == [201] + [409] * 19
    conflicts = [a for a in repeats if a.status == 409]
    created = next(a for a in repeats if a.status == 201)
    assert all(a.body["error"]["code"] == "already_enrolled" for a in conflicts)
    assert all(a.body["error"].get("enrolment_id") == created.body["id"] for a in conflicts)

    rows = database.query("SELECT id, user_id, status, confirmed_at, waitlisted_at FROM enrolments "
                          "WHERE run_id = :r", r=database.run_id)
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
