"""The unit of work: one service call, one transaction.

A public service function commits once when it succeeds. When it refuses (a
``DomainError``) or fails, ``@unit_of_work`` rolls the session back before the
exception leaves the service, so the caller (a route, an API view, a CLI
command, a job) never sees half-changed objects and never has to call
``rollback()`` itself — the way pretix runs an operation in one atomic block
and Indico commits or rolls back once per request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Executable, Insert, Row, Table, bindparam, event, insert, text
from sqlalchemy.orm import Session, SessionTransaction

from .extensions import db

P = ParamSpec("P")
R = TypeVar("R")


def unit_of_work(fn: Callable[P, R]) -> Callable[P, R]:
    """Roll the session back when ``fn`` raises; the exception goes on unchanged.

    A service that can also run as one step of a larger unit of work takes
    ``commit=False``; called that way it neither commits nor rolls back, and
    the caller that owns the transaction decides.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if kwargs.get("commit", True) is False:
            return fn(*args, **kwargs)
        try:
            return fn(*args, **kwargs)
        except BaseException:
            db.session.rollback()
            raise

    return wrapper


# --- a read on its own -----------------------------------------------------------------------


def read_alone(statement: Executable, params: Mapping[str, Any] | None = None) -> Sequence[Row[Any]]:
    """The rows of ``statement``, which only reads (no write, no lock), in one round trip.

    When the session has a transaction open (the request read something already), in that transaction:
    what it read and locked stays in view. Otherwise, on PostgreSQL, on a pooled connection in autocommit:
    no BEGIN before the statement and no ROLLBACK after it, two round trips of three (a statement alone
    is a transaction of its own, with the snapshot a READ COMMITTED transaction would give it anyway),
    and the session is left without a transaction. Elsewhere (SQLite), in the session, as any read.
    """
    session = db.session() if db.session.registry.has() else None
    if session is not None and session.in_transaction():
        return session.execute(statement, params).all()
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return db.session.execute(statement, params).all()
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")  # reset when it goes back to the pool
        return connection.execute(statement, params).all()


