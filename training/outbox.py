"""The transactional outbox: work that a change asks for is never lost.

E-mails (``mail.queue``) and background work (``jobs.fire_and_forget``)
requested inside a transaction are written as rows of ``outbox`` in that same
transaction: they exist exactly when the change they belong to was committed.
After the commit a relay delivers them: an e-mail goes out over SMTP (or into
``MAIL_DIR``), a job runs in this process (``thread`` / ``inline``) or is handed
to an RQ worker (``rq``). Anything that fails (SMTP down, Redis down, a job
that raised) stays in the table and is retried with a growing delay
(``next_attempt_at``): 10 s, 20 s, 40 s ... at most an hour apart.

Each row has an idempotency key (a message's ``Message-ID``; for a job's
batch of e-mails, the job's key and the message's content) that the database
keeps unique, and a relay claims a row with a lease before it works on it, so
two relays (two web processes, a worker and the scheduler) never deliver the
same row twice. The relay runs after every commit that wrote rows and, as a
safety net, every few seconds in the scheduler (``flask scheduler run`` or the
web process's own scheduler thread); ``flask outbox`` lists and retries rows.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal, cast

from flask import Flask, current_app
from sqlalchemy import (
    CheckConstraint,
    CursorResult,
    Index,
    Insert,
    Integer,
    LargeBinary,
    String,
    Text,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, SessionTransaction, UOWTransaction, mapped_column

from .extensions import Model, db
from .transactions import after_durable, commits_before_flush, insert_with_commit
from .types import UTCDateTime, utcnow

log = logging.getLogger(__name__)

_KEY = "training_outbox_rows"
MAX_ATTEMPTS = 25
LEASE = timedelta(minutes=5)
BATCH = 200
# The relay thread waits this long after a kick before it looks for rows (see _start_thread_relay).
GATHER_SECONDS = 0.2

# The outbox key of the job running in this context: e-mails a job sends in
# bulk get keys derived from it, so a job that is run again sends nothing twice.
current_key: contextvars.ContextVar[str | None] = contextvars.ContextVar("outbox_current_key", default=None)


class OutboxState:
    pending = "pending"
    done = "done"
    failed = "failed"


class OutboxMessage(Model):
    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("kind IN ('mail', 'job')", name="kind"),
        CheckConstraint("state IN ('pending', 'done', 'failed')", name="state"),
        Index("ix_outbox_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str | None] = mapped_column(String(320))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(8), default=OutboxState.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def backoff(attempts: int) -> timedelta:
    """The wait before the next try after ``attempts`` failed ones."""
    return timedelta(seconds=min(3600, 5 * 2 ** max(1, min(attempts, 12))))


# --- writing -------------------------------------------------------------------------


def add_mail(
    raw: bytes, *, key: str, recipient: str | None, session: Session | None = None, name: str = "mail"
) -> OutboxMessage:
    """An e-mail, written in the session's current transaction: the message
    itself, or (``name`` other than "mail") what the relay needs to render it
    (see ``mail.queue_rendered_later``)."""
    session = session or db.session()
    row = OutboxMessage(
        key=key[:255],
        kind="mail",
        name=name,
        recipient=(recipient or "")[:320] or None,
        payload=raw,
        next_attempt_at=utcnow(),
    )
    session.add(row)
    session.info.setdefault(_KEY, []).append(row)
    return row


def insert_mail(payload: bytes, *, key: str, recipient: str | None, name: str) -> None:
    """``add_mail``, written with a Core INSERT in the session's current
    transaction instead of at the next flush (for a hot path with nothing else
    to flush; on PostgreSQL with the commit, in one statement with the
    transaction's other such rows: ``transactions.insert_with_commit``): dropped
    with the transaction on rollback, relayed after its commit like any other row."""
    session = db.session()
    insert_with_commit(
        OutboxMessage.__table__,
        [
            {
                "key": key[:255],
                "kind": "mail",
                "name": name,
                "recipient": (recipient or "")[:320] or None,
                "payload": payload,
                "next_attempt_at": utcnow(),
            }
        ],
    )
    session.info.setdefault(_KEY, []).append(key)
    session.info[_WROTE] = True


def add_job(
    name: str, kwargs: dict[str, Any], *, session: Session | None = None, key: str | None = None
) -> OutboxMessage:
    """A background job, written in the session's current transaction."""
    session = session or db.session()
    row = OutboxMessage(
        key=(key or f"job:{name}:{uuid.uuid4().hex}")[:255],
        kind="job",
        name=name,
        payload=json.dumps(kwargs, default=str).encode("utf-8"),
        next_attempt_at=utcnow(),
    )
    session.add(row)
    session.info.setdefault(_KEY, []).append(row)
    return row


def _insert(rows: list[dict[str, Any]]) -> int:
    """Insert rows now (a key already present is skipped), in the session's
    read-only transaction if one is open (SQLite holds its write lock there),
    else in a transaction of its own."""
    if not rows:
        return 0
    now = utcnow()
    values = [dict(state=OutboxState.pending, attempts=0, next_attempt_at=now, created_at=now, **r) for r in rows]
    table = OutboxMessage.__table__
    statement: Insert
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(table).on_conflict_do_nothing(index_elements=["key"])
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table).on_conflict_do_nothing(index_elements=["key"])
    session = db.session()
    transaction = session.get_transaction()
    result: CursorResult[Any]
    if transaction is not None and transaction.is_active:
        result = cast(CursorResult[Any], session.execute(statement, values))
        session.commit()
    else:
        with db.engine.begin() as conn:
            result = conn.execute(statement, values)
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(rows)


