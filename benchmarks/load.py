"""Load test: the app under gunicorn on PostgreSQL, 32 concurrent clients.

    python benchmarks/load.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
                              [--clients 32] [--seconds 6] [--max-requests 30000] [--workers 2]

What it does, all on this machine (loopback only):

1. creates a fresh PostgreSQL database (dropped at the end), runs the
   migrations (``flask db upgrade``), loads the demo (``flask demo load``) and
   adds trainees with API tokens and an open run with room for all of them;
2. starts gunicorn (sync workers, as in production) on 127.0.0.1;
3. for each scenario, runs ``--clients`` concurrent clients for at most
   ``--seconds`` seconds and ``--max-requests`` requests (after a short
   warm-up) and prints requests per second, p50 and p99 latency and errors:

   - /healthz: a trivial endpoint, the machine's own ceiling in this run;
   - the catalogue (/), anonymous and signed in (300 courses), a course page, the
     certificate verification page; "catalogue (signed in, rendered)" asks a
     second gunicorn with the page caches off, so that every request renders the
     listing (what a signed-in trainee got before the listing was shared);
   - enrolment: POST /api/v1/runs/<id>/enrolments, each request a different
     trainee (so every one writes: a locked seat count and a new row).

The client is plain Python (asyncio, HTTP/1.1, one connection per request as
gunicorn's sync workers close it), spread over two processes so it is not
the bottleneck on a small machine. Rate limits are switched off in the server
(RATELIMIT_ENABLED=0): all requests come from one address and would
otherwise be answered 429. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
TRAINEES = 3000
CATALOGUE_COURSES = 300  # the signed-in catalogue scenario of issue 13
ENROL_CAPACITY = 600  # fewer seats than enrolments: the rest must be waitlisted, not one seat too many
SCENARIOS = (
    "healthz",
    "catalogue",
    "catalogue (signed in)",
    "catalogue (signed in, rendered)",
    "course page",
    "verify",
    "enrolment",
)
# Served by a second gunicorn with the page caches off (PUBLIC_PAGE_CACHE_SECONDS=0): every
# request renders the listing (the summary and card fragments still count, as in catalogue_bench).
UNCACHED = {"catalogue (signed in, rendered)"}


# --- the database -------------------------------------------------------------------


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def create_database(admin_url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(_psycopg_url(admin_url))
    name = f"training_load_{uuid.uuid4().hex[:8]}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return name, base.set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(make_url(_psycopg_url(admin_url)), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    engine.dispose()


def server_env(url: str, instance: Path) -> dict:
    env = dict(
        os.environ,
        DATABASE_URL=url,
        RATELIMIT_ENABLED="0",
        JOBS_MODE="thread",
        SECRET_KEY="load-test",
        MAIL_SERVER="",
        LOG_LEVEL="WARNING",
        UPLOAD_DIR=str(instance / "uploads"),
        SIGNING_DIR=str(instance / "signing"),
        DOCUMENT_DIR=str(instance / "documents"),
        PUBLIC_BASE_URL=f"http://{HOST}",
        SCHEDULER_IN_WEB="0",
    )
    env.pop("REDIS_URL", None)
    return env


def prepare(url: str, env: dict) -> dict:
    """Migrate, load the demo, add trainees with tokens; return the targets."""
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    for args in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run(flask + args, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    os.environ.update(
        {
            k: v
            for k, v in env.items()
            if k
            in (
                "DATABASE_URL",
                "SECRET_KEY",
                "SIGNING_DIR",
                "DOCUMENT_DIR",
                "UPLOAD_DIR",
                "PUBLIC_BASE_URL",
                "SCHEDULER_IN_WEB",
                "LOG_LEVEL",
            )
        }
    )
    import secrets
    from datetime import timedelta

    from sqlalchemy import select

    from training import create_app
    from training.accounts.models import ApiToken, User
    from training.accounts.services import _token_hash
    from training.catalogue.models import Course, Meeting, Run
    from training.certificates.models import Certificate
    from training.extensions import db
    from training.types import utcnow

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        course = db.session.scalar(select(Course).where(Course.published.is_(True)).order_by(Course.id))
        start = (utcnow() + timedelta(days=30)).replace(microsecond=0)
        run = Run(
            course=course,
            capacity=ENROL_CAPACITY,
            timezone="Asia/Shanghai",
            status="open",
            starts_on=start.date(),
            ends_on=(start + timedelta(days=1)).date(),
            location="Load test hall",
            city="Suzhou",
            meetings=[Meeting(starts_at=start, ends_at=start + timedelta(hours=8))],
        )
        db.session.add(run)
        tokens = []
        users = [
            User(
                email=f"load{i}@example.com",
                display_name=f"Load Trainee {i}",
                role="trainee",
                active=True,
                session_version=1,
            )
            for i in range(TRAINEES)
        ]
        db.session.add_all(users)
        db.session.flush()
        for user in users:
            token = "trn_" + secrets.token_urlsafe(32)
            tokens.append(token)
            db.session.add(ApiToken(user_id=user.id, token_hash=_token_hash(token), name="load"))
        db.session.commit()
        code = db.session.scalar(
            select(Certificate.code).where(Certificate.revoked_at.is_(None)).order_by(Certificate.id)
        )
        params = {"course_id": course.id, "run_id": run.id, "code": code, "tokens": tokens}
        _fill_catalogue(db, course)
    params["cookie"] = _signed_in_cookie(url)
    return params


def _fill_catalogue(db, like) -> None:
    """Published courses up to CATALOGUE_COURSES, a quarter of them with an upcoming run."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from training.catalogue.models import Course, Meeting, Run
    from training.types import utcnow

    have = db.session.scalar(select(func.count()).select_from(Course).where(Course.published.is_(True)))
    start = (utcnow() + timedelta(days=20)).replace(microsecond=0)
    for i in range(max(0, CATALOGUE_COURSES - have)):
        course = Course(
            code=f"LOAD-{i:04d}",
            title=f"Load test course {i:04d} 负载测试课程",
            summary="A course that fills the catalogue for the load test.",
            hours=8,
            language="en",
            level="beginner",
            min_attendance_pct=80,
            published=True,
            category_id=like.category_id,
        )
        db.session.add(course)
        if i % 4 == 0:
            when = start + timedelta(days=i % 60)
            db.session.add(
                Run(
                    course=course,
                    capacity=20,
                    timezone="Asia/Shanghai",
                    status="open",
                    starts_on=when.date(),
                    ends_on=when.date(),
                    location="Hall 2",
                    city="Suzhou",
                    meetings=[Meeting(starts_at=when, ends_at=when + timedelta(hours=8))],
                )
            )
    db.session.commit()


