"""The JSON API authenticates by bearer token only. It has no CSRF tokens, so
a browser's session cookie must not count there: otherwise a page on another
site could make a logged-in admin's browser cancel a run with an empty form."""

from sqlalchemy import func, select

from tests.conftest import api, login
from training.catalogue.models import Run
from training.enrolment.models import Enrolment
from training.extensions import db


def test_session_cookie_does_not_authenticate_the_api(client, factory):
    admin, trainee = factory.admin(), factory.trainee()
    run = factory.run()
    login(client, admin)
    response = client.post(f"/api/v1/runs/{run.id}/cancel")  # what a cross-site form could send
    assert response.status_code == 401
    db.session.expire_all()
    assert db.session.get(Run, run.id).status == "open"

    other = client.application.test_client()
    login(other, trainee)
    assert other.post(f"/api/v1/runs/{run.id}/enrolments").status_code == 401
    assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 0


def test_bearer_token_wins_over_a_session_cookie(client, factory):
    admin, trainee = factory.admin(), factory.trainee()
    run = factory.run()
    login(client, admin)
    response = api(client, trainee).post(f"/api/v1/runs/{run.id}/cancel")
    assert response.status_code == 403  # acts as the token's trainee, not the cookie's admin
    assert api(client, trainee).post(f"/api/v1/runs/{run.id}/enrolments").status_code == 201
    assert api(client, factory.user("trainee")).get("/api/v1/courses").status_code == 200
    assert client.get("/api/v1/courses", headers={"Authorization": "Bearer nonsense"}).status_code == 200