def changing(session: Session | None = None) -> bool:
    """True inside a live transaction that has written something."""
    session = session or db.session()
    transaction = session.get_transaction()
    if transaction is None or not transaction.is_active:
        return False
    return bool(session.new or session.dirty or session.deleted or session.info.get(_WROTE))


_WROTE = "training_outbox_tx_wrote"


@event.listens_for(Session, "after_flush")
def _note_write(session: Session, _context: UOWTransaction) -> None:
    session.info[_WROTE] = True


def write(rows: list[dict[str, Any]]) -> None:
    """Record rows (dicts of key, kind, name, recipient, payload): in the
    current transaction when it changed something (delivered after its
    commit), collected while a job runs (written when it ends), otherwise at
    once."""
    if not rows:
        return
    collected = _collected.get()
    if collected is not None:
        collected.extend(rows)
        return
    if changing():
        session = db.session()
        for r in rows:
            row = OutboxMessage(next_attempt_at=utcnow(), **r)
            session.add(row)
            session.info.setdefault(_KEY, []).append(row)
        return
    _insert(rows)
    kick()


_collected: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar(
    "outbox_collected", default=None
)


class collecting:
    """While a job runs, what it asks for is collected and written when it
    ends (SQLite: the job's own session may hold the write lock meanwhile)."""

    def __init__(self, key: str | None = None) -> None:
        self.key = key

    def __enter__(self) -> collecting:
        self.rows: list[dict[str, Any]] = []
        self._tokens = (_collected.set(self.rows), current_key.set(self.key) if self.key else None)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> Literal[False]:
        collected_token, key_token = self._tokens
        _collected.reset(collected_token)
        if key_token is not None:
            current_key.reset(key_token)
        if self.rows:
            if exc[0] is not None:
                db.session.rollback()
            _insert(self.rows)
            kick()
        return False


def derived_key(raw: bytes, recipient: str | None) -> str:
    """A key for a message sent by a job: the same job sending the same
    message again (a retry after a crash) gets the same key."""
    base = current_key.get()
    if not base:
        return f"mail:{uuid.uuid4().hex}"
    digest = hashlib.sha256(_content_of(raw)).hexdigest()[:32]
    return f"{base}/{digest}"[:255]


def _content_of(raw: bytes) -> bytes:
    # Date and Message-ID differ between two renderings of the same message.
    lines = [line for line in raw.split(b"\n") if not line.lower().startswith((b"date:", b"message-id:"))]
    return b"\n".join(lines)