def fetch_row_alone(sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """PostgreSQL only: the first row of ``sql`` (a read written for the driver, ``%(name)s`` parameters),
    read as ``read_alone`` reads, but handed to the driver (psycopg) directly, as a prepared statement.

    For the busiest public read (the verification page's version, ``certificates.services.page_version``):
    SQLAlchemy's connection and result objects cost more there than the database does (0.10 against 0.05 ms
    of CPU per read, measured in process). The connection is the pool's, with its checkout checks
    (``dbpool``); a connection found broken is invalidated, and every driver error reaches the caller as
    SQLAlchemy's (``DBAPIError.instance``: an unreachable database is a 503 as everywhere).
    The statement does not pass SQLAlchemy's cursor events: tests count it on the wire (``postgres_wire``).
    """
    session = db.session() if db.session.registry.has() else None
    if session is not None and session.in_transaction():
        pooled = session.connection().connection
        return _fetch_row(pooled, sql, params)
    pooled = db.engine.raw_connection()
    try:
        driver: Any = pooled.driver_connection
        driver.autocommit = True  # no BEGIN, no ROLLBACK: one round trip
        try:
            return _fetch_row(pooled, sql, params)
        finally:
            if not driver.closed:
                driver.autocommit = False  # as the pool hands connections out
    finally:
        pooled.close()


def _fetch_row(pooled: Any, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    from sqlalchemy.exc import DBAPIError

    dbapi = db.engine.dialect.loaded_dbapi
    try:
        row: tuple[Any, ...] | None = pooled.driver_connection.execute(sql, params, prepare=True).fetchone()
        return row
    except dbapi.Error as error:
        broken = db.engine.dialect.is_disconnect(error, pooled.driver_connection, None)
        if broken:
            pooled.invalidate(error)
        raise DBAPIError.instance(sql, params, error, dbapi.Error, connection_invalidated=broken) from error


# --- commits that release row locks before the disk flush -------------------------------


@contextmanager
def keeping_loaded_objects() -> Iterator[None]:
    """Commit inside without expiring what the session holds: for a commit after
    which the request goes on with exactly what it just read and wrote (no
    reload of each object by its key, one query each, for nothing)."""
    session = db.session()
    previous = session.expire_on_commit
    session.expire_on_commit = False
    try:
        yield
    finally:
        session.expire_on_commit = previous


_EARLY = "training_commit_releasing_locks_early"
_after_durable: list[Callable[[Session], None]] = []
_while_durable: list[Callable[[Session, Connection], bool]] = []


def release_locks_before_flush() -> None:
    """Let the current transaction's commit return without waiting for its WAL
    to reach the disk (PostgreSQL: ``synchronous_commit = off`` for this
    transaction; elsewhere nothing). Called at its start, before any lock is
    taken, so that the locked part of the transaction carries no extra round
    trip; ``commit_releasing_locks_early`` then commits it."""
    session = db.session()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_SYNCHRONOUS_COMMIT_OFF)
        session.info[_EARLY] = session.get_transaction()


_SYNCHRONOUS_COMMIT_OFF = text("SET LOCAL synchronous_commit TO OFF")


def commits_before_flush(session: Session, transaction: SessionTransaction) -> bool:
    """Whether ``transaction`` is one whose commit returns before it is durable
    (for after-commit work that must wait: see ``after_durable``)."""
    return session.info.get(_EARLY) is transaction


def after_durable(hook: Callable[[Session], None]) -> Callable[[Session], None]:
    """Register ``hook(session)``, run once a transaction committed by
    ``commit_releasing_locks_early`` is durable (the outbox relays its rows
    then, not before: nothing is sent about a change a crash could still undo)."""
    _after_durable.append(hook)
    return hook


def while_durable(hook: Callable[[Session, Connection], bool]) -> Callable[[Session, Connection], bool]:
    """Register ``hook(session, connection)``, run inside the small synchronous
    transaction that makes a commit of ``commit_releasing_locks_early`` durable
    (after the commit is visible to everyone, before it is durable): a short
    write that must follow the commit rides on that flush instead of a
    transaction of its own. It returns whether it wrote (then the transaction
    has an ID and needs no statement of its own to get one); it may raise, and
    the wait is then done again without it."""
    _while_durable.append(hook)
    return hook


def commit_releasing_locks_early() -> None:
    """Commit the session's transaction; on PostgreSQL its locks are released
    before the disk flush, and this returns once the commit is durable.

    A row lock (the run lock of an enrolment) is held until the commit returns,
    and a synchronous commit returns after a disk flush: milliseconds during
    which every other enrolment into the run waits. Committed with
    ``synchronous_commit = off`` the lock is released at once and the change is
    visible to everyone at once; it is *durable* once the WAL is flushed past
    it, which ``wait_until_durable`` then does (a flush that concurrent callers
    share), before the caller reports success and before the rows it wrote to
    the outbox are relayed (``after_durable``). Other databases commit normally.
    """
    session = db.session()
    if session.get_bind().dialect.name != "postgresql":
        session.commit()
        return
    if session.info.get(_EARLY) is not session.get_transaction():
        release_locks_before_flush()
    session.commit()
    wait_until_durable(session)
    session.info.pop(_EARLY, None)
    for hook in _after_durable:
        hook(session)


def wait_until_durable(session: Session | None = None) -> None:
    """Return once everything this process committed is on disk (PostgreSQL:
    a transaction with an ID commits synchronously, and the WAL is flushed in
    order, so every earlier commit is flushed with it; concurrent callers share
    one flush). Nothing to do elsewhere. With the ``session`` whose commit this
    follows, the ``while_durable`` hooks write in that same transaction."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return
    if session is not None and _while_durable:
        try:
            with engine.begin() as conn:
                wrote = False
                for hook in _while_durable:
                    wrote = hook(session, conn) or wrote
                if not wrote:
                    conn.execute(text("SELECT pg_current_xact_id()"))
            return
        except Exception:  # noqa: BLE001 - a hook failed: the flush is still owed, without it
            import logging

            logging.getLogger(__name__).warning("a write after an early commit failed", exc_info=True)
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_current_xact_id()"))


# --- rows written with the commit ------------------------------------------------------------

_WITH_COMMIT = "training_rows_with_commit"
_before_commit: list[Callable[[Session], None]] = []
_TOGETHER: dict[tuple[tuple[str, tuple[str, ...]], ...], Insert] = {}


def before_commit(hook: Callable[[Session], None]) -> Callable[[Session], None]:
    """Register ``hook(session)``, run before every commit and before the rows of
    ``insert_with_commit`` are written (so that rows it notes that way go with them)."""
    _before_commit.append(hook)
    return hook


def insert_with_commit(table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` into ``table`` in the session's current transaction; nothing may read them
    back before it commits (an audit entry, an outbox row, a report's change row on a hot path).

    On PostgreSQL they are kept and written just before the commit, every table's single row in one
    statement (each INSERT a data-modifying CTE of it: one round trip instead of one per table);
    a table with several rows gets one executemany of its own. A failure there fails the commit, and
    the caller's rollback leaves nothing; a rollback drops what was kept. Elsewhere (SQLite) the rows
    are written at once, one INSERT per call, as before."""
    if not rows:
        return
    session = db.session()
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), list(rows))
        return
    session.info.setdefault(_WITH_COMMIT, []).append((table, [dict(row) for row in rows]))


