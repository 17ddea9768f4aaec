"""Prometheus metrics at ``/metrics``.

What is counted where it happens (in every web and worker process):
request latency per endpoint, responses with an error status, e-mails sent
and failed, certificates issued, check-ins. What is read when Prometheus
scrapes: the outbox backlog, RQ queue depth and the age of each queue's oldest
job, and running jobs.

Under gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory (made
afresh at every start) so the worker processes' values are added up; the
gunicorn configuration in deploy/ marks dead workers. ``/metrics`` answers
only with ``Authorization: Bearer <METRICS_TOKEN>`` when that setting is set,
otherwise only to loopback and private addresses.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from contextlib import nullcontext

from flask import Flask, Response, abort, current_app, g, has_app_context, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUEST_SECONDS = Histogram(
    "training_http_request_duration_seconds", "Time to answer a request.", ["method", "endpoint"], buckets=BUCKETS
)
RESPONSES = Counter("training_http_responses_total", "Responses by status class.", ["method", "endpoint", "status"])
ERRORS = Counter("training_http_errors_total", "Responses with status 5xx (server errors).", ["endpoint", "status"])
MAIL = Counter("training_mail_total", "E-mails handed to SMTP (or written), and failed tries.", ["outcome"])
OUTBOX_JOBS = Counter("training_outbox_jobs_total", "Outbox jobs handed out, and failed tries.", ["outcome"])
CERTIFICATES = Counter("training_certificates_issued_total", "Certificates issued (reissues included).")
CHECKINS = Counter("training_checkins_total", "Trainees checked in by QR code.")


def count_outbox(kind: str, outcome: str) -> None:
    (MAIL if kind == "mail" else OUTBOX_JOBS).labels(outcome=outcome).inc()


# --- counted on commit -----------------------------------------------------------------

_PENDING = "training_metrics_pending"


@event.listens_for(Session, "after_flush")
def _count_flushed(session, _context):
    pending = session.info.setdefault(_PENDING, {"certificates": 0, "checkins": 0})
    for obj in session.new:
        name = type(obj).__name__
        if name == "Certificate":
            pending["certificates"] += 1
        elif name == "Attendance" and getattr(obj, "source", None) == "checkin":
            pending["checkins"] += 1
    for obj in session.dirty:
        if type(obj).__name__ == "Attendance" and getattr(obj, "source", None) == "checkin":
            pending["checkins"] += 1


@event.listens_for(Session, "after_commit")
def _count_committed(session):
    pending = session.info.pop(_PENDING, None)
    if pending:
        if pending["certificates"]:
            CERTIFICATES.inc(pending["certificates"])
        if pending["checkins"]:
            CHECKINS.inc(pending["checkins"])


@event.listens_for(Session, "after_soft_rollback")
def _forget(session, previous_transaction):
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)


# --- read at scrape time ------------------------------------------------------------------


class BacklogCollector:
    """Outbox backlog, running jobs and RQ queues, read when scraped."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self):
        from . import jobs, outbox
        from .extensions import db

        pending = GaugeMetricFamily("training_outbox_pending", "Outbox rows waiting to be delivered.")
        failed = GaugeMetricFamily("training_outbox_failed", "Outbox rows given up after many tries.")
        oldest = GaugeMetricFamily("training_outbox_oldest_pending_seconds", "Age of the oldest waiting row.")
        running = GaugeMetricFamily("training_jobs", "Tracked background jobs by state.", labels=["state"])
        depth = GaugeMetricFamily("training_rq_queue_depth", "Jobs waiting in an RQ queue.", labels=["queue"])
        age = GaugeMetricFamily(
            "training_rq_oldest_job_seconds", "Age of the oldest job in an RQ queue.", labels=["queue"]
        )
        up = GaugeMetricFamily(
            "training_dependency_up", "1 when a dependency answered the scrape.", labels=["dependency"]
        )
        # Inside /metrics: the request's own context and session (a second one would wait, on SQLite, for the
        # lock the request's session may hold); a scrape from elsewhere gets a context of its own.
        own_context = not has_app_context()
        with self.app.app_context() if own_context else nullcontext():
            try:
                b = outbox.backlog()
                pending.add_metric([], b["pending"])
                failed.add_metric([], b["failed"])
                oldest.add_metric([], b["oldest_seconds"])
                from sqlalchemy import func, select

                for state, n in db.session.execute(
                    select(jobs.Job.state, func.count())
                    .where(jobs.Job.state.in_((jobs.QUEUED, jobs.RUNNING)))
                    .group_by(jobs.Job.state)
                ):
                    running.add_metric([state], n)
                up.add_metric(["database"], 1)
            except Exception as exc:  # noqa: BLE001 - a scrape never fails for a dependency
                log.warning("metrics: database not readable: %s", exc)
                up.add_metric(["database"], 0)
            finally:
                if own_context:
                    db.session.remove()  # the request's session is the request's to end
            if self.app.config.get("REDIS_URL"):
                try:
                    for q in jobs.queue_stats():
                        depth.add_metric([q["queue"]], q["depth"])
                        age.add_metric([q["queue"]], q["oldest_seconds"])
                    up.add_metric(["redis"], 1)
                except Exception as exc:  # noqa: BLE001 - any failure here is logged and must not stop the caller
                    log.warning("metrics: Redis not readable: %s", exc)
                    up.add_metric(["redis"], 0)
        yield from (pending, failed, oldest, running, depth, age, up)


def _allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "")
        return given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), str(token).encode())
    try:
        address = ipaddress.ip_address((request.remote_addr or "").split("%")[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def init_app(app: Flask) -> None:
    collector = BacklogCollector(app)

    @app.before_request
    def _start_clock():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = g.pop("metrics_started", None)
        if started is None or request.endpoint == "metrics":
            return response
        endpoint = request.endpoint or "unmatched"
        elapsed = time.perf_counter() - started
        try:
            REQUEST_SECONDS.labels(request.method, endpoint).observe(elapsed)
            RESPONSES.labels(request.method, endpoint, f"{response.status_code // 100}xx").inc()
            if response.status_code >= 500:
                ERRORS.labels(endpoint, str(response.status_code)).inc()
        except Exception:  # noqa: BLE001 - metrics never break a response
            pass
        return response

    @app.get("/metrics")
    def metrics():
        if not _allowed():
            abort(404)
        registry = CollectorRegistry()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(registry)
        else:
            from prometheus_client import REGISTRY

            for c in list(REGISTRY._collector_to_names):
                registry.register(c)
        registry.register(collector)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
