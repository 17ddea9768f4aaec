"""Fire simultaneous enrolments at a real gunicorn server on PostgreSQL.

Shared by the concurrency test (tests/enrolment/test_enrol_concurrency_pg.py)
and the benchmark (benchmarks/enrol_load.py). Everything talks to 127.0.0.1;
every loop is bounded in count and time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg(url: str):
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


@dataclass
class LoadDatabase:
    """A fresh PostgreSQL database with one run of ``capacity`` seats and
    ``trainees`` trainee accounts with bearer tokens."""

    url: str
    run_id: int = 0
    warmup_run_id: int = 0
    tokens: list = field(default_factory=list)
    repeat_token: str = ""
    repeat_user_id: int = 0
    _admin_url: object = None
    _name: str = ""

    @classmethod
    def create(cls, base_url: str, *, capacity: int = 10, trainees: int = 100, workdir: Path) -> LoadDatabase:
        base = _pg(base_url)
        name = f"{base.database or 'training'}_load_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = base.set(database=name).render_as_string(hide_password=False)
        db_ = cls(url=url, _admin_url=base.set(database="postgres"), _name=name)
        db_._seed(capacity, trainees, workdir)
        return db_

    def _seed(self, capacity: int, trainees: int, workdir: Path) -> None:
        from training import create_app
        from training.accounts.models import ApiToken, User
        from training.accounts.services import _token_hash
        from training.catalogue.models import Course, Meeting, Run
        from training.extensions import db

        app = create_app(server_config(self.url, workdir))
        with app.app_context():
            db.create_all()
            course = Course(code="LOAD-1", title="OPC UA under load", hours=8, published=True)
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=14)
            run = Run(
                course=course,
                capacity=capacity,
                starts_on=start.date(),
                ends_on=start.date() + timedelta(days=1),
                timezone="Asia/Shanghai",
                status="open",
                meetings=[Meeting(starts_at=start, ends_at=start + timedelta(hours=8))],
            )
            warmup = Run(
                course=course,
                capacity=100000,
                starts_on=start.date(),
                ends_on=start.date() + timedelta(days=1),
                timezone="Asia/Shanghai",
                status="open",
                meetings=[Meeting(starts_at=start, ends_at=start + timedelta(hours=8))],
            )
            db.session.add_all([run, warmup])
            users = [
                User(
                    email=f"load{i}@example.com",
                    display_name=f"学员 {i}",
                    role="trainee",
                    active=True,
                    session_version=1,
                )
                for i in range(trainees + 1)
            ]
            db.session.add_all(users)
            db.session.flush()
            tokens = []
            for user in users:
                token = "trn_" + uuid.uuid4().hex + uuid.uuid4().hex
                db.session.add(ApiToken(user_id=user.id, token_hash=_token_hash(token), name="load"))
                tokens.append(token)
            db.session.commit()
            self.run_id = run.id
            self.warmup_run_id = warmup.id
            self.tokens = tokens[:-1]
            self.repeat_token = tokens[-1]
            self.repeat_user_id = users[-1].id
            db.session.remove()
            db.engine.dispose()

    def query(self, sql: str, **params):
        engine = create_engine(_pg(self.url))
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql), params))
        finally:
            engine.dispose()

    def drop(self) -> None:
        admin = create_engine(self._admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": self._name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self._name}"'))
        admin.dispose()


def server_config(url: str, workdir: Path) -> dict:
    return {
        "SQLALCHEMY_DATABASE_URI": str(_pg(url).render_as_string(hide_password=False)),
        "SECRET_KEY": "load-test",
        "RATELIMIT_ENABLED": False,
        "JOBS_MODE": "thread",
        "MAIL_SERVER": None,
        "MAIL_DIR": str(workdir / "mail"),
        "UPLOAD_DIR": str(workdir / "uploads"),
        "PUBLIC_BASE_URL": "http://127.0.0.1",
        "SIGNING_DIR": str(workdir / "signing"),
        "DOCUMENT_DIR": str(workdir / "documents"),
    }


class Server:
    """gunicorn with several workers and threads on 127.0.0.1, a free port."""

    def __init__(self, url: str, workdir: Path, *, workers: int = 4, threads: int = 8):
        self.port = free_port()
        self.workdir = workdir
        config = server_config(url, workdir)
        app_spec = f"training:create_app({config!r})"
        self.log = open(workdir / "gunicorn.log", "wb")
        env = dict(os.environ, RATELIMIT_ENABLED="false", PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--worker-class",
                "gthread",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
                app_spec,
            ],
            cwd=str(ROOT),
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 300) -> None:
        """Return once /healthz answers; the bound is for a server that never starts, not a start-up budget
        (a loaded machine can take minutes to import the app in each worker)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.read_log()}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn not ready in {timeout}s: {self.read_log()}")

    def read_log(self) -> str:
        self.log.flush()
        return (self.workdir / "gunicorn.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()


@dataclass
class Answer:
    status: int
    body: dict
    seconds: float
    token: str


def post_enrolment(base: str, run_id: int, token: str, timeout: float = 60) -> Answer:
    request = urllib.request.Request(
        f"{base}/api/v1/runs/{run_id}/enrolments",
        data=b"{}",
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    elapsed = time.perf_counter() - started
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = {"raw": raw[:500].decode(errors="replace")}
    return Answer(status, body, elapsed, token)


def fire(base: str, run_id: int, tokens: list[str], timeout: float = 60) -> tuple[list[Answer], float]:
    """Send one enrolment per token, all released at the same moment.
    Returns the answers and the wall time from release to the last answer."""
    barrier = threading.Barrier(len(tokens) + 1, timeout=timeout)
    released = [0.0]

    def one(token):
        barrier.wait()
        return post_enrolment(base, run_id, token, timeout)

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        futures = [pool.submit(one, t) for t in tokens]
        barrier.wait()
        released[0] = time.perf_counter()
        answers = [f.result(timeout=timeout + 5) for f in futures]
    return answers, time.perf_counter() - released[0]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = max(0, min(len(ordered) - 1, int(round(pct / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]
