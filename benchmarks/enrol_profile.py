"""Where an API enrolment's time goes, measured in process on PostgreSQL.

    python benchmarks/enrol_profile.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
                                       [--count 300] [--profile] [--relay inline|thread|none|backlog]

Builds a throw-away database (dropped at the end) with one open run of 600
seats and ``--count`` + 40 trainees with API tokens, then enrols each trainee
once through the Flask test client (``POST /api/v1/runs/<id>/enrolments``,
Bearer token, ``{}``), as ``load.py`` does through gunicorn, and prints per
enrolment:

- statements and round trips to PostgreSQL (every statement, BEGIN, COMMIT
  and ROLLBACK, pings of connections that sat idle), transactions and synchronous commits;
- how many statements run while the run row is locked (from the
  ``SELECT ... FOR UPDATE`` to the COMMIT that ends that transaction), and
  that span in wall-clock time on this process;
- CPU time of this process (``time.process_time``) per enrolment;
- the same for the outbox relay's delivery of the e-mail (``--relay inline``:
  the relay runs in the request's process after the commit, as the web
  process's relay thread does; ``thread``: the relay thread of the web
  process, as under gunicorn, and the CPU of the whole process (both threads)
  from the first measured enrolment until every e-mail is relayed; ``none``:
  left in the table; ``backlog``: left in the table, then relayed in batches
  as after a burst, its CPU per e-mail printed).

With ``--profile`` the ``cProfile`` of the measured enrolments is printed
(top functions by cumulative and by own time). CPU figures on a loaded machine
are noisy; statement counts are exact. Bounded: at most 3,000 enrolments;
talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextvars
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_in_relay: contextvars.ContextVar[bool] = contextvars.ContextVar("in_relay", default=False)


class Counter:
    """Counts what a connection sends, split into the request and the relay."""

    def __init__(self) -> None:
        self.reset()
        self.lock_started: float | None = None

    def reset(self) -> None:
        self.n = {"request": _zero(), "relay": _zero()}
        self.locked_spans: list[float] = []
        self.locked_statements = 0
        self.statements: dict[str, int] = {}

    def part(self) -> dict[str, int]:
        return self.n["relay" if _in_relay.get() else "request"]

    # engine events
    def before_cursor_execute(self, conn, cursor, statement, parameters, context, executemany):
        part = self.part()
        part["statements"] += 1
        part["round trips"] += 1
        if not _in_relay.get():
            key = " ".join(statement.split())[:110]
            self.statements[key] = self.statements.get(key, 0) + 1
        head = statement.lstrip()[:40].upper()
        if head.startswith(("INSERT", "UPDATE", "DELETE")) or "PG_CURRENT_XACT_ID" in statement.upper():
            conn.info["wrote"] = True
        elif head.startswith("SET LOCAL SYNCHRONOUS_COMMIT TO OFF"):
            conn.info["async"] = True
        if self.lock_started is not None:
            self.locked_statements += 1
        if "FOR UPDATE" in statement and "runs" in statement and self.lock_started is None:
            self.lock_started = time.perf_counter()

    def begin(self, conn):
        part = self.part()
        part["transactions"] += 1
        part["round trips"] += 1  # psycopg sends BEGIN on its own

    def commit(self, conn):
        part = self.part()
        part["round trips"] += 1
        part["commits"] += 1
        if conn.info.pop("wrote", False) and not conn.info.get("async"):
            part["synchronous commits"] += 1
        conn.info.pop("async", None)
        if self.lock_started is not None:
            self.locked_statements += 1
            self._lock_ends()

    def rollback(self, conn):
        self.part()["round trips"] += 1
        conn.info.pop("wrote", None)
        conn.info.pop("async", None)
        self._lock_ends()

    def _lock_ends(self) -> None:
        if self.lock_started is not None:
            self.locked_spans.append(time.perf_counter() - self.lock_started)
            self.lock_started = None

    def checkout(self, dbapi_conn, record, proxy):
        part = self.part()
        part["checkouts"] += 1  # no round trip: a connection is pinged only after sitting idle (training/dbpool.py)


def _zero() -> dict[str, int]:
    return {
        "statements": 0,
        "round trips": 0,
        "transactions": 0,
        "commits": 0,
        "synchronous commits": 0,
        "checkouts": 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres", default=os.environ.get("LOAD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--relay", choices=("inline", "thread", "none", "backlog"), default="inline")
    parser.add_argument("--statements", action="store_true", help="list the request's statements")
    args = parser.parse_args()
    count = max(10, min(args.count, 3000))

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(args.postgres.replace("postgresql://", "postgresql+psycopg://", 1))
    if base.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("loopback only: the PostgreSQL server must be on 127.0.0.1")
    name = f"training_enrolprof_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory(prefix="enrol-profile-") as tmp:
            return run(url, Path(tmp), count, args)
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def run(url: str, tmp: Path, count: int, args) -> int:
    from datetime import timedelta

    from sqlalchemy import event

    from training import create_app, outbox
    from training.accounts.models import ApiToken, User
    from training.accounts.services import _token_hash
    from training.catalogue.models import Course, Meeting, Run
    from training.extensions import db
    from training.types import utcnow

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "profile",
            "RATELIMIT_ENABLED": False,
            "JOBS_MODE": "inline" if args.relay == "inline" else "thread",
            "SCHEDULER_IN_WEB": False,
            "MAIL_SERVER": None,
            "MAIL_DIR": str(tmp / "mail"),
            "UPLOAD_DIR": str(tmp / "uploads"),
            "SIGNING_DIR": str(tmp / "signing"),
            "DOCUMENT_DIR": str(tmp / "documents"),
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            "LOG_LEVEL": "WARNING",  # as load.py runs gunicorn
        }
    )
    warmup = 40
    with app.app_context():
        db.create_all()
        course = Course(code="PROF-1", title="OPC UA 入门", hours=8, published=True)
        start = (utcnow() + timedelta(days=30)).replace(microsecond=0)
        run_ = Run(
            course=course,
            capacity=600,
            timezone="Asia/Shanghai",
            status="open",
            starts_on=start.date(),
            ends_on=(start + timedelta(days=1)).date(),
            location="Load test hall",
            city="Suzhou",
            meetings=[Meeting(starts_at=start, ends_at=start + timedelta(hours=8))],
        )
        db.session.add(run_)
        users = [
            User(email=f"p{i}@example.com", display_name=f"学员 {i}", role="trainee", active=True, session_version=1)
            for i in range(count + warmup)
        ]
        db.session.add_all(users)
        db.session.flush()
        tokens = []
        for user in users:
            token = "trn_" + uuid.uuid4().hex
            tokens.append(token)
            db.session.add(ApiToken(user_id=user.id, token_hash=_token_hash(token), name="p"))
        db.session.commit()
        run_id = run_.id
        engine = db.engine
        db.session.remove()

    if args.relay in ("none", "backlog"):
        outbox.kick = lambda: None  # type: ignore[assignment]  # leave the rows in the table
    real_relay = outbox.relay

    def relay(*a, **kw):
        token = _in_relay.set(True)
        try:
            return real_relay(*a, **kw)
        finally:
            _in_relay.reset(token)

    outbox.relay = relay  # type: ignore[assignment]  # tag the relay's statements

    counter = Counter()
    event.listen(engine, "before_cursor_execute", counter.before_cursor_execute)
    event.listen(engine, "begin", counter.begin)
    event.listen(engine, "commit", counter.commit)
    event.listen(engine, "rollback", counter.rollback)
    event.listen(engine.pool, "checkout", counter.checkout)

    client = app.test_client()

    def enrol(token: str) -> int:
        response = client.post(
            f"/api/v1/runs/{run_id}/enrolments",
            headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
            json={},
        )
        return response.status_code

    for token in tokens[:warmup]:
        assert enrol(token) == 201
    counter.reset()
    profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not wall
    cpu, wall = [], []
    measured = tokens[warmup:]
    if args.relay == "thread":
        with app.app_context():
            while True:  # the warm-up's e-mails relayed before measuring
                with engine.connect() as conn:
                    if not conn.exec_driver_sql("SELECT count(*) FROM outbox WHERE state = 'pending'").scalar():
                        break
                time.sleep(0.02)
    c_all, w_all = time.process_time(), time.perf_counter()
    for token in measured:
        c0, w0 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        status = enrol(token)
        if profiler:
            profiler.disable()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        assert status == 201, status

    if args.relay == "thread":
        from sqlalchemy import func, select

        with app.app_context():
            table = outbox.OutboxMessage.__table__
            while True:
                with engine.connect() as conn:
                    if not conn.scalar(select(func.count()).where(table.c.state == "pending")):
                        break
                time.sleep(0.02)
        thread_cpu, thread_wall = time.process_time() - c_all, time.perf_counter() - w_all
    if args.relay == "backlog":
        # What the relay costs per e-mail when it finds many waiting (as under a burst):
        # the measured enrolments' rows, relayed by repeated calls as the relay thread makes them.
        with app.app_context():
            c0, w0 = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            token = _in_relay.set(True)
            try:
                sent = 0
                while True:
                    counts = real_relay()
                    if not any(counts.values()):
                        break
                    sent += counts["sent"]
            finally:
                _in_relay.reset(token)
            if profiler:
                profiler.disable()
            relay_cpu, relay_wall = time.process_time() - c0, time.perf_counter() - w0
            db.session.remove()

    n = len(measured)
    load = os.getloadavg()[0]
    print(f"{n} API enrolments into one run (PostgreSQL, in process, relay {args.relay}); load avg {load:.2f}")
    for part in ("request", "relay"):
        figures = ", ".join(f"{k} {v / n:.2f}" for k, v in counter.n[part].items())
        print(f"  per enrolment, {part}: {figures}")
    if counter.locked_spans:
        spans = sorted(counter.locked_spans)
        print(
            f"  run lock: {counter.locked_statements / n:.2f} round trips while held; held median "
            f"{1000 * statistics.median(spans):.2f} ms, p95 {1000 * spans[int(len(spans) * 0.95)]:.2f} ms (wall)"
        )
    cpu.sort()
    wall.sort()
    print(
        f"  CPU of this process per enrolment: median {1000 * statistics.median(cpu):.2f} ms, "
        f"mean {1000 * statistics.fmean(cpu):.2f} ms; wall median {1000 * statistics.median(wall):.2f} ms"
    )
    if args.relay == "thread":
        print(
            f"  request and relay thread together (until every e-mail was relayed): CPU "
            f"{1000 * thread_cpu / n:.2f} ms, wall {1000 * thread_wall / n:.2f} ms per enrolment"
        )
    if args.relay == "backlog":
        print(
            f"  relay of the backlog ({sent} e-mails): CPU {1000 * relay_cpu / max(1, sent):.2f} ms, "
            f"wall {1000 * relay_wall / max(1, sent):.2f} ms per e-mail"
        )
    if args.statements:
        print("  request statements (per enrolment):")
        for key, k in sorted(counter.statements.items(), key=lambda kv: -kv[1]):
            print(f"    {k / n:5.2f}  {key}")
    if profiler:
        stats = pstats.Stats(profiler)
        calls = sum(v[1] for v in stats.stats.values())  # type: ignore[attr-defined]  # pstats' own table
        print(f"  Python function calls per enrolment: {calls / n:,.0f}")
        print("  CPU per enrolment in (cumulative, profiled, so inflated):")
        for (filename, _line, function), (_cc, _nc, _tt, cum, _callers) in sorted(
            stats.stats.items(),  # type: ignore[attr-defined]  # pstats' own table
            key=lambda kv: -kv[1][3],
        ):
            where = f"{Path(filename).parent.name}/{Path(filename).name}:{function}"
            if "training/" in filename and cum / n > 0.0003:
                print(f"    {1000 * cum / n:7.2f} ms  {where}")
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(35)
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