def _signed_in_cookie(url: str) -> str:
    """A demo trainee's session cookie, from a real login through the app and a first page."""
    from training import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    client = app.test_client()
    # As the load clients send it (no User-Agent): the login's fingerprint (Flask-Login's session
    # protection) is theirs, so their requests do not mark the session "not fresh" (a new cookie) each time.
    client.environ_base.pop("HTTP_USER_AGENT", None)
    response = client.post(
        "/login", data={"email": "ouyang.xiaoyan@demo.smt-academy.cn", "password": "demo-password-2026"}
    )
    assert response.status_code == 302, response.status_code
    # A browser keeps the cookie its first page sets (the welcome message shown and gone, the session's CSRF
    # secret made for the logout form): replaying the login's own cookie would show the welcome message and
    # sign a new cookie on every request of the run.
    assert client.get("/").status_code == 200
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None, "no session cookie after login"
    return f"{cookie.key}={cookie.value}"


# --- the server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict, port: int, workers: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"{HOST}:{port}",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


# --- the client ---------------------------------------------------------------------------


def _request_bytes(method: str, path: str, headers: dict, body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", "Connection: close", "Accept-Language: en"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _one(port: int, payload: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(payload)
        data = await reader.read()  # the server closes the connection
    finally:
        writer.close()
    status = int(data[9:12]) if data[:5] == b"HTTP/" else 0
    return status, time.perf_counter() - started


async def _client_loop(port, requests, start_index, step, stop_at, max_requests, warmup_until, results):
    index = start_index
    while True:
        now = time.perf_counter()
        if now >= stop_at or index >= max_requests:
            return
        payload = requests(index)
        index += step
        try:
            status, elapsed = await _one(port, payload)
        except OSError:
            status, elapsed = 0, time.perf_counter() - now
        results.append((status, elapsed, time.monotonic(), now < warmup_until))


def _client_process(port, scenario, params, first, step, clients, seconds, warmup, max_requests, queue):
    requests = make_requests(scenario, params)
    results: list = []
    window = {}

    async def main():
        begin = time.perf_counter()
        warmup_until, stop_at = begin + warmup, begin + warmup + seconds
        window["start"] = time.monotonic() + warmup
        await asyncio.gather(
            *(
                _client_loop(
                    port, requests, first + i * step, step * clients, stop_at, max_requests, warmup_until, results
                )
                for i in range(clients)
            )
        )

    asyncio.run(main())
    queue.put((window["start"], results))


def make_requests(scenario: str, params: dict):
    if scenario == "healthz":
        payload = _request_bytes("GET", "/healthz", {}, b"")
        return lambda i: payload
    if scenario == "catalogue":
        payload = _request_bytes("GET", "/", {}, b"")
        return lambda i: payload
    if scenario in ("catalogue (signed in)", "catalogue (signed in, rendered)"):
        payload = _request_bytes("GET", "/", {"Cookie": params["cookie"]}, b"")
        return lambda i: payload
    if scenario == "course page":
        payload = _request_bytes("GET", f"/courses/{params['course_id']}", {}, b"")
        return lambda i: payload
    if scenario == "verify":
        payload = _request_bytes("GET", f"/verify/{params['code']}", {}, b"")
        return lambda i: payload
    if scenario == "enrolment":
        tokens, run_id = params["tokens"], params["run_id"]
        return lambda i: _request_bytes(
            "POST",
            f"/api/v1/runs/{run_id}/enrolments",
            {"Authorization": f"Bearer {tokens[i % len(tokens)]}", "Content-Type": "application/json"},
            b"{}",
        )
    raise ValueError(scenario)


def measure(port, scenario, params, clients, seconds, max_requests, processes=2, warmup=0.5):
    queue = multiprocessing.get_context("fork").Queue()
    per_process = clients // processes
    workers = [
        multiprocessing.get_context("fork").Process(
            target=_client_process,
            args=(port, scenario, params, p, processes, per_process, seconds, warmup, max_requests, queue),
        )
        for p in range(processes)
    ]
    for w in workers:
        w.start()
    parts = [queue.get(timeout=seconds + 120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    everything = [r for _start, rs in parts for r in rs]
    results = [r[:3] for r in everything if not r[3]]
    warmup_201 = sum(1 for r in everything if r[3] and r[0] == 201)
    warmup_requests = sum(1 for r in everything if r[3])
    began = min(start for start, _rs in parts)
    window = max((r[2] for r in results), default=began + seconds) - began
    ok = [r for r in results if 200 <= r[0] < 400]
    errors = len(results) - len(ok)
    latencies = sorted(r[1] for r in results)
    statuses: dict[int, int] = {}
    for status, *_ in results:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "scenario": scenario,
        "requests": len(results),
        "errors": errors,
        "statuses": statuses,
        "warmup_201": warmup_201,
        "warmup_requests": warmup_requests,
        "rps": len(results) / window if results and window > 0 else 0.0,
        "p50": 1000 * latencies[len(latencies) // 2] if latencies else float("nan"),
        "p99": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan"),
        "mean": 1000 * statistics.fmean(latencies) if latencies else float("nan"),
    }


def check_enrolments(url: str, run_id: int, created: int) -> str:
    """After the enrolment scenario: are exactly the right people confirmed?"""
    from sqlalchemy import create_engine, text

    engine = create_engine(_psycopg_url(url))
    with engine.connect() as conn:
        rows = dict(
            conn.execute(
                text("SELECT status, count(*) FROM enrolments WHERE run_id = :r GROUP BY status"), {"r": run_id}
            ).all()
        )
        duplicates = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT user_id FROM enrolments WHERE run_id = :r "
                "GROUP BY user_id HAVING count(*) > 1) d"
            ),
            {"r": run_id},
        ).scalar()
    engine.dispose()
    confirmed, waitlisted = rows.get("confirmed", 0), rows.get("waitlisted", 0)
    expected = min(ENROL_CAPACITY, created)
    verdict = "right" if confirmed == expected and confirmed + waitlisted == created and not duplicates else "WRONG"
    return (
        f"enrolment check: {created} answered 201; {confirmed} confirmed (expected {expected}: capacity "
        f"{ENROL_CAPACITY}), {waitlisted} waitlisted, {duplicates} duplicates: {verdict}"
    )


# --- where the CPU went -------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pids) -> float:
    """CPU seconds (user + system, every thread) the processes have used so far."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def _workers(server: subprocess.Popen) -> list[str]:
    try:
        return Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    except OSError:
        return []


def _backends(url: str) -> list[int]:
    """The PostgreSQL server processes serving this database (the workers' pooled connections)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(_psycopg_url(url))
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalars()
            )
    except Exception:  # noqa: BLE001 - a figure for the report, not a reason to stop
        return []
    finally:
        engine.dispose()


def _machine_busy() -> tuple[float, float]:
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values) - idle) / _TICK, sum(values) / _TICK


