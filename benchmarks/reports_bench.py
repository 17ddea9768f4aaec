"""Reports benchmark: five years of data on PostgreSQL (2,000 runs, 100,000
enrolments, ~270,000 attendance marks, ~80,000 certificates, feedback), then
the server time of the reports dashboard, its XLSX and the summary API, as
median and p95, beside /healthz and a one-row query as baselines of the same run.

The figures come from the summary tables (training/figures/summaries.py): the
script times a full rebuild, an incremental refresh after a change, and one
direct computation of each figure (what the dashboard did before them, ~6 s).

    python benchmarks/reports_bench.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
                                       [--requests 20] [--time-limit 300]

It creates a throw-away database on that server (dropped at the end), talks
only to 127.0.0.1 and is bounded in requests and time. Target (issue 16): the
dashboard under 1.5 s p95 with this volume.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402 - after the project root is put on sys.path
from sqlalchemy.engine import make_url  # noqa: E402 - after the project root is put on sys.path

RUNS, PER_RUN, TRAINEES, TRAINERS, COURSES, MEETINGS = 2_000, 50, 20_000, 40, 80, 3


def build_app(url: str):
    from training import create_app
    from training.extensions import db

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "TESTING": False,
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
            "JOBS_MODE": "inline",
            "ARGON2_FAST": True,
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            "PUBLIC_PAGE_CACHE_SECONDS": 0,
            "SECRET_KEY": "reports-bench",
            "ALLOW_LOCAL_STATE": "1",
            "SCHEDULER_IN_WEB": False,
        }
    )
    with app.app_context():
        db.create_all()
    return app


def load(app, today: date) -> dict:
    """Everything in set-based SQL (generate_series): seconds, not minutes."""
    from training.extensions import db
    from training.reports import feedback

    first = today - timedelta(days=5 * 365)
    span = (today - first).days + 60  # the last runs are still ahead
    statements = [
        f"""INSERT INTO users (id, email, display_name, role, active, session_version, failed_logins, created_at)
            SELECT g, 'u' || g || '@bench.example', 'Person ' || g,
                   CASE WHEN g = 1 THEN 'admin' WHEN g <= {TRAINERS + 1} THEN 'trainer' ELSE 'trainee' END,
                   true, 1, 0, now() FROM generate_series(1, {TRAINEES + TRAINERS + 1}) g""",
        "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))",
        f"""INSERT INTO courses (id, code, title, summary, description, outcomes, prerequisites, audience, level,
                                 hours, language, min_attendance_pct, excused_counts, weight_by_length, auto_issue,
                                 published, archived, created_at, validity_months)
            SELECT g, 'B' || g, 'Course ' || g, '', '', '', '', '', 'beginner', 16, 'en', 80, g % 3 = 0, false,
                   false, true, false, now(), 24 FROM generate_series(1, {COURSES}) g""",
        f"""INSERT INTO runs (id, course_id, starts_on, ends_on, timezone, mode, location, city, capacity,
                              requires_approval, status, notes, created_at)
            SELECT g, 1 + g % {COURSES}, DATE '{first}' + (g * {span} / {RUNS}),
                   DATE '{first}' + (g * {span} / {RUNS}) + 2, 'Asia/Shanghai', 'in_person', '',
                   (ARRAY['Suzhou','Shanghai','Wuxi','Ningbo'])[1 + g % 4], 60, false,
                   CASE WHEN g % 97 = 0 THEN 'cancelled' ELSE 'open' END, '', now()
            FROM generate_series(1, {RUNS}) g""",
        f"""INSERT INTO run_trainers (run_id, user_id)
            SELECT g, 2 + g % {TRAINERS} FROM generate_series(1, {RUNS}) g""",
        f"""INSERT INTO meetings (run_id, starts_at, ends_at, title, cancel_reason, sequence, finalised_at)
            SELECT r.id, (r.starts_on + k)::timestamp AT TIME ZONE 'UTC' + interval '1 hour',
                   (r.starts_on + k)::timestamp AT TIME ZONE 'UTC' + interval '8 hour', '', '', 0,
                   CASE WHEN r.starts_on + k < CURRENT_DATE THEN (r.starts_on + k)::timestamp AT TIME ZONE 'UTC'
                        + interval '9 hour' END
            FROM runs r CROSS JOIN generate_series(0, {MEETINGS - 1}) k""",
        f"""INSERT INTO enrolments (run_id, user_id, status, source, created_at, updated_at, confirmed_at,
                                    cancelled_at, reason)
            SELECT r.id, {TRAINERS + 2} + ((r.id * {PER_RUN} + j) % {TRAINEES}),
                   CASE WHEN (r.id + j) % 11 = 0 THEN 'cancelled' ELSE 'confirmed' END, 'self',
                   r.starts_on::timestamp AT TIME ZONE 'UTC' - interval '20 day',
                   r.starts_on::timestamp AT TIME ZONE 'UTC' - interval '20 day',
                   r.starts_on::timestamp AT TIME ZONE 'UTC' - ((j % 20) + 1) * interval '1 day',
                   CASE WHEN (r.id + j) % 11 = 0 THEN r.starts_on::timestamp AT TIME ZONE 'UTC' END, ''
            FROM runs r CROSS JOIN generate_series(1, {PER_RUN}) j""",
        """INSERT INTO attendance (enrolment_id, meeting_id, status, note, marked_at, source)
            SELECT e.id, m.id,
                   CASE WHEN (e.id * 7 + m.id) % 20 < 17 THEN 'present' WHEN (e.id + m.id) % 20 = 17 THEN 'late'
                        WHEN (e.id + m.id) % 20 = 18 THEN 'excused' ELSE 'absent' END, '', m.ends_at, 'roster'
            FROM enrolments e JOIN meetings m ON m.run_id = e.run_id
            WHERE e.status = 'confirmed' AND m.ends_at < now()""",
        """INSERT INTO certificates (code, enrolment_id, current_for_enrolment_id, holder_name, course_code,
                                     course_title, hours, run_starts_on, run_ends_on, completed_on, trainer_names,
                                     issuer_name, issued_at, expires_on)
            SELECT 'BENCH' || e.id, e.id, e.id, 'Person', 'B', 'Course', 16, r.starts_on, r.ends_on, r.ends_on, '',
                   'SMT', r.ends_on::timestamp AT TIME ZONE 'UTC' + interval '1 day',
                   r.ends_on + interval '2 year'
            FROM enrolments e JOIN runs r ON r.id = e.run_id
            WHERE e.status = 'confirmed' AND r.ends_on < CURRENT_DATE - 1 AND e.id % 8 <> 0""",
    ]
    with app.app_context():
        feedback.question_set()
        for sql in statements:
            db.session.execute(text(sql))
        db.session.execute(
            text("""
            INSERT INTO feedback_invitations (enrolment_id, run_id, token, sent_at, closes_at, answered_at)
            SELECT e.id, e.run_id, md5(e.id::text), r.ends_on::timestamp AT TIME ZONE 'UTC',
                   r.ends_on::timestamp AT TIME ZONE 'UTC' + interval '14 day',
                   CASE WHEN e.id % 3 = 0 THEN r.ends_on::timestamp AT TIME ZONE 'UTC' END
            FROM enrolments e JOIN runs r ON r.id = e.run_id
            WHERE e.status = 'confirmed' AND r.ends_on < CURRENT_DATE - 1""")
        )
        db.session.execute(
            text("""
            INSERT INTO feedback_responses (run_id, submitted_on, recommend)
            SELECT e.run_id, r.ends_on, 5 + e.id % 6 FROM enrolments e JOIN runs r ON r.id = e.run_id
            WHERE e.status = 'confirmed' AND r.ends_on < CURRENT_DATE - 1 AND e.id % 3 = 0""")
        )
        db.session.execute(
            text("""
            INSERT INTO feedback_answers (response_id, question_id, rating, text)
            SELECT fr.id, q.id, 1 + fr.id % 5, '' FROM feedback_responses fr
            CROSS JOIN (SELECT id FROM feedback_questions WHERE kind = 'rating') q""")
        )
        db.session.commit()
        feedback.rebuild_stats()  # the rows above bypassed the service that keeps the counts
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        counts = {
            t: db.session.scalar(text(f"SELECT count(*) FROM {t}"))
            for t in ("runs", "enrolments", "attendance", "certificates", "feedback_responses")
        }
    return counts


def measure(client, path: str, n: int, deadline: float, headers=None) -> dict:
    times = []
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        response = client.get(path, headers=headers or {})
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return {"n": len(times), "median_ms": statistics.median(times) * 1000, "p95_ms": p95 * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds for all measurements")
    args = parser.parse_args()
    base = make_url(args.postgres).set(drivername="postgresql+psycopg")
    if base.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("the benchmark talks to a loopback PostgreSQL only")
    name = f"reports_bench_{uuid.uuid4().hex[:8]}"
    admin_engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = base.set(database=name).render_as_string(hide_password=False)
        app = build_app(url)
        from training.types import org_today

        with app.app_context():
            today = org_today()
        started = time.perf_counter()
        counts = load(app, today)
        print(f"loaded {counts} in {time.perf_counter() - started:.1f} s")
        from training.accounts.models import User
        from training.accounts.services import create_token
        from training.extensions import db

        with app.app_context():
            admin = db.session.get(User, 1)
            token = create_token(admin, "bench")
            trainer = db.session.get(User, 2)
            trainer_token = create_token(trainer, "bench")
        client = app.test_client()
        from training.accounts.services import start_session

        with client.session_transaction() as session, app.app_context():
            admin = db.session.get(User, 1)
            start_session(admin)  # a real login session, as the login page makes
            session["_user_id"] = admin.get_id()
            session["_fresh"] = True
        five_years = f"from={today - timedelta(days=5 * 365)}&to={today}"
        deadline = time.monotonic() + args.time_limit
        rows = [
            ("GET /healthz (baseline)", "/healthz", None),
            ("GET /reports (12 months)", "/reports", None),
            ("GET /reports (5 years)", f"/reports?{five_years}", None),
            ("GET /reports (5 years, one course)", f"/reports?{five_years}&course_id=7", None),
            ("GET /reports/export.xlsx (12 months)", "/reports/export.xlsx", None),
            (
                "GET /api/v1/reports/summary (5 years)",
                f"/api/v1/reports/summary?{five_years}",
                {"Authorization": f"Bearer {token}"},
            ),
            (
                "GET /api/v1/reports/monthly (5 years)",
                f"/api/v1/reports/monthly?{five_years}",
                {"Authorization": f"Bearer {token}"},
            ),
            (
                "GET /api/v1/reports/summary (a trainer, 5 years)",
                f"/api/v1/reports/summary?{five_years}",
                {"Authorization": f"Bearer {trainer_token}"},
            ),
        ]
        with app.app_context():
            from training.figures import summaries

            started = time.perf_counter()
            print(
                f"full rebuild of the summaries: {summaries.refresh(full=True)} "
                f"in {time.perf_counter() - started:.2f} s"
            )
            from sqlalchemy import select

            from training.enrolment.models import Enrolment
            from training.types import utcnow

            changed = db.session.scalar(select(Enrolment).where(Enrolment.status == "confirmed").limit(1))
            changed.status, changed.cancelled_at = "cancelled", utcnow()
            db.session.commit()
            started = time.perf_counter()
            print(f"refresh after a change: {summaries.refresh()} in {time.perf_counter() - started:.2f} s")
            started = time.perf_counter()
            print(f"refresh with nothing changed: {summaries.refresh()} in {time.perf_counter() - started:.3f} s")
        with app.test_request_context(), app.app_context():
            from training.figures import metrics
            from training.reports import feedback, services

            admin = db.session.get(User, 1)
            scope = services.scope_for(admin, {"from": str(today - timedelta(days=5 * 365)), "to": str(today)})
            print("one call of each, 5 years, admin:")
            for label, call in (
                ("metrics.facts (direct)", lambda: metrics.facts(scope)),
                ("summaries.facts", lambda: summaries.facts(scope)),
                ("expiring_count", lambda: metrics.expiring_count(scope)),
                ("expiring_by_month", lambda: metrics.expiring_by_month(scope)),
                ("feedback.overview", lambda: feedback.overview(admin, scope)),
            ):
                started = time.perf_counter()
                call()
                print(f"  {label:<28} {(time.perf_counter() - started) * 1000:8.1f} ms")
            db.session.remove()
        client.get("/reports")  # warm the templates and the connection pool
        with app.app_context():
            times = []
            for _ in range(args.requests):
                started = time.perf_counter()
                db.session.execute(text("SELECT 1")).all()
                db.session.remove()
                times.append(time.perf_counter() - started)
            times.sort()
            print(
                f"{'SELECT 1 (baseline query)':<52} {len(times):>4} {statistics.median(times) * 1000:>10.1f} "
                f"{times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))] * 1000:>10.1f}"
            )
        print(f"{'request':<52} {'n':>4} {'median ms':>10} {'p95 ms':>10}")
        for label, path, headers in rows:
            result = measure(client, path, args.requests, deadline, headers)
            print(f"{label:<52} {result['n']:>4} {result['median_ms']:>10.1f} {result['p95_ms']:>10.1f}")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        with admin_engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin_engine.dispose()


if __name__ == "__main__":
    main()
