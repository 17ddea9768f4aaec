"""Trying to keep using an API token after it should have stopped working: when a token
was last used is noted in memory (accounts.services._TokenUses), but whether it works
is read afresh on every request, on every server, and the late write of that hint never
brings a revoked token or a deactivated account back."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import select

from tests.toolkit import another_server
from training.accounts import services
from training.accounts.models import ApiToken, User
from training.admin import services as admin_services
from training.extensions import db

PROBE = "/api/v1/enrolments/999999"  # signed in: 404 (no such enrolment); a refused token: 401


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def held_hints(monkeypatch):
    """Uses noted but not written until the test says so (as between two flushes)."""
    services.flush_token_uses()
    monkeypatch.setattr(services._token_uses, "_next_flush", math.inf)


def _token_row(user_id: int) -> ApiToken:
    (row,) = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)).all()
    return row


def test_a_token_revoked_on_another_server_is_refused_here_at_once_and_stays_refused(app, factory, held_hints):
    trainee = factory.trainee()
    token, trainee_id = services.create_token(trainee, "cli"), trainee.id
    token_id = _token_row(trainee_id).id
    db.session.remove()
    with another_server(app) as other:
        here = app.test_client()
        assert here.get(PROBE, headers=_bearer(token)).status_code == 404
        assert token_id in services._token_uses._pending.get(db.engine, {})  # noted, not written
        db.session.remove()
        with other.app_context():
            services.revoke_token(db.session.get(User, trainee_id), token_id)
        assert here.get(PROBE, headers=_bearer(token)).status_code == 401
        db.session.remove()  # that request ran in this session (SQLite: its read would hold off the write)
        services.flush_token_uses()  # the late hint is written over the revoked row
        db.session.remove()
        row = db.session.get(ApiToken, token_id)
        assert row.revoked_at is not None and row.last_used_at is not None
        for server in (app, other):
            assert server.test_client().get(PROBE, headers=_bearer(token)).status_code == 401
            db.session.remove()


def test_a_deactivated_account_is_refused_at_once_for_reads_and_writes(app, client, factory, held_hints):
    admin = factory.admin()
    trainee = factory.trainee()
    run = factory.run(capacity=5)
    token = services.create_token(trainee, "cli")
    assert client.get(PROBE, headers=_bearer(token)).status_code == 404
    admin_services.update_user(
        admin, trainee, name=trainee.display_name, role="trainee", company=None, phone=None, active=False
    )
    assert client.get(PROBE, headers=_bearer(token)).status_code == 401
    enrol = client.post(f"/api/v1/runs/{run.id}/enrolments", json={}, headers=_bearer(token))
    assert enrol.status_code == 401
    db.session.remove()
    services.flush_token_uses()
    assert client.get(PROBE, headers=_bearer(token)).status_code == 401


def test_reactivating_an_account_brings_back_none_of_its_logins_or_tokens(app, client, factory, held_hints):
    """Deactivating ends every login and revokes every token, as logging out everywhere does: a token
    stolen (or a laptop kept) before the account was closed opens nothing once it is reopened. Only
    the API tokens came back to life: the logins had ended with the session version."""
    from tests.factories import PASSWORD
    from training.accounts.models import LoginSession

    admin = factory.admin()
    trainee = factory.trainee()
    token, trainee_id, email = services.create_token(trainee, "cli"), trainee.id, trainee.email
    browser = app.test_client()
    assert browser.post("/login", data={"email": email, "password": PASSWORD, "remember": "y"}).status_code == 302
    remember = browser.get_cookie("remember_token").value
    assert (
        client.get(PROBE, headers=_bearer(token)).status_code == 404 and browser.get("/my/training").status_code == 200
    )

    for active in (False, True):
        admin_services.update_user(
            admin, trainee, name=trainee.display_name, role="trainee", company=None, phone=None, active=active
        )
    db.session.remove()
    services.flush_token_uses()

    assert client.get(PROBE, headers=_bearer(token)).status_code == 401
    assert browser.get("/my/training").status_code == 302
    returning = app.test_client()
    returning.set_cookie("remember_token", remember)
    assert returning.get("/my/training").status_code == 302
    assert _token_row(trainee_id).revoked_at is not None
    assert db.session.scalars(select(LoginSession).where(LoginSession.user_id == trainee_id)).all() == []
    # the reopened account signs in and makes tokens as any other
    fresh = app.test_client()
    assert fresh.post("/login", data={"email": email, "password": PASSWORD}).status_code == 302
    assert fresh.get("/my/training").status_code == 200
    new_token = services.create_token(db.session.get(User, trainee_id), "new")
    assert client.get(PROBE, headers=_bearer(new_token)).status_code == 404


def test_a_demoted_admins_token_loses_admin_rights_at_once(app, client, factory, held_hints):
    boss, former = factory.admin(), factory.admin(name="Former Admin")
    token = services.create_token(former, "cli")
    body = {"code": "TOK-1", "title": "Made by token", "hours": 8}
    assert client.post("/api/v1/courses", json=body, headers=_bearer(token)).status_code == 201
    admin_services.update_user(
        boss, former, name=former.display_name, role="trainee", company=None, phone=None, active=True
    )
    body["code"] = "TOK-2"
    assert client.post("/api/v1/courses", json=body, headers=_bearer(token)).status_code == 403


def test_a_hint_for_a_token_deleted_since_is_dropped_without_harm(app, client, factory, held_hints):
    trainee = factory.trainee()
    token = services.create_token(trainee, "cli")
    assert client.get(PROBE, headers=_bearer(token)).status_code == 404
    db.session.delete(_token_row(trainee.id))
    db.session.commit()
    services.flush_token_uses()  # updates no row, raises nothing
    assert services._token_uses._pending.get(db.engine, {}) == {}
    assert client.get(PROBE, headers=_bearer(token)).status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer ",
        "Bearer " + "x" * 201,
        "Bearer \x00",
        "Bearer token with spaces",
        "bearer lowercase-scheme",
        "Basic dXNlcjpwYXNz",
        "Bearer " + "证" * 50,
    ],
)
def test_a_malformed_bearer_header_is_anonymous_not_an_error(client, header):
    response = client.get(PROBE, headers={"Authorization": header})
    assert response.status_code == 401, response.status_code


def test_the_token_user_is_the_stored_account_as_loaded_and_a_change_shows_on_the_next_request(
    app, factory, held_hints
):
    """The token's user is made from its row, not loaded through the ORM: it must be the account as
    stored (every column), in the session with nothing to write, and a change made elsewhere (a new
    name, a role taken away, a deactivation) must show on the very next request."""
    from sqlalchemy import inspect

    trainee = factory.trainee(company="ACME 制造")
    token, trainee_id = services.create_token(trainee, "cli"), trainee.id
    db.session.remove()

    user = services.user_for_token(token)
    stored = db.session.execute(select(User.__table__).where(User.id == trainee_id)).one()._asdict()
    assert {attr.key: getattr(user, attr.key) for attr in inspect(User).column_attrs} == stored
    assert inspect(user).persistent and not db.session.dirty and not db.session.new
    assert user is db.session.get(User, trainee_id)  # the session's own copy: no second load
    db.session.remove()

    with another_server(app) as other, other.app_context():
        account = db.session.get(User, trainee_id)
        account.display_name, account.role = "改名", "trainer"
        db.session.commit()
    again = services.user_for_token(token)
    assert (again.display_name, again.role) == ("改名", "trainer")
    db.session.remove()

    with another_server(app) as other, other.app_context():
        db.session.get(User, trainee_id).active = False
        db.session.commit()
    assert services.user_for_token(token) is None
    assert services.user_for_token(token + "x") is None