# --- after commit: wake the relay ------------------------------------------------------

_KICK = "training_outbox_kick"


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_WROTE, None)
    rows = session.info.pop(_KEY, None)
    if rows:
        session.info[_KICK] = True


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # Kick once the committed transaction has given its connection back to the
    # pool: relaying inside after_commit held that connection while taking a
    # second one, and as many threads as the pool is large then waited for
    # each other until the pool timed out.
    if transaction.parent is None and session.info.get(_KICK):
        if commits_before_flush(session, transaction):
            return  # relayed once the commit is durable (_kick_when_durable)
        session.info.pop(_KICK, None)
        kick()


@after_durable
def _kick_when_durable(session: Session) -> None:
    if session.info.pop(_KICK, False):
        kick()


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_KEY, None)
        session.info.pop(_WROTE, None)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_pending_kick = threading.Event()


def kick() -> None:
    """Deliver what is due now (inline) or soon (a thread of this process).
    Never raises: whatever is not delivered now waits in the table."""
    try:
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxy's object
    except RuntimeError:
        return
    if app.config.get("JOBS_MODE") == "inline":
        try:
            relay()
        except Exception:  # noqa: BLE001 - the rows wait for the next relay
            log.exception("outbox relay failed; the rows wait for the next try")
        return
    _start_thread_relay(app)


def _start_thread_relay(app: Flask) -> None:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-relay")
        if _pending_kick.is_set():
            return  # a relay is queued already and will see the new rows
        _pending_kick.set()

    def target() -> None:
        # A moment's wait gathers what the next requests commit into the same batch
        # (one claim, one read, one commit for all of them instead of for each one).
        time.sleep(app.config.get("OUTBOX_GATHER_SECONDS", GATHER_SECONDS))
        _pending_kick.clear()
        with app.app_context():
            try:
                relay()
            except Exception:  # noqa: BLE001 - any failure here is logged and must not stop the caller
                log.exception("outbox relay failed; the rows wait for the next try")
            finally:
                db.session.remove()

    try:
        _pool.submit(target)
    except RuntimeError:  # interpreter shutting down
        _pending_kick.clear()


# --- the relay -------------------------------------------------------------------------


def claim(row_id: int, now: datetime | None = None, lease: timedelta = LEASE) -> bool:
    """Take the row for this relay: true for exactly one caller."""
    return claim_row(row_id, now, lease) is not None


def claim_row(row_id: int, now: datetime | None = None, lease: timedelta = LEASE) -> dict[str, Any] | None:
    """Take the row for this relay and return it as it is now taken (one
    statement), or None when another relay has it or it is not due. The claim
    does not wait for the disk: until ``mark_done`` (which does, and so makes
    the claim durable too) a claim lost in a crash of the database only lets
    the row be delivered again, as a crash before ``mark_done`` does anyway."""
    rows = claim_rows([row_id], now, lease)
    return rows[0] if rows else None


def mark_done(row_id: int) -> None:
    mark_all_done([row_id])


def mark_failed(row_id: int, error: str, attempts: int) -> None:
    """Try again later, or give up (state ``failed``, kept and listed) after MAX_ATTEMPTS."""
    table = OutboxMessage.__table__
    state = OutboxState.failed if attempts >= MAX_ATTEMPTS else OutboxState.pending
    with db.engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.id == row_id)
            .values(
                state=state, lease_until=None, last_error=error[:2000], next_attempt_at=utcnow() + backoff(attempts)
            )
        )


def release_read_transaction() -> None:
    """End this thread's session transaction if it only read: the relay and
    the reaper work in short transactions of their own, and on SQLite an open
    transaction holds the write lock."""
    try:
        session = db.session()
        transaction = session.get_transaction()
        if transaction is not None and transaction.is_active and not changing(session):
            session.rollback()
    except Exception:  # noqa: BLE001 - outside an app context
        pass


