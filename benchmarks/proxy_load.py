"""Two app servers behind nginx against one: where the limit moves.

    python benchmarks/proxy_load.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
                                    [--clients 32] [--seconds 5] [--max-requests 20000] [--workers 2]

All on this machine (loopback only), bounded in time and count:

1. a fresh PostgreSQL database (dropped at the end) with the demo data, 3,000 trainees with API tokens,
   an open run to enrol in and a meeting under way that all of them are confirmed on (benchmarks/load.py
   builds the same data; this adds the meeting);
2. nginx (Debian's package) with the README's reverse-proxy block (tests/ops/nginx_stack.py derives the
   runnable file from it) in front of ONE gunicorn server (``--workers`` sync workers), of one server with
   twice as many workers (the control: as many processes as two servers), and of TWO servers (``--workers``
   each), all with the same settings, sharing the database;
3. for each set-up and scenario, ``--clients`` concurrent clients for at most ``--seconds`` seconds and
   ``--max-requests`` requests, printing req/s, p50 and p99 beside ``/healthz`` through the same proxy:

   - /healthz: the proxy and the app servers' own ceiling in this run;
   - catalogue: GET / (anonymous, the shared page cache);
   - check-in: POST /api/v1/meetings/<id>/checkin with the code on the room's screen, each request another
     trainee (one attendance row written each);
   - enrolment: POST /api/v1/runs/<id>/enrolments, each request another trainee (the run row is locked).

Every trainee is used once (a third of them for each set-up).
Rate limits are off in the servers (every request comes from one address). Figures are printed, never
asserted; the machine's load average is printed beside them, since a shared machine moves them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import load  # noqa: E402  (benchmarks/load.py: database, data, client)

from tests.ops import nginx_stack as stack  # noqa: E402 - after the project root is put on sys.path

SCENARIOS = ("healthz", "catalogue", "check-in", "enrolment")


def add_meeting_under_way(url: str, tokens: list[str]) -> dict:
    """A run whose meeting started 10 minutes ago, every load trainee confirmed on it; an admin token."""
    import secrets

    from sqlalchemy import select

    from training import create_app
    from training.accounts.models import ApiToken, User
    from training.accounts.services import _token_hash
    from training.catalogue.models import Course, Meeting, Run
    from training.enrolment.models import Enrolment
    from training.extensions import db
    from training.types import utcnow

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        course = db.session.scalar(select(Course).where(Course.published.is_(True)).order_by(Course.id))
        now = utcnow().replace(microsecond=0)
        meeting = Meeting(starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=4))
        run = Run(
            course=course,
            capacity=len(tokens) + 10,
            timezone="Asia/Shanghai",
            status="open",
            starts_on=(now - timedelta(days=1)).date(),
            ends_on=(now + timedelta(days=1)).date(),
            location="Check-in hall",
            city="Suzhou",
            meetings=[meeting],
        )
        db.session.add(run)
        db.session.flush()
        trainees = db.session.scalars(select(User.id).where(User.email.like("load%@example.com"))).all()
        db.session.add_all(
            Enrolment(run_id=run.id, user_id=uid, status="confirmed", confirmed_at=now, source="admin")
            for uid in trainees
        )
        admin = db.session.scalar(select(User).where(User.role == "admin").order_by(User.id))
        token = "trn_" + secrets.token_urlsafe(32)
        db.session.add(ApiToken(user_id=admin.id, token_hash=_token_hash(token), name="proxy-load"))
        db.session.commit()
        return {"meeting_id": meeting.id, "admin_token": token, "confirmed": len(trainees)}


def checkin_code(port: int, params: dict, room: float) -> str:
    """The code on the room's screen now, with at least ``room`` seconds of its life left (else the next one)."""
    from datetime import datetime

    for _ in range(3):
        status, _h, body = stack.request(
            port,
            "GET",
            f"/api/v1/meetings/{params['meeting_id']}/checkin-code",
            headers={"Authorization": f"Bearer {params['admin_token']}"},
            host=stack.HOST,
            source=None,
        )
        assert status == 200, (status, body[:300])
        data = json.loads(body)
        left = datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00")).timestamp() - time.time()
        if left >= room:
            return data["code"]
        time.sleep(max(0.0, left) + 0.5)
    return data["code"]


def make_requests(scenario: str, params: dict):
    if scenario == "check-in":
        tokens, meeting_id = params["tokens"], params["meeting_id"]
        body = json.dumps({"code": params["code"]}).encode()
        return lambda i: load._request_bytes(
            "POST",
            f"/api/v1/meetings/{meeting_id}/checkin",
            {"Authorization": f"Bearer {tokens[i % len(tokens)]}", "Content-Type": "application/json"},
            body,
        )
    return _load_requests(scenario, params)


_load_requests = load.make_requests
load.make_requests = make_requests  # the client processes (forked) build their requests through this


