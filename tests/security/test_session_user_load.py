"""The signed-in visitor is read afresh on every request (training/accounts/services.py:
load_session_user): one statement that also carries the shared page counters, the user made
from its row as if the session had loaded it. A logout, a version bump, a deactivation or a
role change shows on the very next request."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, update

from tests.conftest import login
from tests.toolkit import count_queries, postgres_wire
from training.accounts import services
from training.accounts.models import LoginSession, User
from training.extensions import db
from training.pagecache import CATALOGUE_VERSION, bump_version, current_version
from training.transactions import keeping_loaded_objects


@pytest.fixture
def cached(app):
    app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 60
    return app


def _session_id(user: User) -> str:
    key = services.start_session(user)
    return f"{user.id}:{user.session_version}:{key}"


def test_a_signed_in_catalogue_page_is_one_statement_for_the_user_and_the_counters(cached, factory):
    factory.course(title="Robot cell commissioning")
    client = login(cached.test_client(), factory.trainee(name="Ada Lovelace"))
    assert client.get("/").status_code == 200  # the listing is kept
    db.session.remove()  # a new request's session (the tests share one app context)
    with count_queries() as queries:
        html = client.get("/").get_data(as_text=True)
    assert "Ada Lovelace" in html and "Robot cell commissioning" in html
    assert len(queries) == 1, list(queries)
    assert "login_sessions" in queries.statements[0] and "cache_versions" in queries.statements[0]


def test_the_counters_read_with_the_user_are_the_ones_the_page_compares_with(app, factory):
    user = factory.trainee()
    session_id = _session_id(user)
    with app.test_request_context("/"):
        before = (current_version(), current_version(CATALOGUE_VERSION))
    db.session.remove()
    bump_version(db.engine)
    bump_version(db.engine)
    bump_version(db.engine, CATALOGUE_VERSION)
    db.session.remove()
    with app.test_request_context("/"), count_queries() as queries:
        assert services.load_session_user(session_id) is not None
        assert (current_version(), current_version(CATALOGUE_VERSION)) == (before[0] + 2, before[1] + 1)
    assert len(queries) == 1
    with app.test_request_context("/"):
        current_version()  # read first: the user's statement does not read them again
        with count_queries() as queries:
            assert services.load_session_user(session_id) is not None
        assert "cache_versions" not in queries.statements[0]


@pytest.mark.parametrize("held", [False, True], ids=["new-session", "session-holds-the-user"])
def test_the_user_is_the_sessions_persistent_object_with_nothing_to_flush(app, factory, held):
    user = factory.trainer(name="Grace Hopper")
    session_id = _session_id(user)
    user_id = user.id
    if not held:
        db.session.remove()
    else:  # the session holds the user, loaded before another transaction renamed them
        db.session.refresh(user)
        with keeping_loaded_objects():
            db.session.commit()  # ends the transaction, keeps the loaded values
        with db.engine.begin() as other:
            other.execute(update(User).where(User.id == user_id).values(display_name="Grace B. Hopper"))
    with app.test_request_context("/"):
        loaded = services.load_session_user(session_id)
        assert loaded is not None
        assert inspect(loaded).persistent and loaded in db.session
        assert not db.session.dirty and not db.session.new
        assert db.session.get(User, user_id) is loaded  # the session's one copy of the user
        assert loaded.display_name == ("Grace B. Hopper" if held else "Grace Hopper") and loaded.role == "trainer"
        assert loaded is user or not held
        assert loaded.get_id() == session_id
        assert loaded.trainer_profile is not None  # relationships load as for any loaded user
        loaded.locale = "zh"
        db.session.commit()  # a change made to it is written like any other
    db.session.remove()
    assert db.session.get(User, user_id).locale == "zh"


def test_an_ended_login_a_bumped_version_or_a_deactivated_account_loads_nobody(app, factory):
    user = factory.trainee()
    session_id = _session_id(user)
    with app.test_request_context("/"):
        assert services.load_session_user(session_id) is not None
        assert services.load_session_user(session_id.rsplit(":", 1)[0] + ":another-key") is None
        assert services.load_session_user("not a session id") is None
    db.session.remove()
    user = db.session.get(User, user.id)
    user.active = False
    db.session.commit()
    with app.test_request_context("/"):
        assert services.load_session_user(session_id) is None
    user.active = True
    user.session_version += 1
    db.session.commit()
    with app.test_request_context("/"):
        assert services.load_session_user(session_id) is None
    db.session.execute(update(User).where(User.id == user.id).values(session_version=user.session_version - 1))
    db.session.execute(LoginSession.__table__.delete())
    db.session.commit()
    with app.test_request_context("/"):
        assert services.load_session_user(session_id) is None  # the version is right again, the login is gone


def test_a_role_change_shows_on_the_next_page(cached, factory):
    trainee = factory.trainee(name="Dana Promoted")
    client = login(cached.test_client(), trainee)
    html = client.get("/").get_data(as_text=True)
    assert "Dana Promoted" in html and 'href="/admin/"' not in html
    db.session.execute(update(User).where(User.id == trainee.id).values(role="admin", display_name="Dana Admin"))
    db.session.commit()
    html = client.get("/").get_data(as_text=True)
    assert "Dana Admin" in html and 'href="/admin/"' in html
    db.session.execute(update(User).where(User.id == trainee.id).values(role="trainee"))
    db.session.commit()
    html = client.get("/").get_data(as_text=True)
    assert 'href="/admin/"' not in html


@pytest.mark.postgres  # deselected in the SQLite run, run in the PostgreSQL one
def test_on_postgresql_a_kept_signed_in_page_is_one_round_trip_without_a_transaction(cached, factory, tmp_path):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("round trips to PostgreSQL")  # marked postgres: deselected in the SQLite run
    factory.course(title="Vision systems")
    client = login(cached.test_client(), factory.trainee())
    assert client.get("/").status_code == 200
    with postgres_wire(tmp_path / "trace") as wire:
        assert client.get("/").status_code == 200
        sent = wire()
    assert not any("BEGIN" in line or "ROLLBACK" in line for line in sent), sent
    assert sum(1 for line in sent if line.startswith(("Sync", "Query"))) == 1, sent
