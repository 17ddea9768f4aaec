"""Recurring work inside the deployment, with exactly one runner at a time.

Any number of processes may run the scheduler loop (``flask scheduler run``
on every machine, or the web process's own thread in the embedded set-up):
each tick, a process must hold the ``scheduler`` lease (a row of ``leases``
renewed every tick, taken over by another process only once it ran out), so
one of them works and the others wait. The leader

- relays the outbox (e-mails and jobs that are due, retries),
- reaps jobs whose runner died (see ``jobs.reap``),
- starts each registered task when it is due: ``every`` after its last start,
  remembered in ``scheduler_tasks`` so a restart or a new leader keeps the
  rhythm. A task runs as a background job (on an RQ worker in production) and
  is not started again while its previous run is queued or running.

Other domains add their own work with::

    from training import jobs

    @jobs.recurring("qualifications.renewals", timedelta(days=1))
    def renewals():
        ...

The CLI commands (``flask enrolment remind``, ``flask certificates auto-issue``,
...) remain for those who prefer cron.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import Flask, current_app
from sqlalchemy import Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import Model, db
from .types import UTCDateTime, utcnow

log = logging.getLogger(__name__)

LEADER = "scheduler"


class Lease(Model):
    """A named lease held by one process at a time (the scheduler's leadership)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ScheduledTask(Model):
    """When each recurring task last started, and how it ended."""

    __tablename__ = "scheduler_tasks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_job_id: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(Text)
    runs: Mapped[int] = mapped_column(Integer, default=0)


@dataclass(frozen=True)
class Task:
    name: str
    every: timedelta
    fn: Callable[[], object]
    run_as_job: bool = True

    @property
    def job_name(self) -> str:
        return f"recurring:{self.name}"


_tasks: dict[str, Task] = {}
R = TypeVar("R", bound=Callable[[], object])


def recurring(name: str, every: timedelta | float, *, run_as_job: bool = True) -> Callable[[R], R]:
    """Register ``fn()`` to run every ``every`` (timedelta or seconds)."""
    if not isinstance(every, timedelta):
        every = timedelta(seconds=float(every))
    if every.total_seconds() <= 0:
        raise ValueError("a recurring task needs a positive interval")

    def wrap(fn: R) -> R:
        from . import jobs

        task = Task(name, every, fn, run_as_job)
        _tasks[name] = task

        @jobs.job(task.job_name)
        def _as_job(progress: Callable[..., None], _fn: Callable[[], object] = fn) -> object:
            result = _fn()
            return result if isinstance(result, (dict, list, int, str, type(None))) else str(result)

        return fn

    return wrap


def tasks() -> dict[str, Task]:
    return dict(_tasks)


# --- leadership --------------------------------------------------------------------------


def new_holder() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(holder: str, now: datetime | None = None, lease: timedelta | None = None, name: str = LEADER) -> bool:
    """Take or renew the lease; true while this holder has it."""
    now = now or utcnow()
    lease = lease or timedelta(seconds=float(current_app.config.get("SCHEDULER_LEASE_SECONDS", 30)))
    table = Lease.__table__
    with db.engine.begin() as conn:
        result = conn.execute(
            update(table)
            .where(
                table.c.name == name,
                (table.c.holder == holder) | table.c.lease_until.is_(None) | (table.c.lease_until < now),
            )
            .values(holder=holder, lease_until=now + lease)
        )
        if result.rowcount == 1:
            return True
        exists = conn.scalar(select(table.c.name).where(table.c.name == name))
    if exists:
        return False
    try:
        with db.engine.begin() as conn:
            conn.execute(table.insert().values(name=name, holder=holder, lease_until=now + lease))
        return True
    except Exception:  # noqa: BLE001 - another process inserted it first
        return False


def release(holder: str, name: str = LEADER) -> None:
    table = Lease.__table__
    with db.engine.begin() as conn:
        conn.execute(update(table).where(table.c.name == name, table.c.holder == holder).values(lease_until=None))


# --- one tick ----------------------------------------------------------------------------


def tick(holder: str, now: datetime | None = None) -> dict[str, Any] | None:
    """One round of the loop; None when another process leads."""
    from . import jobs, outbox

    now = now or utcnow()
    if not acquire(holder, now):
        return None
    summary: dict[str, Any] = {"started": []}
    try:
        summary["outbox"] = outbox.relay()
    except Exception:  # noqa: BLE001 - one failure never stops the loop
        log.exception("scheduler: outbox relay failed")
    try:
        summary["reaped"] = jobs.reap(now)
    except Exception:  # noqa: BLE001 - any failure here is logged and must not stop the caller
        log.exception("scheduler: job reaper failed")
    for task in list(_tasks.values()):
        try:
            if _start_if_due(task, now):
                summary["started"].append(task.name)
        except Exception:  # noqa: BLE001 - any failure here is logged and must not stop the caller
            db.session.rollback()
            log.exception("scheduler: task %s failed to start", task.name)
    return summary


def _start_if_due(task: Task, now: datetime) -> bool:
    from . import jobs

    state = db.session.get(ScheduledTask, task.name)
    if state is None:
        state = ScheduledTask(name=task.name, runs=0)
        db.session.add(state)
        db.session.flush()
    if state.last_started_at is not None and now - state.last_started_at < task.every:
        db.session.rollback()
        return False
    if state.last_job_id:
        previous = db.session.get(jobs.Job, state.last_job_id)
        if previous is not None and previous.state in (jobs.QUEUED, jobs.RUNNING):
            db.session.rollback()
            return False
    state.last_started_at = now
    state.runs = (state.runs or 0) + 1
    state.last_error = None
    db.session.commit()
    log.info("scheduler: starting %s", task.name)
    if task.run_as_job:
        job = jobs.submit(task.job_name)
        db.session.query(ScheduledTask).filter_by(name=task.name).update({"last_job_id": job.id})
        db.session.commit()
    else:
        try:
            task.fn()
        except Exception as exc:  # noqa: BLE001 - any failure here is logged and must not stop the caller
            db.session.rollback()
            db.session.query(ScheduledTask).filter_by(name=task.name).update({"last_error": str(exc)[:2000]})
            db.session.commit()
            raise
    return True


# --- the loop ----------------------------------------------------------------------------


def run_loop(
    app: Flask,
    interval: float = 5.0,
    stop: threading.Event | None = None,
    holder: str | None = None,
    max_ticks: int | None = None,
) -> None:
    """Tick every ``interval`` seconds until ``stop`` is set."""
    stop = stop or threading.Event()
    holder = holder or new_holder()
    ticks = 0
    log.info("scheduler %s: running every %.1f s", holder, interval)
    try:
        while not stop.is_set():
            with app.app_context():
                try:
                    tick(holder)
                except Exception:  # noqa: BLE001 - the database may be restarting
                    log.exception("scheduler tick failed; trying again in %.1f s", interval)
                finally:
                    db.session.remove()
            ticks += 1
            if max_ticks is not None and ticks >= max_ticks:
                break
            stop.wait(interval)
    finally:
        with app.app_context():
            try:
                release(holder)
            except Exception:  # noqa: BLE001 - any failure here is logged and must not stop the caller
                pass


_thread: threading.Thread | None = None
_thread_pid: int | None = None
_thread_lock = threading.Lock()


def start_in_process(app: Flask) -> None:
    """The embedded set-up's scheduler: a daemon thread in this (web) process,
    started once per process; only the lease holder among them works."""
    global _thread, _thread_pid
    with _thread_lock:
        if _thread is not None and _thread_pid == os.getpid() and _thread.is_alive():
            return
        interval = float(app.config.get("SCHEDULER_INTERVAL_SECONDS", 10))
        _thread = threading.Thread(target=run_loop, args=(app, interval), name="training-scheduler", daemon=True)
        _thread_pid = os.getpid()
        _thread.start()