@event.listens_for(Session, "before_commit")
def _write_with_commit(session: Session) -> None:
    for hook in _before_commit:
        hook(session)
    kept: list[tuple[Table, list[dict[str, Any]]]] | None = session.info.pop(_WITH_COMMIT, None)
    if not kept:
        return
    single: list[tuple[Table, dict[str, Any]]] = []
    connection = session.connection()  # Core, not the ORM's execute: no ORM hook wants these rows
    for table, rows in kept:
        if len(rows) == 1:
            single.append((table, _with_defaults(table, rows[0])))
        else:
            connection.execute(insert(table), [_with_defaults(table, row) for row in rows])
    if len(single) == 1:
        table, row = single[0]
        connection.execute(insert(table), row)
    elif single:
        statement, params = _together(single)
        connection.execute(statement, params)


@event.listens_for(Session, "after_soft_rollback")
def _drop_with_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_WITH_COMMIT, None)


def _with_defaults(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with the Python-side default of every column it leaves out (a data-modifying CTE gets
    none from SQLAlchemy); the primary key and server defaults are the database's."""
    for column in table.columns:
        if column.key in row or column.primary_key or column.default is None:
            continue
        default: Any = column.default
        if default.is_scalar:
            row[column.key] = default.arg
        elif default.is_callable:
            row[column.key] = default.arg(None)
    return row


def _together(rows: list[tuple[Table, dict[str, Any]]]) -> tuple[Insert, dict[str, Any]]:
    """One statement inserting one row into each table: ``WITH w0 AS (INSERT ...), ... INSERT ...``,
    built once per shape (tables and columns), and its parameters."""
    shape = tuple((table.name, tuple(sorted(row))) for table, row in rows)
    statement = _TOGETHER.get(shape)
    if statement is None:
        inserts = [
            insert(table).values({name: bindparam(f"w{i}_{name}", type_=table.c[name].type) for name in names})
            for i, ((_name, names), (table, _row)) in enumerate(zip(shape, rows, strict=True))
        ]
        statement = inserts[-1].add_cte(*(part.cte(f"w{i}") for i, part in enumerate(inserts[:-1])))
        _TOGETHER[shape] = statement
    params = {f"w{i}_{name}": value for i, (_table, row) in enumerate(rows) for name, value in row.items()}
    return statement, params
