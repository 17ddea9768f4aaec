"""Qualification matrix speed (issue 14): 5,000 people, 300 skills, 200 positions,
60,000 grants. Times the coverage of one position and "who is qualified" (target
p95 < 50 ms) and the matrix page of a 200-person department (target < 300 ms),
beside a baseline of the same run (a trivial query and the health page) so the
figures can be read on a loaded machine.

    .venv/bin/python benchmarks/qualifications_bench.py [--repeat 30] [--time-limit 300]
                                                         [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Builds throw-away databases (a temporary SQLite file; on PostgreSQL a new database
on that server, dropped at the end) and never touches real data. Every loop is
bounded by --repeat and by --time-limit seconds.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, event, insert, text  # noqa: E402 - after the project root is put on sys.path
from sqlalchemy.engine import make_url  # noqa: E402 - after the project root is put on sys.path

PEOPLE, SKILLS, POSITIONS, GRANTS = 5000, 300, 200, 60000
DEPARTMENT_PEOPLE = 200


def build(seed: int = 14) -> dict:
    """Bulk rows through Core inserts (no ORM per row, no password hashing)."""
    from training.accounts.models import User
    from training.extensions import db
    from training.qualifications.models import Grant, Position, PositionPerson, PositionRequirement, Skill
    from training.types import org_today, utcnow

    rng = random.Random(seed)
    now, today = utcnow(), org_today()
    surnames, given = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗", "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
    db.session.execute(
        insert(User),
        [
            {
                "email": "admin@example.com",
                "display_name": "Admin",
                "role": "admin",
                "password_hash": "x",
                "active": True,
                "session_version": 1,
                "failed_logins": 0,
                "created_at": now,
            }
        ]
        + [
            {
                "email": f"p{i}@example.com",
                "display_name": f"{rng.choice(surnames)}{rng.choice(given)}{i}",
                "role": "trainee",
                "password_hash": "x",
                "active": True,
                "session_version": 1,
                "failed_logins": 0,
                "created_at": now,
            }
            for i in range(PEOPLE)
        ],
    )
    db.session.execute(
        insert(Skill),
        [
            {
                "code": f"SK-{i:03d}",
                "name": f"Skill {i}",
                "name_zh": f"技能 {i}",
                "category": f"C{i % 12}",
                "levels": [{"code": c, "name": c, "name_zh": c} for c in "ILUO"],
                "validity_months": (12, 24, 36, None)[i % 4],
                "created_at": now,
            }
            for i in range(SKILLS)
        ],
    )
    db.session.execute(
        insert(Position),
        [
            {
                "code": f"POS-{i:03d}",
                "name": f"Station {i}",
                "name_zh": f"工位 {i}",
                "site": f"Site {i % 2}",
                "department": f"Dept {i // 8:02d}",
                "created_at": now,
            }
            for i in range(POSITIONS)
        ],
    )
    db.session.commit()
    user_ids = [r[0] for r in db.session.execute(text("SELECT id FROM users WHERE role = 'trainee' ORDER BY id"))]
    skill_ids = [r[0] for r in db.session.execute(text("SELECT id FROM skills ORDER BY id"))]
    position_ids = [r[0] for r in db.session.execute(text("SELECT id FROM positions ORDER BY id"))]
    requirements, people = [], []
    for n, pid in enumerate(position_ids):
        # 8 positions per department, 25 people each: one department holds 200 people
        for sid in rng.sample(skill_ids[(n // 8) * 12 % SKILLS :] + skill_ids[:12], k=6):
            requirements.append(
                {"position_id": pid, "skill_id": sid, "level": rng.randint(1, 3), "min_people": rng.randint(1, 4)}
            )
        for uid in user_ids[(n * 25) % PEOPLE : (n * 25) % PEOPLE + 25]:
            people.append({"position_id": pid, "user_id": uid, "assigned_at": now})
    db.session.execute(insert(PositionRequirement), requirements)
    db.session.execute(insert(PositionPerson), people)
    required = {}
    for r in requirements:
        required.setdefault(r["position_id"], []).append(r["skill_id"])
    staff = {}
    for p in people:
        staff.setdefault(p["user_id"], []).append(p["position_id"])
    grants = []
    while len(grants) < GRANTS:  # mostly skills their positions need, some others
        uid = rng.choice(user_ids)
        sid = (
            rng.choice(required[rng.choice(staff[uid])])
            if uid in staff and rng.random() < 0.8
            else rng.choice(skill_ids)
        )
        start = today - timedelta(days=rng.randint(0, 900))
        until = None if rng.random() < 0.2 else start + timedelta(days=rng.randint(180, 1100))
        grants.append(
            {
                "user_id": uid,
                "skill_id": sid,
                "level": rng.randint(1, 4),
                "source": "assessment",
                "evidence": "bench",
                "granted_at": now,
                "valid_from": start,
                "valid_until": until,
                "revoked_reason": "",
                "revoked_at": now if rng.random() < 0.02 else None,
            }
        )
    for i in range(0, len(grants), 5000):
        db.session.execute(insert(Grant), grants[i : i + 5000])
    db.session.commit()
    return {
        "position": position_ids[rng.randrange(POSITIONS)],
        "department": "Dept 03",
        "skills": [f"SK-{i:03d}" for i in rng.sample(range(SKILLS), 20)],
    }


def load() -> str:
    """The machine's load average: the figures of a shared machine are read beside it."""
    one, five, _fifteen = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def timed(fn, repeat: int, deadline: float) -> list[float]:
    times = []
    for _ in range(repeat):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def report(label: str, times: list[float], queries: int | None = None, target: float | None = None) -> None:
    if not times:
        print(f"  {label:<52} (skipped: time limit)")
        return
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    extra = f"  {queries:>3} SQL" if queries is not None else ""
    goal = f"  target p95 < {target:g} ms: {'met' if p95 < target else 'NOT met'}" if target else ""
    print(f"  {label:<52} median {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms  n={len(times)}{extra}{goal}")


