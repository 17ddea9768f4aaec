"""What one request costs beyond /healthz, in process, on PostgreSQL (issue 13: the verification page and
the fixed cost of every page).

    python benchmarks/request_cost.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
                                      [--requests 400] [--rounds 5] [--profile verify]

It builds the same database as ``load.py`` (a new one on that server, dropped at the end), creates the app
as gunicorn does (``wsgi.py``: no test settings, rate limits off as in ``load.py``) and calls it as a WSGI
server would, with a prepared environ, for each page in turn (rounds interleaved, so a busy machine slows
every page alike). Per request it prints:

- CPU of this process (``time.process_time``) and of the PostgreSQL backends serving it (from /proc):
  wall-clock figures on a shared machine are noise, CPU is what a page takes from the cores;
- SQL statements and round trips to PostgreSQL (the client's protocol messages, counted with libpq's trace
  on a separate pass: every Execute or simple Query is a statement, whether SQLAlchemy or the driver sent it,
  and every Sync or simple Query waits for an answer);
- with ``--profile PAGE``, a cProfile of that page (top functions by own time).

Figures are printed beside /healthz of the same run, never asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import load  # noqa: E402 - after the project root is put on sys.path


def _backend_cpu(admin, database: str) -> float:
    """CPU seconds (user + system) used so far by the backends connected to ``database``."""
    from sqlalchemy import text

    pids = admin.execute(
        text("SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": database}
    ).scalars()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # another machine's server, or the backend ended
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _environ(path: str, headers: dict) -> dict:
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(
        path=path,
        base_url=f"http://{load.HOST}",
        headers={"Accept-Language": "en", **headers},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _call(app, environ: dict) -> int:
    status: list[str] = []

    def start_response(s, _headers, _exc_info=None):
        status.append(s)

    body = app(dict(environ), start_response)
    try:
        for _chunk in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return int(status[0][:3])


def _wire(app, environ: dict, count: int) -> tuple[float, float]:
    """Statements sent (Execute or simple Query) and client protocol messages that wait for the server, per
    request (libpq trace of every pooled connection): what reached PostgreSQL, whichever way it was sent."""
    from sqlalchemy import event

    from training.extensions import db

    traces: list = []

    def _trace(dbapi_connection, _record):
        handle = tempfile.TemporaryFile()
        dbapi_connection.pgconn.trace(handle.fileno())
        traces.append((dbapi_connection, handle))

    with app.app_context():
        engine = db.engine
        engine.dispose()  # every connection from here on is traced from its start
        event.listen(engine.pool, "connect", _trace)
    try:
        _call(app, environ)  # opens the connection (its start-up is not a request's)
        for _, handle in traces:
            handle.seek(0)
            handle.truncate()
        for _ in range(count):
            _call(app, environ)
    finally:
        event.remove(engine.pool, "connect", _trace)
    waits = statements = 0
    for connection, handle in traces:
        try:
            connection.pgconn.untrace()
        except Exception:  # noqa: BLE001 - a connection closed since
            pass
        handle.seek(0)
        for line in handle.read().decode(errors="replace").splitlines():
            parts = line.split("\t")
            # "<time>\tF\t<length>\t<message> ...": a Sync or a simple Query waits for the server
            message = parts[3].split(" ")[0].split("\t")[0] if len(parts) > 3 and parts[1] == "F" else ""
            waits += message in ("Sync", "Query")
            statements += message in ("Execute", "Query")
        handle.close()
    with app.app_context():
        engine.dispose()
    return statements / count, waits / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres", default=os.environ.get("LOAD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--requests", type=int, default=400, help="per page and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", help="cProfile this page (a name from the table)")
    args = parser.parse_args()
    from sqlalchemy.engine import make_url

    if make_url(load._psycopg_url(args.postgres)).host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("loopback only: the PostgreSQL server must be on 127.0.0.1")
    name, url = load.create_database(args.postgres)
    instance = Path(tempfile.gettempdir()) / f"training-cost-{name}"
    instance.mkdir(parents=True, exist_ok=True)
    env = load.server_env(url, instance)
    try:
        params = load.prepare(url, env)
        os.environ.update(env)
        from sqlalchemy import create_engine

        from training import create_app
        from training.extensions import db

        app = create_app()  # as wsgi.py: settings from the environment only
        pages = {
            "healthz": _environ("/healthz", {}),
            "verify": _environ(f"/verify/{params['code']}", {}),
            "verify (zh)": _environ(f"/verify/{params['code']}", {"Accept-Language": "zh"}),
            "course page": _environ(f"/courses/{params['course_id']}", {}),
            "catalogue (cached)": _environ("/", {}),
            "verify (signed in)": _environ(f"/verify/{params['code']}", {"Cookie": params["cookie"]}),
            "catalogue (signed in)": _environ("/", {"Cookie": params["cookie"]}),
        }
        for environ in pages.values():
            for _ in range(3):  # warm: templates compiled, caches filled, connection open
                _call(app, environ)
        admin = create_engine(load._psycopg_url(args.postgres), isolation_level="AUTOCOMMIT").connect()
        results: dict[str, dict[str, list[float]]] = {p: {"app": [], "db": []} for p in pages}
        for _ in range(args.rounds):
            for page, environ in pages.items():
                db_before = _backend_cpu(admin, name)
                before = time.process_time()
                for _ in range(args.requests):
                    status = _call(app, environ)
                app_cpu = time.process_time() - before
                db_cpu = _backend_cpu(admin, name) - db_before
                assert status < 400, (page, status)
                results[page]["app"].append(1000 * app_cpu / args.requests)
                results[page]["db"].append(1000 * db_cpu / args.requests)
        wire = {page: _wire(app, environ, 50) for page, environ in pages.items()}
        admin.close()
        base = statistics.median(results["healthz"]["app"]) + statistics.median(results["healthz"]["db"])
        print(
            f"{args.rounds} rounds x {args.requests} requests per page, in process (load average "
            f"{os.getloadavg()[0]:.2f}); medians of the rounds, ms of CPU per request\n"
        )
        print(
            f"{'page':<22}{'app CPU':>9}{'db CPU':>9}{'total':>9}{'- healthz':>11}{'statements':>12}{'round trips':>13}"
        )
        for page, row in results.items():
            app_ms, db_ms = statistics.median(row["app"]), statistics.median(row["db"])
            print(
                f"{page:<22}{app_ms:>9.3f}{db_ms:>9.3f}{app_ms + db_ms:>9.3f}{app_ms + db_ms - base:>11.3f}"
                f"{wire[page][0]:>12.1f}{wire[page][1]:>13.1f}"
            )
        if args.profile:
            environ = pages[args.profile]
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.requests):
                _call(app, environ)
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(40)
            print(f"\ncProfile of {args.profile}, {args.requests} requests\n" + out.getvalue())
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        load.drop_database(args.postgres, name)
        shutil.rmtree(instance, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