def due_rows(now: datetime | None = None, limit: int = BATCH) -> list[tuple[int, str]]:
    """(id, kind) of the rows that are due, oldest first."""
    now = now or utcnow()
    table = OutboxMessage.__table__
    with db.engine.connect() as conn:
        return [
            (row_id, kind)
            for row_id, kind in conn.execute(
                select(table.c.id, table.c.kind)
                .where(
                    table.c.state == OutboxState.pending,
                    table.c.next_attempt_at <= now,
                    (table.c.lease_until.is_(None)) | (table.c.lease_until < now),
                )
                .order_by(table.c.id)
                .limit(limit)
            )
        ]


def claim_rows(row_ids: list[int], now: datetime | None = None, lease: timedelta = LEASE) -> list[dict[str, Any]]:
    """Take every one of ``row_ids`` that is still due for this relay, in one
    statement, and return them as taken (oldest first); rows another relay took
    meanwhile are left out (the lease decides, as in ``claim_row``). Like
    ``claim_row`` the claim does not wait for the disk."""
    if not row_ids:
        return []
    now = now or utcnow()
    table = OutboxMessage.__table__
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
        rows = (
            conn.execute(
                update(table)
                .where(
                    table.c.id.in_(row_ids),
                    table.c.state == OutboxState.pending,
                    table.c.next_attempt_at <= now,
                    (table.c.lease_until.is_(None)) | (table.c.lease_until < now),
                )
                .values(lease_until=now + lease, attempts=table.c.attempts + 1)
                .returning(*table.c)
            )
            .mappings()
            .all()
        )
    return sorted((dict(row) for row in rows), key=lambda row: row["id"])


def mark_all_done(row_ids: list[int]) -> None:
    """``mark_done`` for many rows in one statement and one (synchronous) commit."""
    if not row_ids:
        return
    table = OutboxMessage.__table__
    with db.engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.id.in_(row_ids))
            .values(state=OutboxState.done, done_at=utcnow(), lease_until=None, last_error=None)
        )


def relay(now: datetime | None = None, limit: int = BATCH) -> dict[str, int]:
    """Deliver every row that is due (at most ``limit``); returns counts.

    E-mails are claimed together (one statement), rendered together where
    their renderer can (``mail.render_many``: one read for all of them) and
    marked done together (one synchronous commit); a message that fails is
    marked failed on its own and retried later. A crash between sending and
    that commit sends the batch's messages again after their lease, as it did
    one message before (the file backend writes the same file again). Jobs
    are claimed and finished one at a time: a job may run for long, and the
    rows behind it are claimed only when their turn comes."""
    counts = {"sent": 0, "dispatched": 0, "failed": 0}
    release_read_transaction()
    due = due_rows(now, limit)
    if not due:
        return counts
    from . import mail

    smtp = mail.Connection()
    try:
        mails = claim_rows([row_id for row_id, kind in due if kind == "mail"], now)
        if mails:
            _send_mails(mails, smtp, counts)
        for row_id, kind in due:
            if kind == "mail":
                continue
            row = claim_row(row_id, now)
            if row is None:
                continue
            try:
                _deliver_job(row)
                counts["dispatched"] += 1
            except Exception as exc:  # noqa: BLE001 - recorded on the row, retried later
                counts["failed"] += 1
                _failed(row, exc)
                continue
            if current_app.config.get("JOBS_MODE") != "rq":
                mark_done(row_id)
    finally:
        smtp.close()
    return counts


def _send_mails(rows: list[dict[str, Any]], smtp: Any, counts: dict[str, int]) -> None:
    from . import mail

    rendered: dict[int, bytes | None | Exception] = {}
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["name"] == "mail":
            rendered[row["id"]] = bytes(row["payload"])
        else:
            by_name.setdefault(row["name"], []).append(row)
    for name, group in by_name.items():
        for row, result in zip(group, mail.render_many(name, [row["payload"] for row in group]), strict=True):
            rendered[row["id"]] = result
    done: list[int] = []
    try:
        for row in rows:
            try:
                raw = rendered[row["id"]]
                if isinstance(raw, Exception):
                    raise raw
                if raw is not None:  # None: nobody left to write to
                    smtp.send(raw, row["key"])
                    counts["sent"] += 1
                    _metric("mail", "sent")
            except Exception as exc:  # noqa: BLE001 - recorded on the row, retried later
                counts["failed"] += 1
                _metric("mail", "failed")
                smtp.reset()
                _failed(row, exc)
                continue
            done.append(row["id"])
    finally:
        mark_all_done(done)


