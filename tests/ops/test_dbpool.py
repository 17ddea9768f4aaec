"""Pooled connections are pinged only when they may have gone bad (training/dbpool.py): not when reused at
once, after sitting idle, and (PostgreSQL) at once when the server ended them while idle."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from training.extensions import db


@pytest.fixture
def pings(app, monkeypatch):
    """Every ping the pool's checkout sends, counted (the dialect's own ping still runs)."""
    dialect = db.engine.dialect
    calls: list[object] = []
    original = dialect.do_ping

    def counted(dbapi_connection):
        calls.append(dbapi_connection)
        return original(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    return calls


def _one_request_worth() -> int:
    value = db.session.execute(text("SELECT 1")).scalar_one()
    db.session.remove()
    return value


def test_a_connection_reused_at_once_is_not_pinged(app, pings):
    for _ in range(5):
        assert _one_request_worth() == 1
    assert pings == []


def test_a_connection_idle_longer_than_the_limit_is_pinged(tmp_path, pg_database, monkeypatch):
    from tests.conftest import make_test_app
    from training import dbpool

    clock = [1000.0]
    monkeypatch.setattr(dbpool, "monotonic", lambda: clock[0])
    app = make_test_app(tmp_path, pg_database, DB_PING_IDLE_SECONDS=30)
    with app.app_context():
        calls: list[object] = []
        dialect = db.engine.dialect
        original = dialect.do_ping
        monkeypatch.setattr(dialect, "do_ping", lambda c: calls.append(c) or original(c))
        assert _one_request_worth() == 1  # a new connection: not pinged
        clock[0] += 29
        assert _one_request_worth() == 1
        assert calls == []
        clock[0] += 31
        assert _one_request_worth() == 1
        assert len(calls) == 1
        db.engine.dispose()


@pytest.mark.postgres
def test_a_connection_the_server_ended_while_idle_is_replaced_without_an_error(app, pings):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the server ending a session: PostgreSQL")
    first = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    db.session.remove()  # back in the pool, idle for far less than DB_PING_IDLE_SECONDS
    admin = create_engine(db.engine.url, isolation_level="AUTOCOMMIT")  # not from the app's pool
    with admin.connect() as other:
        assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one() is True
        # Wait (bounded) until the ended session is gone, so its goodbye has reached our socket.
        other.execute(
            text(
                "DO $$ BEGIN FOR i IN 1..200 LOOP EXIT WHEN NOT EXISTS "
                f"(SELECT 1 FROM pg_stat_activity WHERE pid = {int(first)}); PERFORM pg_sleep(0.05); END LOOP; END $$"
            )
        )
    admin.dispose()
    second = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()  # no error: a fresh connection
    db.session.remove()
    assert second != first
    assert len(pings) == 1  # the ended connection was asked, found gone and replaced