class CpuAccount:
    """CPU seconds per request over one scenario, by who spent them: the gunicorn
    workers (request and, in the embedded set-up, the outbox relay's thread), the
    PostgreSQL backends of this database, the load client's processes, and how
    busy the whole machine was (other work included). Linux only; on a machine
    without /proc every figure reads 0."""

    def __init__(self, server: subprocess.Popen, url: str) -> None:
        self.server, self.url = server, url

    def start(self) -> None:
        import resource

        self.workers = _workers(self.server)
        self.backends = _backends(self.url)
        self.web0 = _proc_cpu(self.workers)
        self.pg0 = _proc_cpu(self.backends)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.client0 = usage.ru_utime + usage.ru_stime
        self.busy0, self.all0 = _machine_busy()
        self.wall0 = time.perf_counter()

    def stop(self, requests: int) -> dict:
        import resource

        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy, everything = _machine_busy()
        backends = set(self.backends) | set(_backends(self.url))
        n = max(1, requests)
        return {
            "web": 1000 * (_proc_cpu(self.workers) - self.web0) / n,
            "pg": 1000 * (_proc_cpu(backends) - self.pg0) / n,
            "client": 1000 * (usage.ru_utime + usage.ru_stime - self.client0) / n,
            "machine": 1000 * (busy - self.busy0) / n,
            "busy": (busy - self.busy0) / max(1e-9, everything - self.all0),
        }