def _failed(row: dict[str, Any], exc: Exception) -> None:
    log.warning("outbox %s %s (%s) failed on attempt %s: %s", row["kind"], row["id"], row["name"], row["attempts"], exc)
    mark_failed(row["id"], f"{type(exc).__name__}: {exc}", row["attempts"])


def _metric(kind: str, outcome: str) -> None:
    try:
        from . import metrics

        metrics.count_outbox(kind, outcome)
    except Exception:  # noqa: BLE001 - metrics never break delivery
        pass


def _load(row_id: int) -> dict[str, Any] | None:
    table = OutboxMessage.__table__
    with db.engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.id == row_id)).mappings().first()
    return dict(row) if row else None


def _deliver_job(row: dict[str, Any]) -> None:
    from . import jobs

    kwargs = json.loads(bytes(row["payload"]).decode("utf-8"))
    if current_app.config.get("JOBS_MODE") == "rq":
        # The worker runs it and marks the row done; the lease covers the hand-over.
        jobs.enqueue_rq("training.outbox.run_in_worker", row["id"], job_id=f"outbox-{row['id']}-{row['attempts']}")
        return
    with collecting(row["key"]):
        jobs.call(row["name"], kwargs)


def run_claimed(row_id: int) -> None:
    """On an RQ worker: run the job row handed over by a relay, once."""
    from . import jobs

    row = _load(row_id)
    if row is None or row["state"] != OutboxState.pending:
        return
    table = OutboxMessage.__table__
    with db.engine.begin() as conn:  # renew the lease for the time the job takes
        conn.execute(update(table).where(table.c.id == row_id).values(lease_until=utcnow() + LEASE))
    kwargs = json.loads(bytes(row["payload"]).decode("utf-8"))
    try:
        with collecting(row["key"]):
            jobs.call(row["name"], kwargs)
    except Exception as exc:  # noqa: BLE001 - any failure here is logged and must not stop the caller
        db.session.rollback()
        log.exception("outbox job %s (%s) failed", row_id, row["name"])
        mark_failed(row_id, f"{type(exc).__name__}: {exc}", row["attempts"])
        return
    mark_done(row_id)


def run_in_worker(row_id: int) -> None:
    from .jobs import worker_app

    with worker_app().app_context():
        try:
            run_claimed(row_id)
        finally:
            db.session.remove()


# --- looking at it ----------------------------------------------------------------------


def backlog(now: datetime | None = None) -> dict[str, Any]:
    """Pending rows, the age of the oldest in seconds, and failed rows."""
    now = now or utcnow()
    table = OutboxMessage.__table__
    release_read_transaction()
    with db.engine.connect() as conn:
        pending, oldest = conn.execute(
            select(func.count(), func.min(table.c.created_at)).where(table.c.state == OutboxState.pending)
        ).one()
        failed = conn.scalar(select(func.count()).where(table.c.state == OutboxState.failed))
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return {
        "pending": pending or 0,
        "failed": failed or 0,
        "oldest_seconds": max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
    }


def retry_failed() -> int:
    table = OutboxMessage.__table__
    with db.engine.begin() as conn:
        result = conn.execute(
            update(table)
            .where(table.c.state == OutboxState.failed)
            .values(state=OutboxState.pending, attempts=0, next_attempt_at=utcnow(), lease_until=None)
        )
    return result.rowcount


def prune(older_than: timedelta = timedelta(days=7), now: datetime | None = None) -> int:
    """Forget delivered rows after a week (their keys have done their work by then)."""
    from sqlalchemy import delete

    now = now or utcnow()
    table = OutboxMessage.__table__
    with db.engine.begin() as conn:
        result = conn.execute(
            delete(table).where(table.c.state == OutboxState.done, table.c.done_at < now - older_than)
        )
    return result.rowcount
