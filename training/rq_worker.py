"""The RQ worker class of this app.

    .venv/bin/rq worker training --url "$REDIS_URL" --worker-class training.rq_worker.Worker

RQ forks a work horse for every job. With RQ's own class each horse builds the
app from nothing (``create_app``: seconds of every job, measured at about 4.5 s
on a loaded 2-core machine); this class builds it once in the worker process,
before the first fork, so each horse starts with it ready. No database
connection is held across the fork (``jobs.prepare_worker_app``).
"""

from __future__ import annotations

from typing import Any

from rq.worker import Worker as RQWorker


class Worker(RQWorker):
    def work(self, *args: Any, **kwargs: Any) -> bool:
        from .jobs import prepare_worker_app

        prepare_worker_app()
        result: bool = super().work(*args, **kwargs)
        return result
