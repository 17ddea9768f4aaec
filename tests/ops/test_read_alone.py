"""``read_alone`` (training/transactions.py): a read on its own costs one round trip on PostgreSQL, sees
what the request's open transaction sees, and leaves nothing behind in the pool or the session."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from tests.toolkit import postgres_wire
from training.accounts.models import User
from training.extensions import db
from training.transactions import fetch_row_alone, read_alone


@pytest.fixture
def wire(app, tmp_path):
    """What the client sends PostgreSQL (libpq's trace of the one pooled connection): the messages' lines."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("round trips to PostgreSQL")
    with postgres_wire(tmp_path / "trace") as sent:
        yield sent


@pytest.mark.postgres  # deselected in the SQLite run, run in the PostgreSQL one
def test_alone_it_is_one_round_trip_without_a_transaction_on_postgresql(app, factory, wire):
    factory.trainee(name="Alone Reader")
    db.session.remove()
    before = len(wire())
    rows = read_alone(select(User.display_name).where(User.display_name == "Alone Reader"))
    assert [row.display_name for row in rows] == ["Alone Reader"]
    sent = wire()[before:]
    assert not any("BEGIN" in line or "ROLLBACK" in line for line in sent), sent
    assert sum(1 for line in sent if line.startswith(("Sync", "Query"))) == 1, sent  # one wait for the server
    assert not db.session.registry.has() or not db.session().in_transaction()


def test_inside_an_open_transaction_it_reads_in_that_transaction(app, factory):
    factory.trainee(name="Committed")
    db.session.remove()
    db.session.add(User(email="pending@example.com", display_name="Not committed", role="trainee"))
    db.session.flush()  # the request's transaction holds a row nobody else sees yet
    names = {row.display_name for row in read_alone(select(User.display_name))}
    assert {"Committed", "Not committed"} <= names
    db.session.rollback()
    assert "Not committed" not in {row.display_name for row in read_alone(select(User.display_name))}


def test_the_pooled_connection_is_transactional_again_afterwards(app, factory):
    """The connection read in autocommit goes back to the pool as it was: the next unit of work on it is
    a transaction (its rollback undoes its writes)."""
    read_alone(select(func.count()).select_from(User))
    db.session.add(User(email="rolled-back@example.com", display_name="Rolled back", role="trainee"))
    db.session.flush()
    db.session.rollback()
    db.session.remove()
    assert db.session.scalar(select(func.count()).where(User.email == "rolled-back@example.com")) == 0
    if db.engine.dialect.name == "postgresql":
        connection = db.session.connection()
        assert connection.connection.driver_connection.autocommit is False
        assert connection.execute(text("SELECT 1")).scalar_one() == 1
    db.session.remove()


# --- fetch_row_alone: the same read, handed to the driver (PostgreSQL only) ------------------------------


@pytest.mark.postgres
def test_through_the_driver_it_is_one_round_trip_and_leaves_the_pool_as_it_was(app, factory, wire):
    factory.trainee(name="Driver Reader")
    db.session.remove()
    sql = "SELECT display_name FROM users WHERE display_name = %(name)s"
    assert fetch_row_alone(sql, {"name": "Driver Reader"}) == ("Driver Reader",)  # prepares on this connection
    before = len(wire())
    assert fetch_row_alone(sql, {"name": "Driver Reader"}) == ("Driver Reader",)
    assert fetch_row_alone(sql, {"name": "Nobody"}) is None
    sent = wire()[before:]
    assert not any("BEGIN" in line or "ROLLBACK" in line for line in sent), sent
    assert sum(1 for line in sent if line.startswith(("Sync", "Query"))) == 2, sent  # one wait per read
    assert not db.session.registry.has() or not db.session().in_transaction()
    connection = db.session.connection()  # the pool's one connection, transactional again
    assert connection.connection.driver_connection.autocommit is False
    db.session.remove()


@pytest.mark.postgres
def test_through_the_driver_inside_an_open_transaction_it_reads_in_that_transaction(app, factory):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    db.session.add(User(email="pending@example.com", display_name="Not committed", role="trainee"))
    db.session.flush()
    sql = "SELECT display_name FROM users WHERE email = %(email)s"
    assert fetch_row_alone(sql, {"email": "pending@example.com"}) == ("Not committed",)
    db.session.rollback()
    assert fetch_row_alone(sql, {"email": "pending@example.com"}) is None


@pytest.mark.postgres
def test_through_the_driver_a_failed_read_or_a_lost_connection_is_sqlalchemys_error_and_the_pool_recovers(app):
    """A driver error reaches the caller as SQLAlchemy's (an unreachable database is the app's 503), the
    connection goes back usable, and a connection lost mid-read is dropped from the pool, not handed out."""
    from sqlalchemy.exc import DataError, OperationalError

    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    db.session.remove()
    with pytest.raises(DataError):
        fetch_row_alone("SELECT 1 / %(zero)s", {"zero": 0})
    assert fetch_row_alone("SELECT %(one)s::int", {"one": 1}) == (1,)
    lost = fetch_row_alone("SELECT pg_backend_pid()", {})
    with pytest.raises(OperationalError) as raised:
        fetch_row_alone("SELECT pg_terminate_backend(pg_backend_pid())", {})
    assert raised.value.connection_invalidated
    again = fetch_row_alone("SELECT pg_backend_pid()", {})
    assert again is not None and lost is not None and again != lost  # a new connection, not the dead one
