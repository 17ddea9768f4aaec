"""An enrolment changes "seats left" on cached anonymous pages: every server
must see that its copies are stale. On PostgreSQL the enrolment commits
early (its run lock released before the disk flush) and the shared version is
bumped in the transaction that makes it durable; elsewhere after the commit."""

from sqlalchemy import delete

from tests.conftest import api
from training import pagecache
from training.extensions import db


def _version() -> int | None:
    version = pagecache.current_version()
    db.session.rollback()
    return version


def test_each_api_enrolment_bumps_the_shared_page_version(app, client, factory):
    run = factory.run(capacity=1)
    trainees = [factory.trainee() for _ in range(3)]
    db.session.commit()
    before = _version()
    assert before is not None
    statuses = [api(client, t).post(f"/api/v1/runs/{run.id}/enrolments", json={}).status_code for t in trainees]
    assert statuses == [201, 201, 201]  # one confirmed, two waitlisted: each a change of the run
    assert _version() == before + 3


def test_the_first_bump_of_a_new_database_creates_the_counter(app, client, factory):
    run = factory.run()
    trainee = factory.trainee()
    db.session.execute(delete(pagecache.CacheVersion))
    db.session.commit()
    assert _version() == 0
    assert api(client, trainee).post(f"/api/v1/runs/{run.id}/enrolments", json={}).status_code == 201
    assert _version() == 1


def test_a_refused_enrolment_bumps_nothing(app, client, factory):
    run = factory.run()
    trainee = factory.trainee()
    assert api(client, trainee).post(f"/api/v1/runs/{run.id}/enrolments", json={}).status_code == 201
    before = _version()
    assert api(client, trainee).post(f"/api/v1/runs/{run.id}/enrolments", json={}).status_code == 409
    assert _version() == before
