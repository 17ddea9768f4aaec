"""Reading with an API token: the token and its user in one query; when the
token was last used is a hint written later, in one statement for many uses,
never in the request's own transaction."""

import math

from sqlalchemy import select

from training.accounts import services
from training.accounts.models import ApiToken
from training.extensions import db


def _last_used(token_id):
    value = db.session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token_id))
    db.session.rollback()
    return value


def test_a_token_use_is_noted_and_written_later(app, client, factory, monkeypatch):
    trainee = factory.trainee()
    token = services.create_token(trainee, "cli")
    (row,) = db.session.scalars(select(ApiToken).where(ApiToken.user_id == trainee.id)).all()
    db.session.rollback()
    services.flush_token_uses()
    monkeypatch.setattr(services._token_uses, "_next_flush", math.inf)  # no flush by the requests themselves
    response = client.get("/api/v1/enrolments/999999", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404  # signed in: no such enrolment
    assert _last_used(row.id) is None  # the request wrote nothing
    services.flush_token_uses()
    first = _last_used(row.id)
    assert first is not None
    # Used again within the hint's precision: nothing more to write.
    client.get("/api/v1/enrolments/999999", headers={"Authorization": f"Bearer {token}"})
    assert services._token_uses._pending.get(db.engine, {}) == {}


def test_revoked_tokens_and_deactivated_accounts_are_refused(app, client, factory):
    trainee = factory.trainee()
    token = services.create_token(trainee, "cli")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/enrolments/999999", headers=headers).status_code == 404
    (row,) = db.session.scalars(select(ApiToken).where(ApiToken.user_id == trainee.id)).all()
    services.revoke_token(trainee, row.id)
    assert client.get("/api/v1/enrolments/999999", headers=headers).status_code == 401
    other = factory.trainee()
    other_token = services.create_token(other, "cli")
    other.active = False
    db.session.commit()
    assert (
        client.get("/api/v1/enrolments/999999", headers={"Authorization": f"Bearer {other_token}"}).status_code == 401
    )
