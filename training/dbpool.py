"""Pooled connections: checked before use only when they may have gone bad.

``pool_pre_ping`` pings the database on every checkout: one more round trip
for every request, though a connection used a millisecond ago is as good as
it was then. Here a connection is pinged (the same empty statement
SQLAlchemy's pre-ping sends) only when

- it sat idle in the pool longer than ``DB_PING_IDLE_SECONDS`` (default 5):
  a firewall, a network failure or a server that vanished without a word
  could have cut it meanwhile; or
- (PostgreSQL) its socket has something to read although nothing was asked:
  the server said goodbye (restart, fast shutdown, ``pg_terminate_backend``,
  ``idle_session_timeout``) or closed it. Asking the socket costs a system
  call, not a round trip.

A failed ping invalidates the connection and every pooled one older than it
(a restarted server ended them all) and the pool connects afresh, as
SQLAlchemy's own pre-ping does (SQLAlchemy's documented pattern: a
``checkout`` listener raising ``DisconnectionError``). Under load every
connection is reused within milliseconds and no ping is sent.
"""

from __future__ import annotations

import select
from time import monotonic
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

_IDLE_SINCE = "training_idle_since"


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Check a connection on checkout only after ``idle_seconds`` in the pool or when its server spoke."""
    dialect = engine.dialect
    watch_socket = dialect.name == "postgresql"

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None:  # connected for this checkout: nothing to check
            return
        if monotonic() - since <= idle_seconds and not (watch_socket and _server_spoke(dbapi_connection)):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.InvalidatePoolError(f"connection lost while idle: {error}") from error
            raise


def _server_spoke(dbapi_connection: Any) -> bool:
    """Whether an idle connection's socket is readable (a message or the end of the connection is
    waiting: an idle PostgreSQL session is sent nothing otherwise) or already known to be closed."""
    if getattr(dbapi_connection, "closed", False):
        return True
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return True  # no socket to ask: let the ping find out