def wait_for_outbox(url: str, limit: float = 60.0) -> float:
    """Seconds until the outbox has no pending row (the e-mails of the burst relayed), at most ``limit``."""
    from sqlalchemy import create_engine, text

    engine = create_engine(_psycopg_url(url))
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < limit:
            with engine.connect() as conn:
                if not conn.scalar(text("SELECT count(*) FROM outbox WHERE state = 'pending'")):
                    break
            time.sleep(0.05)
    finally:
        engine.dispose()
    return time.perf_counter() - started


def worker_memory(server: subprocess.Popen) -> str:
    """RSS now and at its peak of each gunicorn worker (children of the master)."""
    out = []
    try:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    except OSError:
        return "worker memory: unreadable"
    for pid in children:
        fields = {}
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = int(value.split()[0]) / 1024
        except OSError:
            continue
        out.append(f"pid {pid}: {fields.get('VmRSS', 0):.0f} MiB now, peak {fields.get('VmHWM', 0):.0f} MiB")
    return "gunicorn workers after the load (target: under 150 MiB): " + "; ".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres", default=os.environ.get("LOAD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=6.0, help="per scenario, after warm-up (max 60)")
    parser.add_argument("--max-requests", type=int, default=30000, help="per scenario")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn sync workers")
    parser.add_argument("--only", action="append", choices=SCENARIOS, help="run only these (healthz always runs)")
    args = parser.parse_args()
    args.seconds = min(args.seconds, 60.0)
    args.max_requests = min(args.max_requests, 200000)
    from sqlalchemy.engine import make_url

    if make_url(_psycopg_url(args.postgres)).host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("loopback only: the PostgreSQL server must be on 127.0.0.1")

    name, url = create_database(args.postgres)
    instance = Path(os.environ.get("TMPDIR", "/tmp")) / f"training-load-{name}"
    instance.mkdir(parents=True, exist_ok=True)
    env = server_env(url, instance)
    server = None
    try:
        started = time.perf_counter()
        params = prepare(url, env)
        print(
            f"database {name} ready in {time.perf_counter() - started:.1f}s "
            f"(demo data, {TRAINEES} trainees with tokens)",
            flush=True,
        )
        port = free_port()
        server = start_gunicorn(env, port, args.workers)
        print(
            f"gunicorn: {args.workers} sync workers on {HOST}:{port}; {args.clients} clients; "
            f"{args.seconds:g}s per scenario (max {args.max_requests} requests)\n",
            flush=True,
        )
        rows = []
        chosen = [s for s in SCENARIOS if s == "healthz" or not args.only or s in args.only]
        for scenario in chosen:
            limit = min(args.max_requests, TRAINEES) if scenario == "enrolment" else args.max_requests
            target, target_port, uncached = server, port, None
            if scenario in UNCACHED:
                target_port = free_port()
                target = uncached = start_gunicorn(dict(env, PUBLIC_PAGE_CACHE_SECONDS="0"), target_port, args.workers)
            try:
                account = CpuAccount(target, url)
                account.start()
                row = measure(target_port, scenario, params, args.clients, args.seconds, limit)
                if scenario == "enrolment":
                    row["drain"] = wait_for_outbox(url)  # the relay's CPU belongs to these enrolments too
                row["cpu"] = account.stop(row["requests"] + row["warmup_requests"])
            finally:
                if uncached is not None:
                    stop(uncached)
            row["load"] = os.getloadavg()[0]
            rows.append(row)
        ceiling = rows[0]["rps"] or 1.0
        print(
            f"{'scenario':<32}{'requests':>9}{'errors':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'of /healthz':>13}"
            f"{'load avg':>10}"
        )
        for r in rows:
            print(
                f"{r['scenario']:<32}{r['requests']:>9}{r['errors']:>8}{r['rps']:>9.0f}{r['p50']:>9.1f}"
                f"{r['p99']:>9.1f}{100 * r['rps'] / ceiling:>12.0f}%{r['load']:>10.2f}"
            )
        print(
            "\n(load avg: the machine's 1-minute load average after each scenario, on "
            f"{os.cpu_count()} cores; other work on the machine shares them)"
        )
        print(
            "\nCPU ms per request (warm-up included), by who spent it: gunicorn workers (with the outbox "
            "relay's thread), this database's PostgreSQL backends, the load client; all cores of the machine "
            "(other work included) and how busy they were"
        )
        for r in rows:
            c = r["cpu"]
            print(
                f"  {r['scenario']:<24} web {c['web']:6.2f}  postgres {c['pg']:6.2f}  client {c['client']:5.2f}"
                f"  machine {c['machine']:6.2f}  ({100 * c['busy']:.0f}% busy)"
            )
        enrolment = next((r for r in rows if r["scenario"] == "enrolment"), None)
        if enrolment is not None:
            print(check_enrolments(url, params["run_id"], enrolment["statuses"].get(201, 0) + enrolment["warmup_201"]))
            print(f"outbox: every e-mail of the burst relayed {enrolment['drain']:.2f} s after the last answer")
        print(worker_memory(server))
        odd = {r["scenario"]: r["statuses"] for r in rows if r["errors"]}
        if odd:
            print("\nstatus codes where there were errors:", odd)
        print(
            f"\nenrolment: at most {TRAINEES} requests, one per trainee (each one a new enrolment); "
            "req/s is over the time they took."
        )
    finally:
        if server is not None:
            stop(server)
        drop_database(args.postgres, name)
        shutil.rmtree(instance, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
