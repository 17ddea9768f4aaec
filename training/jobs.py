"""Background work with progress that pages and the API can poll.

Where it runs is configuration (``JOBS_MODE``): ``thread`` runs jobs on a small
pool in this process (the embedded default), ``rq`` puts them on RQ workers
through Redis (production), ``inline`` runs them before ``submit`` returns
(tests). Job functions are registered by name and take JSON-able arguments.

Every tracked job (``submit``) is a row in ``jobs`` holding its arguments, so
it survives the process that ran it: a runner claims the row with a lease and
renews it while it works (a heartbeat thread); if the runner dies (``kill -9``,
a lost machine) the lease runs out and the reaper (run by the scheduler, see
training/scheduler.py) hands the job out again, up to ``JOB_MAX_ATTEMPTS``
times. Job functions are therefore written to be run again: they skip what is
done already (certificates are issued once per enrolment, e-mails once per
certificate).

Work a change asks for without a row of its own (``fire_and_forget``) goes
through the transactional outbox (training/outbox.py): it is never lost and the
call never raises.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import Token
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from flask import Flask, current_app, has_app_context
from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import Model, db
from .types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from redis import Redis

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R", bound=Callable[[], object])

log = logging.getLogger(__name__)

_registry: dict[str, Callable[..., Any]] = {}
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()

QUEUED, RUNNING, FINISHED, FAILED = "queued", "running", "finished", "failed"
# A queued job that no runner took within this time is handed out again (the
# first hand-over may have been lost with Redis); a second copy finds the job
# taken and does nothing.
QUEUE_GRACE = timedelta(minutes=10)


class Job(Model):
    __tablename__ = "jobs"
    __table_args__ = (CheckConstraint("state IN ('queued', 'running', 'finished', 'failed')", name="state"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=QUEUED)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    # What the job is doing now ("issuing", "emailing"); done/total count its units.
    stage: Mapped[str | None] = mapped_column(String(32))
    args_json: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    result_json: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def result(self) -> Any:
        return json.loads(self.result_json) if self.result_json else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "stage": self.stage,
            "result": self.result,
            "error": self.error,
        }


class Progress(Protocol):
    """The ``progress`` a job function is called with: how far it got, of how many, in which stage."""

    def __call__(self, done: int, total: int, stage: str | None = None, /) -> None: ...


def job(name: str) -> Callable[[F], F]:
    """Register a function as a job. It is called as fn(progress, **kwargs),
    where progress(done, total, stage=None) records how far it got."""

    def wrap(fn: F) -> F:
        _registry[name] = fn
        return fn

    return wrap


def registered(name: str) -> bool:
    return name in _registry


def _config(name: str, default: Any) -> Any:
    return current_app.config.get(name, default) if has_app_context() else default


def lease_length() -> timedelta:
    return timedelta(seconds=float(_config("JOB_LEASE_SECONDS", 60)))


# --- tracked jobs -------------------------------------------------------------------------


def submit(name: str, *, created_by: object = None, **kwargs: Any) -> Job:
    """Record a job and start it. Commits the job row (callers have committed
    their own work). Never fails because Redis is down: the job waits and the
    reaper hands it out again."""
    if name not in _registry:
        raise KeyError(name)
    record = Job(
        id=str(uuid.uuid4()),
        kind=name,
        created_by_id=getattr(created_by, "id", None),
        args_json=json.dumps(kwargs, default=str),
        state=QUEUED,
        lease_until=utcnow() + QUEUE_GRACE,
    )
    db.session.add(record)
    db.session.commit()
    dispatch(record.id, name, kwargs)
    return record


def dispatch(job_id: str | None, name: str, kwargs: dict[str, Any] | None = None) -> None:
    """Hand a job row to a runner. Errors are logged, never raised: the row
    stays queued and is handed out again by the reaper."""
    mode = current_app.config["JOBS_MODE"]
    if mode == "inline":
        run(job_id, name, kwargs)
        return
    if mode == "rq":
        try:
            enqueue_rq("training.jobs.run_in_worker", job_id, name, None, job_id=f"job-{job_id}-{uuid.uuid4().hex[:8]}")
        except Exception as exc:  # noqa: BLE001 - Redis down: the reaper dispatches it later
            log.warning("could not hand job %s to RQ (%s); it waits for the reaper", job_id, exc)
        return
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxy's object

    def target() -> None:
        with app.app_context():
            try:
                run(job_id, name, kwargs)
            finally:
                db.session.remove()

    _thread_pool().submit(target)


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="training-job")
        return _pool


def queue_name() -> str:
    return str(_config("RQ_QUEUE", "training"))


def redis_connection() -> Redis:
    from redis import Redis

    return Redis.from_url(current_app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5)


def enqueue_rq(func: str, *args: Any, job_id: str | None = None) -> None:
    from rq import Queue

    queue = Queue(queue_name(), connection=redis_connection())
    queue.enqueue(
        func,
        *args,
        job_id=job_id,
        job_timeout=int(_config("JOB_TIMEOUT_SECONDS", 3 * 3600)),
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
    )


def fire_and_forget(name: str, **kwargs: Any) -> None:
    """Run a registered function in the background without a job row (e.g.
    sending mail). Inside a transaction that changed something, it is written
    to the outbox in that transaction; otherwise (after a commit) at once.
    Never raises: the page that asked for it answers normally."""
    from . import outbox

    try:
        if name == "send_mail" and set(kwargs) == {"messages"}:
            from .mail import send_messages

            send_messages(None, kwargs["messages"])
            return
        if name not in _registry:
            raise KeyError(name)
        outbox.write(
            [
                {
                    "key": f"job:{name}:{uuid.uuid4().hex}",
                    "kind": "job",
                    "name": name,
                    "recipient": None,
                    "payload": json.dumps(kwargs, default=str).encode("utf-8"),
                }
            ]
        )
    except Exception:  # noqa: BLE001 - never fail the request that already committed
        log.exception("could not record background work %s; %s", name, _short(kwargs))


def _short(kwargs: dict[str, Any]) -> str:
    text = json.dumps(kwargs, default=str)
    return text if len(text) < 300 else text[:300] + "..."


def call(name: str, kwargs: dict[str, Any]) -> Any:
    """Run a registered function now, without a job row (the outbox's jobs)."""
    fn = _registry[name]
    return fn(lambda *_a, **_k: None, **kwargs)


# --- running one tracked job ----------------------------------------------------------------


def claim(job_id: str, now: datetime | None = None) -> bool:
    """Take the job for this runner: queued, or running with a lease that ran out."""
    now = now or utcnow()
    table = Job.__table__
    with db.engine.begin() as conn:
        result = conn.execute(
            update(table)
            .where(
                table.c.id == job_id,
                (table.c.state == QUEUED) | ((table.c.state == RUNNING) & (table.c.lease_until < now)),
            )
            .values(state=RUNNING, lease_until=now + lease_length(), attempts=table.c.attempts + 1, started_at=now)
        )
    return result.rowcount == 1


class _Heartbeat(threading.Thread):
    """Renews the job's lease while it runs, so only a dead runner loses it."""

    def __init__(self, app: Flask, job_id: str, lease: timedelta) -> None:
        super().__init__(name=f"job-heartbeat-{job_id[:8]}", daemon=True)
        self.app, self.job_id, self.lease = app, job_id, lease
        self.stopped = threading.Event()

    def run(self) -> None:
        table = Job.__table__
        while not self.stopped.wait(max(0.5, self.lease.total_seconds() / 3)):
            try:
                with self.app.app_context(), db.engine.begin() as conn:
                    conn.execute(
                        update(table)
                        .where(table.c.id == self.job_id, table.c.state == RUNNING)
                        .values(lease_until=utcnow() + self.lease)
                    )
            except Exception as exc:  # noqa: BLE001 - the next beat tries again
                log.warning("job %s heartbeat failed: %s", self.job_id, exc)


def run(job_id: str | None, name: str | None = None, kwargs: dict[str, Any] | None = None) -> None:
    """Run a tracked job once it is claimed (a job taken by another runner is left alone)."""
    if job_id is None:
        if name is None:
            raise ValueError("a job without a row needs a name")
        call(name, kwargs or {})
        return
    record = db.session.get(Job, job_id)
    if record is None:
        log.warning("job %s is not in the database; nothing to run", job_id)
        return
    name = name or record.kind
    if kwargs is None:
        kwargs = json.loads(record.args_json) if record.args_json else {}
    db.session.rollback()
    if not claim(job_id):
        log.info("job %s is taken or finished; not running it again", job_id)
        return
    token = _log_context(job_id)
    heartbeat = None
    if current_app.config.get("JOBS_MODE") != "inline":
        heartbeat = _Heartbeat(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            job_id,
            lease_length(),
        )
        heartbeat.start()
    fn = _registry[name]

    def progress(done: int, total: int, stage: str | None = None) -> None:
        values: dict[Any, Any] = {"done": done, "total": total, "lease_until": utcnow() + lease_length()}
        if stage is not None:
            values["stage"] = stage
        db.session.query(Job).filter_by(id=job_id).update(values)
        db.session.commit()

    try:
        log.info("job %s (%s) started", job_id, name)
        from .outbox import collecting

        try:
            with collecting(f"job:{job_id}"):
                result = fn(progress, **kwargs)
        except Exception as exc:  # a failed job is reported on its row, not lost in a thread
            log.exception("job %s (%s) failed", job_id, name)
            db.session.rollback()
            record = db.session.get(Job, job_id)
            assert record is not None  # the row was there when the job was claimed; rows are never deleted
            record.state = FAILED
            record.error = str(exc)[:2000]
            record.finished_at = utcnow()
            record.lease_until = None
            db.session.commit()
            return
        record = db.session.get(Job, job_id)
        assert record is not None
        record.state = FINISHED
        record.result_json = json.dumps(result, default=str)
        record.finished_at = utcnow()
        record.lease_until = None
        db.session.commit()
        log.info("job %s (%s) finished", job_id, name)
    finally:
        if heartbeat is not None:
            heartbeat.stopped.set()
        _log_context_reset(token)


def _log_context(job_id: str) -> Token[str | None]:
    from .logs import job_id as job_var

    return job_var.set(job_id)


def _log_context_reset(token: Token[str | None]) -> None:
    from .logs import job_id as job_var

    job_var.reset(token)


# --- the reaper ---------------------------------------------------------------------------


def reap(now: datetime | None = None) -> dict[str, int]:
    """Hand out again every job whose runner died (its lease ran out) or that
    no runner took; give up after ``JOB_MAX_ATTEMPTS`` runs."""
    from .outbox import release_read_transaction

    release_read_transaction()
    now = now or utcnow()
    table = Job.__table__
    max_attempts = int(_config("JOB_MAX_ATTEMPTS", 3))
    counts = {"requeued": 0, "failed": 0}
    with db.engine.connect() as conn:
        rows = list(
            conn.execute(
                select(table.c.id, table.c.kind, table.c.state, table.c.attempts)
                .where(table.c.state.in_((QUEUED, RUNNING)), table.c.lease_until < now)
                .limit(100)
            )
        )
    for job_id, kind, state, attempts in rows:
        with db.engine.begin() as conn:
            if attempts >= max_attempts and state == RUNNING:
                result = conn.execute(
                    update(table)
                    .where(table.c.id == job_id, table.c.state == RUNNING, table.c.lease_until < now)
                    .values(
                        state=FAILED,
                        lease_until=None,
                        finished_at=now,
                        error=f"The job stopped {attempts} times without finishing (its worker died); given up.",
                    )
                )
                counts["failed"] += result.rowcount
                continue
            result = conn.execute(
                update(table)
                .where(table.c.id == job_id, table.c.state == state, table.c.lease_until < now)
                .values(state=QUEUED, lease_until=now + QUEUE_GRACE)
            )
        if result.rowcount == 1 and kind in _registry:
            log.warning("job %s (%s) was %s past its lease; handing it out again", job_id, kind, state)
            counts["requeued"] += 1
            dispatch(job_id, kind, None)
    return counts


# --- on an RQ worker -----------------------------------------------------------------------

_worker_app: Flask | None = None
_worker_app_pid: int | None = None


def worker_app() -> Flask:
    """The app of this worker process (built once, from the environment). In a
    work horse forked from a worker that built it already (``training.rq_worker``),
    the inherited app is used; its connection pool starts empty, since any
    connection in it belongs to the parent."""
    import os

    global _worker_app, _worker_app_pid
    if _worker_app is None:
        from . import create_app

        _worker_app = create_app()
        _worker_app_pid = os.getpid()
    elif _worker_app_pid != os.getpid():
        with _worker_app.app_context():
            db.engine.dispose(close=False)
        _worker_app_pid = os.getpid()
    return _worker_app


def prepare_worker_app() -> Flask:
    """Build the app before the worker forks its first work horse, holding no
    connection across the fork (see ``training.rq_worker``)."""
    app = worker_app()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return app


def run_in_worker(job_id: str | None, name: str | None = None, kwargs: dict[str, Any] | None = None) -> None:
    """Entry point on an RQ worker."""
    with worker_app().app_context():
        try:
            run(job_id, name, kwargs)
        finally:
            db.session.remove()


def queue_stats() -> list[dict[str, Any]]:
    """Depth and oldest job's age (seconds) of each RQ queue (for /metrics)."""
    from rq import Queue

    connection = redis_connection()
    out: list[dict[str, Any]] = []
    for queue in Queue.all(connection=connection):
        depth = queue.count
        oldest = 0.0
        ids = queue.get_job_ids(0, 0)
        if ids:
            from rq.job import Job as RQJob

            try:
                first = RQJob.fetch(ids[0], connection=connection)
                if first.enqueued_at is not None:
                    enqueued = first.enqueued_at
                    if enqueued.tzinfo is None:
                        enqueued = enqueued.replace(tzinfo=UTC)
                    oldest = max(0.0, (utcnow() - enqueued).total_seconds())
            except Exception:  # noqa: BLE001 - the job left the queue meanwhile
                pass
        out.append({"queue": queue.name, "depth": depth, "oldest_seconds": oldest})
    return out


def recurring(name: str, every: timedelta | float, *, run_as_job: bool = True) -> Callable[[R], R]:
    """Register a function as recurring work: the scheduler runs it every
    ``every`` (a timedelta or seconds). See training/scheduler.py."""
    from . import scheduler

    return scheduler.recurring(name, every, run_as_job=run_as_job)
