"""Fault proofs with figures: real servers on 127.0.0.1, stopped and killed by process id.

    python benchmarks/faults.py worker-kill [--postgres URL] [--count 2000]
    python benchmarks/faults.py redis [--postgres URL] [--clients 32] [--outage 20]
    python benchmarks/faults.py postgres [--clients 32] [--outage 15]
    python benchmarks/faults.py all [--postgres URL]

- ``worker-kill``: a bulk issue of ``--count`` certificates (``POST
  /api/v1/runs/{id}/certificates``, 202 + job) on a real ``rq worker``; the
  worker and everything it started are killed with SIGKILL while the job's
  progress is between 20 % and 80 %; a second worker and the scheduler (the job
  reaper, ``JOB_LEASE_SECONDS=3``) finish it. Prints certificates, duplicates,
  progress samples past the total and the times.
- ``redis``: gunicorn (2 workers) with REDIS_URL at a redis-server of its own,
  ``flask scheduler run`` (the outbox relay), an RQ worker (restarted when it
  exits, as systemd would), a local SMTP server; ``--clients`` threads log in,
  check in and enrol; redis-server is killed for ``--outage`` seconds and
  started again on the same port. Prints answers by phase and status, and the
  confirmation e-mails expected, arrived, lost and duplicated.
- ``postgres``: a PostgreSQL cluster of its own (initdb as the ``postgres`` user
  into a temporary folder, a free port), gunicorn in front; the cluster is
  stopped (fast shutdown) for ``--outage`` seconds and started again, the app is
  not. Prints the 503s and the 5xx other than 503 by phase, and the e-mails.

``--postgres`` names a server where a throw-away database is created and dropped
(default: ``postgresql://postgres@127.0.0.1:5432/postgres``); ``postgres`` makes
its own cluster. Every wait is bounded in time, every client loop in count and
time. Figures are printed with the load average (the machine may be shared),
never asserted: ``tests/ops/test_faults_pg.py`` asserts the same scenarios.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ops import fault_harness as harness  # noqa: E402 - after the project root is put on sys.path


def _throwaway_database(admin_url: str) -> tuple[str, object]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(admin_url)
    if base.drivername in ("postgresql", "postgres"):
        base = base.set(drivername="postgresql+psycopg")
    name = f"training_faults_{uuid.uuid4().hex[:8]}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        engine.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def _phases(phases: dict) -> None:
    print(
        f"  {'phase':<8} {'action':<11} {'answers':>7} {'2xx/3xx':>7} {'4xx':>5} {'429':>5} {'503':>5} "
        f"{'5xx':>5} {'none':>5}"
    )
    for phase in ("before", "outage", "after"):
        for action in ("login form", "login", "check-in", "enrol"):
            row = phases.get(phase, {}).get(action)
            if row:
                print(
                    f"  {phase:<8} {action:<11} {row['n']:>7} {row['ok']:>7} {row['4xx']:>5} {row['429']:>5} "
                    f"{row['503']:>5} {row['5xx']:>5} {row['none']:>5}"
                )
    print("  (5xx: other than 503; none: no answer within 180 s)")


def worker_kill(args, workdir: Path) -> None:
    url, drop = _throwaway_database(args.postgres)
    try:
        app = harness.app_on(url, workdir)
        figures = harness.worker_kill(app, workdir / "worker-kill", count=args.count, lease=3.0, timeout=1800)
    finally:
        drop()
    print(
        f"\nkill -9 of an RQ worker during a {figures['count']}-certificate issue (lease {figures['lease_seconds']} s)"
    )
    print(
        f"  killed at {figures['killed_at_progress']} after {figures['killed_after_seconds']} s "
        f"({figures['killed_processes']} processes: worker, work horse, PDF processes)"
    )
    print(
        f"  job {figures['state']} after {figures['attempts']} attempts, "
        f"progress {figures['done']}/{figures['total']}, "
        f"{figures['finished_after_kill_seconds']} s after the kill ({figures['total_seconds']} s in all)"
    )
    print(
        f"  certificates {figures['certificates']}, distinct codes {figures['distinct_codes']}, "
        f"distinct enrolments {figures['distinct_enrolments']}, duplicates {figures['duplicates']}, "
        f"without a document {figures['without_document']}"
    )
    print(
        f"  progress samples {figures['samples']}: above the total {figures['progress_above_total']}, "
        f"going backwards {figures['progress_backwards']}"
    )
    print(f"  load average before {figures['load_before']}, after {figures['load_after']}")


def redis(args, workdir: Path) -> None:
    url, drop = _throwaway_database(args.postgres)
    try:
        app = harness.app_on(url, workdir)
        figures = harness.redis_outage(
            app, workdir / "redis", clients=args.clients, before=10, outage=args.outage, after=15, each=5, drain=300
        )
    finally:
        drop()
    print(
        f"\nredis-server killed (SIGKILL) for {figures['outage_seconds']} s under {figures['clients']} clients "
        f"(gunicorn, 2 workers)"
    )
    _phases(figures["phases"])
    print(f"  5xx from the app: {harness.five_xx(figures['phases'])}; RQ worker restarts: {figures['worker_restarts']}")
    mail = figures["mail"]
    print(
        f"  confirmation e-mails: expected {mail['expected']} (successful enrolments {figures['enrolled']}), "
        f"arrived {mail['arrived']}, lost {mail['lost']}, duplicates {mail['duplicates']}, "
        f"all delivered {figures['drain_seconds']} s after the clients stopped"
    )
    for line in figures["server_errors"]:
        print(f"  error: {line}")
    for line in figures["refusals"]:
        print(f"  refused (4xx): {line[:160]!r}")
    print(f"  load average before {figures['load_before']}, after {figures['load_after']}")


def postgres(args, workdir: Path) -> None:
    figures = harness.postgres_restart(
        workdir / "postgres", clients=args.clients, before=10, outage=args.outage, after=15, each=5, drain=300
    )
    print(
        f"\nPostgreSQL stopped (fast shutdown) and started again, {figures['outage_seconds']} s down, under "
        f"{figures['clients']} clients (gunicorn, 2 workers, not restarted)"
    )
    _phases(figures["phases"])
    phases = figures["phases"]
    print(
        f"  503s: before {harness.count(phases, 'before', '503')}, outage {harness.count(phases, 'outage', '503')}, "
        f"after {harness.count(phases, 'after', '503')}; 5xx other than 503: "
        f"{sum(harness.count(phases, p, '5xx') for p in phases)}; app restarted: {figures['app_restarted']}"
    )
    mail = figures["mail"]
    print(
        f"  confirmation e-mails: expected {mail['expected']}, arrived {mail['arrived']}, lost {mail['lost']}, "
        f"duplicates {mail['duplicates']}"
    )
    for line in figures["errors_other_than_503"]:
        print(f"  error: {line}")
    for line in figures["refusals"]:
        print(f"  refused (4xx): {line[:160]!r}")
    print(f"  load average before {figures['load_before']}, after {figures['load_after']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=["worker-kill", "redis", "postgres", "all"])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--outage", type=float, default=None, help="seconds down (redis: 20, postgres: 15)")
    args = parser.parse_args()
    args.count = min(max(args.count, 100), 5000)
    args.clients = min(max(args.clients, 1), 64)
    print(f"{os.cpu_count()} CPU cores, load average {harness.load_average()}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        workdir = Path(tmp)
        os.chmod(workdir, 0o755)
        if args.scenario in ("worker-kill", "all"):
            worker_kill(args, workdir)
        if args.scenario in ("redis", "all"):
            outage = args.outage
            args.outage = min(max(outage or 20, 1), 120)
            redis(args, workdir)
            args.outage = outage
        if args.scenario in ("postgres", "all"):
            args.outage = min(max(args.outage or 15, 1), 120)
            postgres(args, workdir)
    print(f"\n{time.monotonic() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