def bench(url: str, label: str, repeat: int, deadline: float) -> None:
    from training import create_app
    from training.accounts.models import User
    from training.extensions import db
    from training.qualifications import services
    from training.types import org_today

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
                "PUBLIC_BASE_URL": "http://127.0.0.1",
            }
        )
        with app.app_context():
            db.create_all()
            started = time.perf_counter()
            facts = build()
            admin = db.session.scalar(db.select(User).where(User.role == "admin"))
            print(
                f"{label}: {PEOPLE} people, {SKILLS} skills, {POSITIONS} positions, {GRANTS} grants "
                f"(built in {time.perf_counter() - started:.1f} s); {load()}"
            )
            statements: list[str] = []
            event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
            on = org_today()

            def counted(fn):
                def run():
                    statements.clear()
                    fn()
                    db.session.rollback()
                    return len(statements)

                return run

            report("baseline: SELECT 1", timed(counted(lambda: db.session.execute(text("SELECT 1"))), repeat, deadline))
            coverage = counted(lambda: services.position_coverage(admin, facts["position"], on))
            queries = coverage()
            report("coverage of one position", timed(coverage, repeat, deadline), queries, 50)
            skills = iter(facts["skills"] * (repeat + 1))
            who = counted(lambda: services.qualified_for_skill(admin, services.skill_by_code(next(skills)), 2, on))
            queries = who()
            report("who is qualified (skill, level 2, date)", timed(who, repeat, deadline), queries, 50)

            client = app.test_client()
            with client.session_transaction() as sess:
                try:
                    from training.accounts.services import start_session

                    start_session(admin)
                except ImportError:  # older trees keep the session in the cookie only
                    pass
                sess["_user_id"] = admin.get_id()
            db.session.commit()
            report("baseline: GET /healthz", timed(lambda: client.get("/healthz"), repeat, deadline))

            def page():
                statements.clear()
                response = client.get(f"/qualifications/matrix?department={facts['department']}")
                assert response.status_code == 200, response.status_code
                assert response.get_data(as_text=True).count('class="qm-person" scope="row"') >= DEPARTMENT_PEOPLE
                return len(statements)

            queries = page()
            report(
                f"matrix page, {DEPARTMENT_PEOPLE}-person department (HTTP, rendered)",
                timed(page, max(3, repeat // 2), deadline),
                queries,
                300,
            )
            report(
                "matrix XLSX, same department",
                timed(
                    lambda: client.get(f"/qualifications/matrix.xlsx?department={facts['department']}"),
                    max(3, repeat // 5),
                    deadline,
                ),
            )
            print(f"  {load()}")
            db.session.remove()
            db.engine.dispose()


def main() -> None:
    import logging

    logging.disable(logging.INFO)  # request log lines would drown the figures
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--time-limit", type=float, default=300)
    parser.add_argument("--postgres", help="PostgreSQL server URL (127.0.0.1 only); a database is created and dropped")
    args = parser.parse_args()
    repeat = max(1, min(args.repeat, 200))
    deadline = time.monotonic() + args.time_limit
    with tempfile.TemporaryDirectory() as tmp:
        bench(f"sqlite:///{tmp}/bench.db", "SQLite", repeat, deadline)
    if args.postgres:
        base = make_url(args.postgres).set(drivername="postgresql+psycopg")
        if base.host not in ("127.0.0.1", "localhost"):
            sys.exit("benchmarks only talk to 127.0.0.1")
        name = f"qualifications_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            bench(base.set(database=name).render_as_string(hide_password=False), "PostgreSQL", repeat, deadline)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
