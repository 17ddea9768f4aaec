"""Attendance speed: marking a roster of 200 (and 30) trainees in one submit,
first marks and changes, with SQL statements counted; the same through the
JSON endpoint the roster page uses; the sign-in sheet PDF of 200 trainees;
and progress (load_progress + eligibility) of a whole run.

    .venv/bin/python benchmarks/attendance_bench.py [--trainees 200] [--repeat 15]
                                                     [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Builds throw-away databases (a temporary SQLite file; on PostgreSQL a new
database on that server, dropped at the end) and never touches real data.
Every loop is bounded by --repeat and by --time-limit seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, event, text  # noqa: E402 - after the project root is put on sys.path
from sqlalchemy.engine import make_url  # noqa: E402 - after the project root is put on sys.path


def build(app, trainees: int):
    from training.accounts.models import User
    from training.catalogue.models import Course, Meeting, Run
    from training.enrolment.models import Enrolment
    from training.extensions import db

    now = datetime.now(UTC).replace(microsecond=0)
    trainer = User(email="trainer@example.com", display_name="Li Wei", role="trainer", password_hash="x")
    course = Course(code="BENCH-1", title="Benchmark course", hours=24.0, min_attendance_pct=80)
    start = now - timedelta(minutes=10)
    run = Run(
        course=course,
        capacity=trainees + 10,
        starts_on=(start - timedelta(days=1)).date(),
        ends_on=(start + timedelta(days=12)).date(),
        timezone="Asia/Shanghai",
    )
    run.trainers = [trainer]
    run.meetings = [
        Meeting(starts_at=start + timedelta(days=i), ends_at=start + timedelta(days=i, hours=3)) for i in range(10)
    ]
    db.session.add_all([trainer, course, run])
    names = ["欧阳晓燕", "王小明", "Anna Müller", "John Smith", "李娜", "Carla Rossi"]
    users = [
        User(email=f"t{i}@example.com", display_name=f"{names[i % len(names)]} {i}", role="trainee", password_hash="x")
        for i in range(trainees)
    ]
    db.session.add_all(users)
    db.session.flush()
    db.session.add_all([Enrolment(run=run, user=u, status="confirmed", confirmed_at=now) for u in users])
    db.session.commit()
    return trainer.id, run.id, run.meetings[0].id


def timed(fn, repeat: int, deadline: float):
    times = []
    for _ in range(repeat):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def report(label: str, times: list[float], queries: int | None = None) -> None:
    if not times:
        print(f"  {label:<46} (skipped: time limit)")
        return
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    extra = f"  {queries:>3} SQL" if queries is not None else ""
    print(f"  {label:<46} median {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms  n={len(times)}{extra}")


def bench(url: str, label: str, trainees: int, repeat: int, deadline: float) -> None:
    from training import create_app
    from training.accounts.models import User
    from training.attendance import services, sheets
    from training.extensions import db

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": url,
                "SECRET_KEY": "bench",
                "WTF_CSRF_ENABLED": False,
                "RATELIMIT_ENABLED": False,
                "JOBS_MODE": "inline",
                "MAIL_DIR": f"{tmp}/mail",
            }
        )
        with app.app_context():
            db.create_all()
            trainer_id, run_id, meeting_id = build(app, trainees)
            trainer = db.session.get(User, trainer_id)
            enrolment_ids = [e.id for e in services.confirmed_enrolments(run_id)]
            statements: list[str] = []
            event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
            print(f"{label}: {trainees} confirmed trainees, 10 meetings")
            cycle = iter(range(10**6))

            def mark_all(kind):
                n = next(cycle)
                if kind == "first":  # a fresh meeting each time: every record is new
                    db.session.execute(text("DELETE FROM attendance_changes"))
                    db.session.execute(text("DELETE FROM attendance_receipts"))
                    db.session.execute(text("DELETE FROM attendance"))
                    db.session.commit()
                status = ("present", "late")[n % 2]
                records = [
                    {"enrolment_id": i, "status": status, "idempotency_key": uuid.uuid4().hex} for i in enrolment_ids
                ]
                statements.clear()
                services.mark(trainer, meeting_id, records)
                return len(statements)

            queries = mark_all("first")
            report("mark all (first marks, service)", timed(lambda: mark_all("first"), repeat, deadline), queries)
            queries = mark_all("change")
            report(
                "mark all (every status changes, service)", timed(lambda: mark_all("change"), repeat, deadline), queries
            )

            client = app.test_client()
            with client.session_transaction() as sess:
                from training.accounts.services import start_session

                start_session(trainer)
                sess["_user_id"] = trainer.get_id()

            def post():
                n = next(cycle)
                body = {
                    "records": [
                        {"enrolment_id": i, "status": ("absent", "present")[n % 2], "idempotency_key": uuid.uuid4().hex}
                        for i in enrolment_ids
                    ]
                }
                response = client.post(f"/meetings/{meeting_id}/attendance.json", json=body)
                assert response.status_code == 200, response.data[:200]

            report("roster save over HTTP (JSON endpoint)", timed(post, repeat, deadline))

            def replay():
                body = {
                    "records": [
                        {"enrolment_id": i, "status": "late", "idempotency_key": f"replay-{i:08d}"}
                        for i in enrolment_ids
                    ]
                }
                assert client.post(f"/meetings/{meeting_id}/attendance.json", json=body).status_code == 200

            replay()
            report("offline replay, all keys already applied", timed(replay, repeat, deadline))

            def page():
                assert client.get(f"/meetings/{meeting_id}/roster").status_code == 200

            report("roster page render", timed(page, repeat, deadline))

            meeting = services.get_meeting(meeting_id)
            report(
                "sign-in sheet PDF",
                timed(lambda: sheets.sign_in_sheet(meeting, services.roster(meeting)), max(3, repeat // 3), deadline),
            )

            def progress():
                statements.clear()
                services.eligibility_for_run(run_id)
                return len(statements)

            queries = progress()
            report("eligibility_for_run (progress of the run)", timed(progress, repeat, deadline), queries)
            db.session.remove()
            db.engine.dispose()


def main() -> None:
    import logging

    logging.disable(logging.INFO)  # request log lines would drown the figures
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trainees", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--time-limit", type=float, default=180)
    parser.add_argument("--postgres", help="PostgreSQL server URL (127.0.0.1 only); a database is created and dropped")
    args = parser.parse_args()
    repeat = max(1, min(args.repeat, 200))
    trainees = max(1, min(args.trainees, 5000))
    deadline = time.monotonic() + args.time_limit
    with tempfile.TemporaryDirectory() as tmp:
        bench(f"sqlite:///{tmp}/bench.db", "SQLite", trainees, repeat, deadline)
        if trainees > 30:
            bench(f"sqlite:///{tmp}/bench30.db", "SQLite (a class of 30)", 30, repeat, deadline)
    if args.postgres:
        base = make_url(args.postgres).set(drivername="postgresql+psycopg")
        if base.host not in ("127.0.0.1", "localhost"):
            sys.exit("benchmarks only talk to 127.0.0.1")
        name = f"attendance_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            bench(
                base.set(database=name).render_as_string(hide_password=False), "PostgreSQL", trainees, repeat, deadline
            )
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