def run_setup(servers: int, workers: int, args, env: dict, params: dict, tokens: list[str], workdir: Path) -> list:
    ports = [stack.free_port() for _ in range(servers)]
    port = stack.free_port()
    processes = []
    name = f"{servers}x{workers}"
    try:
        for i, p in enumerate(ports):
            processes.append(stack.start_gunicorn(env, p, workdir / f"{name}-app{i}", workers=workers, host=stack.HOST))
        conf = stack.write_nginx_conf(workdir / f"{name}-nginx", listen_port=port, upstream_ports=ports)
        processes.append(stack.start_nginx(conf, port))
        rows = []
        for scenario in SCENARIOS:
            scenario_params = dict(params, tokens=tokens)
            limit = args.max_requests
            if scenario in ("check-in", "enrolment"):
                limit = min(limit, len(tokens))  # each trainee once
            if scenario == "check-in":
                scenario_params["code"] = checkin_code(port, params, room=args.seconds + 5)
            rows.append(load.measure(port, scenario, scenario_params, args.clients, args.seconds, limit))
        return rows
    finally:
        for process in reversed(processes):
            stack.stop(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres", default=os.environ.get("LOAD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0, help="per scenario, after warm-up (max 30)")
    parser.add_argument("--max-requests", type=int, default=20000, help="per scenario")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="sync workers per gunicorn")
    args = parser.parse_args()
    args.seconds = min(args.seconds, 30.0)
    args.max_requests = min(args.max_requests, 100000)
    if stack.NGINX is None:
        parser.error("needs nginx (Debian package nginx)")
    from sqlalchemy.engine import make_url

    if make_url(load._psycopg_url(args.postgres)).host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("loopback only: the PostgreSQL server must be on 127.0.0.1")

    name, url = load.create_database(args.postgres)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"training-proxy-load-{name}"
    workdir.mkdir(parents=True, exist_ok=True)
    env = load.server_env(url, workdir)
    env.update(TRUSTED_PROXIES="1", SCHEDULER_IN_WEB="0")
    # This process makes apps too (the data); recurring work must not start in it, nor in the servers.
    os.environ["SCHEDULER_IN_WEB"] = "0"
    try:
        started = time.perf_counter()
        params = load.prepare(url, env)
        params.update(add_meeting_under_way(url, params["tokens"]))
        print(
            f"database {name} ready in {time.perf_counter() - started:.1f}s (demo data, {load.TRAINEES} trainees "
            f"with tokens, {params['confirmed']} of them confirmed on a meeting under way)",
            flush=True,
        )
        # One server; one server with as many workers as two servers have (so that "more processes" and
        # "another server" are told apart); two servers. Each set-up uses trainees of its own.
        setups = [(1, args.workers), (1, 2 * args.workers), (2, args.workers)]
        share = len(params["tokens"]) // len(setups)
        results = {}
        for index, (servers, workers) in enumerate(setups):
            before = os.getloadavg()[0]
            print(
                f"\nnginx + {servers} gunicorn ({workers} sync workers each); {args.clients} clients; "
                f"{args.seconds:g}s per scenario (max {args.max_requests} requests)",
                flush=True,
            )
            tokens = params["tokens"][index * share : (index + 1) * share]
            results[servers, workers] = run_setup(servers, workers, args, env, params, tokens, workdir)
            print(f"load average (1 min) before {before:.1f}, after {os.getloadavg()[0]:.1f}", flush=True)
        print(
            f"\n{'scenario':<12}{'set-up':>8}{'requests':>9}{'errors':>7}{'req/s':>8}{'p50 ms':>8}"
            f"{'p99 ms':>8}{'of /healthz':>12}"
        )
        for scenario_index, scenario in enumerate(SCENARIOS):
            for servers, workers in setups:
                rows = results[servers, workers]
                r, ceiling = rows[scenario_index], rows[0]["rps"] or 1.0
                print(
                    f"{scenario:<12}{f'{servers}x{workers}':>8}{r['requests']:>9}{r['errors']:>7}{r['rps']:>8.0f}"
                    f"{r['p50']:>8.1f}{r['p99']:>8.1f}{100 * r['rps'] / ceiling:>11.0f}%"
                )
        print("\nwhere the limit moves (req/s of each set-up ÷ one server; set-up = servers x workers each):")
        for scenario_index, scenario in enumerate(SCENARIOS):
            one = results[setups[0]][scenario_index]["rps"]
            ratios = "".join(
                f"{f'{s}x{w}':>8} {results[s, w][scenario_index]['rps'] / one if one else float('nan'):.2f}×"
                for s, w in setups[1:]
            )
            print(f"  {scenario:<12}{ratios}")
        odd = {
            f"{s} ({n}x{w})": r["statuses"]
            for n, w in setups
            for s, r in zip(SCENARIOS, results[n, w], strict=True)
            if r["errors"]
        }
        if odd:
            print("\nstatus codes where there were errors:", odd)
        print(f"\nmachine: {os.cpu_count()} cores; load average now {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        load.drop_database(args.postgres, name)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
