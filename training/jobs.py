"""Background work with progress that pages and the API can poll.

Where it runs is configuration (``JOBS_MODE``): ``thread`` runs jobs on a small
pool in this process (the embedded default), ``rq`` puts them on RQ workers
through Redis (production), ``inline`` runs them before ``submit`` returns
(tests). Every job is a row in ``jobs`` so its state survives the process that
ran it. Job functions are registered by name and take JSON-able arguments.
"""
from __future__ import annotations

import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Callable

from flask import current_app
from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db
from .types import UTCDateTime, utcnow

log = logging.getLogger(__name__)

_registry: dict[str, Callable[..., Any]] = {}
_pool: ThreadPoolExecutor | None = None


class Job(db.Model):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued, running, finished, failed
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    result_json: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def result(self) -> Any:
        return json.loads(self.result_json) if self.result_json else None

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "state": self.state, "done": self.done,
                "total": self.total, "result": self.result, "error": self.error}


def job(name: str):
    """Register a function as a job. It is called as fn(progress, **kwargs),
    where progress(done, total) records how far it got."""
    def wrap(fn):
        _registry[name] = fn
        return fn
    return wrap


def submit(name: str, *, created_by=None, **kwargs) -> Job:
    """Record a job and start it. Commits the job row (callers have committed their own work)."""
    if name not in _registry:
        raise KeyError(name)
    record = Job(id=str(uuid.uuid4()), kind=name, created_by_id=getattr(created_by, "id", None))
    db.session.add(record)
    db.session.commit()
    dispatch(record.id, name, kwargs)
    return record


def dispatch(job_id: str | None, name: str, kwargs: dict) -> None:
    mode = current_app.config["JOBS_MODE"]
    if mode == "inline":
        run(job_id, name, kwargs)
    elif mode == "rq":
        from redis import Redis
        from rq import Queue
        queue = Queue("training", connection=Redis.from_url(current_app.config["REDIS_URL"]))
        queue.enqueue("training.jobs.run_in_worker", job_id, name, kwargs, job_timeout=3600)
    else:
        global _pool
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="training-job")
        app = current_app._get_current_object()

        def target():
            with app.app_context():
                run(job_id, name, kwargs)
        _pool.submit(target)


def fire_and_forget(name: str, **kwargs) -> None:
    """Run a registered function in the background without a job row (e.g. sending mail)."""
    dispatch(None, name, kwargs)


def run(job_id: str | None, name: str, kwargs: dict) -> None:
    fn = _registry[name]
    record = db.session.get(Job, job_id) if job_id else None

    def progress(done: int, total: int) -> None:
        if record is None:
            return
        db.session.query(Job).filter_by(id=job_id).update({"done": done, "total": total})
        db.session.commit()

    if record is not None:
        record.state = "running"
        db.session.commit()
    try:
        result = fn(progress, **kwargs)
    except Exception as exc:  # a failed job is reported on its row, not lost in a thread
        log.exception("job %s (%s) failed", job_id, name)
        db.session.rollback()
        if record is not None:
            record = db.session.get(Job, job_id)
            record.state = "failed"
            record.error = str(exc)[:2000]
            record.finished_at = utcnow()
            db.session.commit()
        elif current_app.config.get("TESTING"):
            raise
        return
    if record is not None:
        record = db.session.get(Job, job_id)
        record.state = "finished"
        record.result_json = json.dumps(result, default=str)
        record.finished_at = utcnow()
        if record.total and record.done < record.total:
            record.done = record.total
        db.session.commit()


def run_in_worker(job_id: str | None, name: str, kwargs: dict) -> None:
    """Entry point on an RQ worker: builds the app once per worker process."""
    from . import create_app
    global _worker_app
    try:
        app = _worker_app
    except NameError:
        app = _worker_app = create_app()
    with app.app_context():
        run(job_id, name, kwargs)
