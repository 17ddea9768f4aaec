"""Fault proofs: real servers on 127.0.0.1, started and stopped by process id.

Shared by the fault tests (tests/ops/test_faults_pg.py) and the script that
prints their figures (benchmarks/faults.py). Each scenario returns a dict of
figures; the tests assert on them, the script prints them. Every wait is a
poll bounded in time, every load loop bounded in count and time; nothing here
asserts a speed.

- ``worker_kill``: a 2,000-certificate bulk issue (``POST /runs/{id}/certificates``,
  202 + job) on a real ``rq worker``, whose process group is killed with SIGKILL
  while the job's progress is between 20 % and 80 %; a second worker and the
  scheduler (the job reaper) finish it.
- ``redis_outage``: gunicorn (2 workers) with REDIS_URL at a redis-server of
  its own, an outbox relay (``flask scheduler run``), a local SMTP server; 32
  client threads log in, enrol and check in while redis-server is stopped and
  started again on the same port.
- ``postgres_restart``: a PostgreSQL cluster of its own (initdb as the
  ``postgres`` user), gunicorn in front, clients running while the cluster is
  stopped and started again.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll ``predicate`` until it returns something true; bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(interval)


class Proc:
    """A child process in a session (process group) of its own, its output in a log file."""

    def __init__(
        self, name: str, argv: list[str], *, env: dict, workdir: Path, cwd: Path = ROOT, user: str | None = None
    ):
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.log = open(self.log_path, "ab")
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        self.proc = subprocess.Popen(
            argv, cwd=str(cwd), env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the process and every process it started (its group)."""
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def kill_tree(self) -> list[int]:
        """SIGKILL the process and all its descendants, as a lost machine would
        lose them (an RQ work horse leaves the worker's process group, so a
        signal to the group alone would spare the horse). Returns the pids."""
        pids = [self.pid, *descendants(self.pid)]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGSTOP)  # freeze all first: none reacts to another's death
            except ProcessLookupError:
                pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)
        return pids

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            self.signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.proc.wait(timeout=10)
        else:  # the leader is gone: its children (a forkserver, a work horse) may not be
            self.signal_group(signal.SIGKILL)
        self.log.close()

    def tail(self, chars: int = 3000) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), children before grandchildren."""
    out, todo = [], [pid]
    while todo and len(out) < 1000:
        parent = todo.pop(0)
        children: list[int] = []
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children += [int(c) for c in (task / "children").read_text().split()]
            except (OSError, ValueError):
                pass
        out += children
        todo += children
    return out


def python_env(**extra) -> dict:
    """The environment of a child process that imports this checkout's ``training``."""
    env = dict(os.environ)
    for name in ("REDIS_URL", "DATABASE_URL", "TEST_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    env.update(PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING")
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env


class RedisServer:
    """redis-server on a free loopback port, without persistence; stop/start keep the port."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir, self.port = workdir, port or free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self.proc: Proc | None = None
        self.started = 0

    def start(self, timeout: float = 30) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.started += 1
        self.proc = Proc(
            f"redis-{self.started}",
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                HOST,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            env=python_env(),
            workdir=self.workdir,
        )
        wait_until(lambda: port_open(self.port), timeout, what="redis-server listening")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.signal_group(sig)
        self.proc.proc.wait(timeout=30)
        self.proc.log.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


def rq_worker(env: dict, workdir: Path, redis_url: str, name: str) -> Proc:
    """``rq worker`` as the README runs it (the app built once, before the work horses fork)."""
    return Proc(
        name,
        [
            sys.executable,
            "-m",
            "rq.cli",
            "worker",
            env.get("RQ_QUEUE", "training"),
            "--url",
            redis_url,
            "--worker-class",
            "training.rq_worker.Worker",
            "--name",
            f"{name}-{uuid.uuid4().hex[:6]}",
        ],
        env=env,
        workdir=workdir,
    )


def scheduler(env: dict, workdir: Path, interval: float = 0.5, name: str = "scheduler") -> Proc:
    return Proc(
        name,
        [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run", "--interval", str(interval)],
        env=env,
        workdir=workdir,
    )


def gunicorn(env: dict, workdir: Path, port: int, workers: int = 2, name: str = "gunicorn") -> Proc:
    return Proc(
        name,
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"{HOST}:{port}",
            "--timeout",
            "60",
            "--graceful-timeout",
            "5",
            "--backlog",
            "2048",
            "wsgi:app",
        ],
        env=env,
        workdir=workdir,
    )


def wait_healthy(port: int, proc: Proc, timeout: float = 60) -> None:
    def ok():
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited: {proc.tail()}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    wait_until(ok, timeout, what=f"{proc.name} answering /healthz")


class SmtpCapture:
    """A local SMTP server (aiosmtpd) that keeps every message it accepts."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[str, tuple[str, ...], bytes]] = []
        self.lock = threading.Lock()
        capture = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                from email import message_from_bytes

                raw = envelope.original_content or envelope.content
                message_id = str(message_from_bytes(raw).get("Message-ID", "")).strip()
                with capture.lock:
                    capture.messages.append((message_id, tuple(envelope.rcpt_tos), raw))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname=HOST, port=self.port)
        self.controller.start()

    def message_ids(self) -> list[str]:
        with self.lock:
            return [m[0] for m in self.messages]

    def stop(self) -> None:
        self.controller.stop()


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# --- data -----------------------------------------------------------------------------------


def _token(user_id: int) -> tuple[str, object]:
    from training.accounts.models import ApiToken
    from training.accounts.services import _token_hash

    token = "trn_" + secrets.token_urlsafe(32)
    return token, ApiToken(user_id=user_id, token_hash=_token_hash(token), name="faults")


def seed_completed_run(app, count: int) -> dict:
    """A run that has ended with ``count`` confirmed trainees present at both
    (finalised) meetings: every one is due a certificate. Bulk inserts."""
    from sqlalchemy import insert, select

    from training.accounts.models import User
    from training.attendance.models import Attendance
    from training.catalogue.models import Course, Meeting, Run
    from training.enrolment.models import Enrolment
    from training.extensions import db

    with app.app_context():
        admin = User(
            email=f"admin-{uuid.uuid4().hex[:6]}@example.com",
            display_name="Admin Zhang",
            role="admin",
            active=True,
            session_version=1,
        )
        course = Course(
            code=f"CERT-{uuid.uuid4().hex[:6]}",
            title="PLC Programming with Siemens TIA Portal",
            hours=16,
            published=True,
        )
        start = (datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0)
        meetings = [
            Meeting(
                starts_at=start + timedelta(days=i),
                ends_at=start + timedelta(days=i, hours=8),
                finalised_at=start + timedelta(days=i, hours=8),
            )
            for i in range(2)
        ]
        run = Run(
            course=course,
            starts_on=start.date(),
            ends_on=(start + timedelta(days=1)).date(),
            capacity=count,
            timezone="Asia/Shanghai",
            status="open",
            meetings=meetings,
        )
        db.session.add_all([admin, run])
        db.session.commit()
        tag = uuid.uuid4().hex[:6]
        names = ["欧阳晓燕", "Anna Müller", "王小明", "José Álvarez", "李娜"]
        db.session.execute(
            insert(User),
            [
                {
                    "email": f"grad{i}-{tag}@example.com",
                    "display_name": f"{names[i % 5]} {i}",
                    "role": "trainee",
                    "active": True,
                    "session_version": 1,
                }
                for i in range(count)
            ],
        )
        user_ids = list(db.session.scalars(select(User.id).where(User.email.like(f"%-{tag}@example.com"))))
        now = datetime.now(UTC)
        db.session.execute(
            insert(Enrolment),
            [{"run_id": run.id, "user_id": uid, "status": "confirmed", "confirmed_at": now} for uid in user_ids],
        )
        enrolment_ids = list(db.session.scalars(select(Enrolment.id).where(Enrolment.run_id == run.id)))
        db.session.execute(
            insert(Attendance),
            [{"enrolment_id": eid, "meeting_id": m.id, "status": "present"} for eid in enrolment_ids for m in meetings],
        )
        token, row = _token(admin.id)
        db.session.add(row)
        db.session.commit()
        out = {"run_id": run.id, "admin_id": admin.id, "token": token, "enrolments": len(enrolment_ids)}
        db.session.remove()
    return out


# --- 1. kill -9 of an RQ worker during a bulk issue ------------------------------------------


def worker_kill(app, workdir: Path, *, count: int = 2000, lease: float = 3.0, timeout: float = 900, log=print) -> dict:
    """Issue ``count`` certificates as a job on a real RQ worker, SIGKILL the
    worker's process group when progress is between 20 % and 80 %, start
    another worker and wait (bounded) for the job to end. ``app`` is an app on
    an empty PostgreSQL database whose schema exists."""
    from sqlalchemy import func, select

    from training import jobs
    from training.certificates.models import Certificate
    from training.enrolment.models import Enrolment
    from training.extensions import db

    workdir.mkdir(parents=True, exist_ok=True)
    redis = RedisServer(workdir)
    redis.start()
    app.config.update(
        REDIS_URL=redis.url, JOBS_MODE="rq", JOB_LEASE_SECONDS=lease, RQ_QUEUE="training", CERT_SYNC_LIMIT=50
    )
    env = python_env(
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=redis.url,
        JOBS_MODE="rq",
        JOB_LEASE_SECONDS=lease,
        SECRET_KEY=app.config["SECRET_KEY"],
        SIGNING_DIR=app.config["SIGNING_DIR"],
        DOCUMENT_DIR=app.config["DOCUMENT_DIR"],
        UPLOAD_DIR=app.config["UPLOAD_DIR"],
        PUBLIC_BASE_URL=app.config["PUBLIC_BASE_URL"],
        SCHEDULER_INTERVAL_SECONDS=0.5,
    )
    figures: dict = {"count": count, "lease_seconds": lease, "load_before": load_average()}
    procs: list[Proc] = []
    try:
        seed = seed_completed_run(app, count)
        log(f"seeded a run with {seed['enrolments']} trainees due a certificate")
        first = rq_worker(env, workdir, redis.url, "worker-1")
        procs.append(first)
        procs.append(scheduler(env, workdir))
        client = app.test_client()
        started = time.monotonic()
        with app.app_context():
            response = client.post(
                f"/api/v1/runs/{seed['run_id']}/certificates",
                json={"email": False},
                headers={"Authorization": f"Bearer {seed['token']}"},
            )
        figures["post_status"] = response.status_code
        if response.status_code != 202:
            raise AssertionError(f"expected 202, got {response.status_code}: {response.get_data(as_text=True)[:500]}")
        job_id = response.get_json()["job"]["id"]
        samples: list[tuple[float, int, int, str, str | None]] = []

        def sample():
            with app.app_context():
                row = db.session.get(jobs.Job, job_id)
                value = (time.monotonic() - started, row.done or 0, row.total or 0, row.state, row.stage)
                db.session.remove()
            samples.append(value)
            return value

        def in_window():
            if not first.alive():
                raise RuntimeError(f"worker-1 exited by itself: {first.tail()}")
            _t, done, total, state, _stage = sample()
            if state in (jobs.FINISHED, jobs.FAILED):
                raise RuntimeError(f"the job ended ({state}) before it could be interrupted")
            return total > 0 and 0.2 * total <= done <= 0.8 * total

        wait_until(in_window, timeout, interval=0.1, what="job progress between 20% and 80%")
        at_kill = samples[-1]
        pids = first.kill_tree()
        killed_at = time.monotonic()
        figures["killed_processes"] = len(pids)
        figures["killed_at_progress"] = f"{at_kill[1]}/{at_kill[2]}"
        figures["killed_after_seconds"] = round(killed_at - started, 1)
        log(
            f"worker-1 (pid {first.pid}) and its {len(pids) - 1} descendants killed with SIGKILL "
            f"at {at_kill[1]}/{at_kill[2]}"
        )
        procs.append(rq_worker(env, workdir, redis.url, "worker-2"))

        def ended():
            _t, _d, _tot, state, _s = sample()
            return state in (jobs.FINISHED, jobs.FAILED)

        wait_until(ended, timeout, interval=0.25, what="the job to finish after the kill")
        figures["finished_after_kill_seconds"] = round(time.monotonic() - killed_at, 1)
        with app.app_context():
            row = db.session.get(jobs.Job, job_id)
            figures.update(state=row.state, attempts=row.attempts, done=row.done, total=row.total, error=row.error)
            stmt = (
                select(
                    func.count(),
                    func.count(func.distinct(Certificate.code)),
                    func.count(func.distinct(Certificate.enrolment_id)),
                )
                .join(Enrolment, Certificate.enrolment_id == Enrolment.id)
                .where(Enrolment.run_id == seed["run_id"])
            )
            certificates, codes, enrolments = db.session.execute(stmt).one()
            without_document = db.session.scalar(
                select(func.count()).select_from(Certificate).where(Certificate.document_sha256.is_(None))
            )
            db.session.remove()
        figures.update(
            certificates=certificates,
            distinct_codes=codes,
            distinct_enrolments=enrolments,
            duplicates=certificates - enrolments,
            without_document=without_document,
            samples=len(samples),
            progress_above_total=sum(1 for s in samples if s[1] > s[2]),
            progress_backwards=sum(
                1 for a, b in zip(samples, samples[1:], strict=False) if b[1] < a[1] and a[4] == b[4]
            ),
            total_seconds=round(time.monotonic() - started, 1),
            load_after=load_average(),
        )
        return figures
    except Exception:
        for proc in procs:
            log(f"--- {proc.name} log ---\n{proc.tail()}")
        raise
    finally:
        for proc in reversed(procs):
            proc.stop()
        redis.stop()


# --- clients: log in, check in, enrol -----------------------------------------------------

PASSWORD = "fault-proof-password-2026"
COURSE_PREFIX = "Fault proof course"


def seed_trainees(app, clients: int, runs: int) -> dict:
    """``clients`` trainees (password, API token) confirmed on a run whose
    meeting is under way (check-in open), and ``runs`` open runs with room for
    everyone, each of its own course (so every confirmation names its run)."""
    from training.accounts.models import User
    from training.accounts.services import hash_password
    from training.attendance import checkin
    from training.catalogue.models import Course, Meeting, Run
    from training.enrolment.models import Enrolment
    from training.extensions import db

    with app.app_context():
        now = datetime.now(UTC).replace(microsecond=0)
        tag = uuid.uuid4().hex[:6]
        hashed = hash_password(PASSWORD)
        users = [
            User(
                email=f"client{i}-{tag}@example.com",
                display_name=f"学员 Client {i}",
                role="trainee",
                active=True,
                session_version=1,
                locale="en",
                password_hash=hashed,
            )
            for i in range(clients)
        ]
        live_course = Course(code=f"LIVE-{tag}", title="Live meeting for check-in", hours=8, published=True)
        meeting = Meeting(starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=6))
        live = Run(
            course=live_course,
            capacity=clients,
            starts_on=now.date(),
            ends_on=now.date(),
            timezone="Asia/Shanghai",
            status="open",
            meetings=[meeting],
        )
        later = now + timedelta(days=21)
        open_runs = []
        for k in range(runs):
            course = Course(code=f"FP{k:02d}-{tag}", title=f"{COURSE_PREFIX} {k:02d}", hours=8, published=True)
            open_runs.append(
                Run(
                    course=course,
                    capacity=clients + 10,
                    starts_on=later.date(),
                    ends_on=later.date(),
                    timezone="Asia/Shanghai",
                    status="open",
                    meetings=[Meeting(starts_at=later, ends_at=later + timedelta(hours=8))],
                )
            )
        db.session.add_all([*users, live, *open_runs])
        db.session.flush()
        tokens = []
        for user in users:
            db.session.add(Enrolment(run_id=live.id, user_id=user.id, status="confirmed", confirmed_at=now))
            token, row = _token(user.id)
            db.session.add(row)
            tokens.append(token)
        db.session.commit()
        checkin.ensure_secret(meeting)
        out = {
            "emails": [u.email for u in users],
            "tokens": tokens,
            "meeting_id": meeting.id,
            "run_ids": [r.id for r in open_runs],
            "titles": {r.id: r.course.title for r in open_runs},
        }
        db.session.remove()
    return out


def checkin_code(app, meeting_id: int) -> str:
    from training.attendance import checkin
    from training.catalogue.models import Meeting
    from training.extensions import db

    with app.app_context():
        meeting = db.session.get(Meeting, meeting_id)
        code = checkin.code_at(meeting, checkin.step_at(datetime.now(UTC)))
        db.session.remove()
    return code


@dataclass
class Outcome:
    action: str
    status: int  # 0: no answer (connection refused or reset, timeout)
    started: float
    ended: float
    detail: str = ""


@dataclass
class Load:
    """32 client threads, each: log in (the form, with its CSRF token), check in
    to the live meeting (API), enrol in the next open run (API); one round every
    ``pace`` seconds, at most ``rounds`` rounds, until ``stop`` is set."""

    base: str
    seed: dict
    code: Callable[[], str]
    pace: float = 2.0
    rounds: int = 40
    outcomes: list[Outcome] = field(default_factory=list)
    enrolled: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def record(self, action: str, status: int, started: float, detail: str = "") -> None:
        with self.lock:
            self.outcomes.append(Outcome(action, status, started, time.monotonic(), detail))

    def _call(
        self,
        opener,
        action: str,
        method: str,
        path: str,
        *,
        form: dict | None = None,
        json_body: dict | None = None,
        headers: dict | None = None,
    ) -> tuple[int, str] | None:
        """One request (redirects not followed); records its outcome, returns (status, body) or None."""
        import http.client
        import json

        headers = dict(headers or {})
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        started = time.monotonic()
        try:
            try:
                with opener.open(request, timeout=180) as response:
                    status, body, retry = response.status, response.read(), response.headers.get("Retry-After")
            except urllib.error.HTTPError as err:  # 3xx (not followed), 4xx, 5xx
                status, body, retry = err.code, err.read(), err.headers.get("Retry-After")
        except (OSError, http.client.HTTPException) as exc:
            self.record(action, 0, started, type(exc).__name__)
            return None
        text = body.decode("utf-8", "replace")
        detail = text[:300] if status >= 400 else ""
        if status == 503 and not retry:
            status, detail = 590, "503 without Retry-After: " + detail  # counted as another 5xx
        if action == "login" and status == 200:  # the form again: the login was refused
            status, detail = 422, "login refused (the form was shown again)"
        self.record(action, status, started, detail)
        return status, text

    def client(self, i: int) -> None:
        import re
        from http.cookiejar import CookieJar

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        email, token = self.seed["emails"][i], self.seed["tokens"][i]
        for k in range(self.rounds):
            if self.stop.is_set():
                return
            began = time.monotonic()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), NoRedirect())
            # Each round from an address of its own (behind TRUSTED_PROXIES=1), as 32 people would be.
            forwarded = {"X-Forwarded-For": f"10.{i}.{k // 250}.{k % 250 + 1}"}
            bearer = {"Authorization": f"Bearer {token}", **forwarded}
            page = self._call(opener, "login form", "GET", "/login", headers=forwarded)
            match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page[1]) if page else None
            if match:
                self._call(
                    opener,
                    "login",
                    "POST",
                    "/login",
                    headers=forwarded,
                    form={"csrf_token": match.group(1), "email": email, "password": PASSWORD},
                )
            self._call(
                opener,
                "check-in",
                "POST",
                f"/api/v1/meetings/{self.seed['meeting_id']}/checkin",
                json_body={"code": self.code()},
                headers=bearer,
            )
            if k < len(self.seed["run_ids"]):
                run_id = self.seed["run_ids"][k]
                answer = self._call(
                    opener, "enrol", "POST", f"/api/v1/runs/{run_id}/enrolments", json_body={}, headers=bearer
                )
                if answer is not None and answer[0] == 201:
                    with self.lock:
                        self.enrolled.append((email, run_id))
            self.stop.wait(max(0.0, self.pace - (time.monotonic() - began)))

    def start(self, clients: int) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.client, args=(i,), name=f"client-{i}", daemon=True) for i in range(clients)
        ]
        for thread in threads:
            thread.start()
        return threads

    def table(self, down: float, up: float) -> dict:
        """Counts by phase and action: answers, 2xx/3xx, 4xx, 429, 503, other 5xx, no answer.
        A request is in the outage when it was under way at any moment of it (a
        request queued before and answered during it included); before: answered
        before it began; after: sent once the server was back."""
        out: dict = {}
        with self.lock:
            outcomes = list(self.outcomes)
        for o in outcomes:
            phase = "before" if o.ended < down else "after" if o.started >= up else "outage"
            row = out.setdefault(phase, {}).setdefault(
                o.action, {"n": 0, "ok": 0, "4xx": 0, "429": 0, "503": 0, "5xx": 0, "none": 0}
            )
            row["n"] += 1
            if o.status == 0:
                row["none"] += 1
            elif o.status < 400:
                row["ok"] += 1
            elif o.status == 429:
                row["429"] += 1
            elif o.status < 500:
                row["4xx"] += 1
            elif o.status == 503:
                row["503"] += 1
            else:
                row["5xx"] += 1
        return out

    def failures(self, limit: int = 5, least: int = 500) -> list[str]:
        with self.lock:
            return [
                f"{o.action} {o.status} {o.detail[:200]}" for o in self.outcomes if o.status >= least or o.status == 0
            ][:limit]

    def answered_since(self, since: float, action: str) -> int:
        with self.lock:
            return sum(1 for o in self.outcomes if o.action == action and o.started >= since and o.status)

    def wait_for_each(self, since: float, actions: tuple[str, ...], count: int, timeout: float) -> None:
        """Until every action has ``count`` answers to requests sent since
        ``since`` (bounded): a phase lasts until it has really been exercised,
        however slow the machine is."""
        try:
            wait_until(
                lambda: all(self.answered_since(since, a) >= count for a in actions),
                timeout,
                interval=0.25,
                what=f"{count} answers of each action",
            )
        except TimeoutError:
            pass


def mail_tally(smtp: SmtpCapture, enrolled: list[tuple[str, int]], titles: dict[int, str]) -> dict:
    """Confirmations the successful enrolments asked for, against what arrived."""
    from collections import Counter
    from email import message_from_bytes, policy

    expected = Counter((email, f"Your place is confirmed: {titles[run_id]}") for email, run_id in enrolled)
    arrived: Counter = Counter()
    with smtp.lock:
        messages = list(smtp.messages)
    ids = Counter(m[0] for m in messages)
    for _id, rcpts, raw in messages:
        subject = str(message_from_bytes(raw, policy=policy.default)["Subject"] or "")
        if COURSE_PREFIX in subject:
            for rcpt in rcpts:
                arrived[(rcpt, subject)] += 1
    lost = sum(max(0, n - arrived[key]) for key, n in expected.items())
    duplicates = sum(max(0, arrived[key] - expected.get(key, 0)) for key in arrived if key in expected)
    unexpected = sum(n for key, n in arrived.items() if key not in expected)
    return {
        "expected": sum(expected.values()),
        "arrived": sum(arrived.values()),
        "lost": lost,
        "duplicates": duplicates + sum(n - 1 for n in ids.values() if n > 1),
        "unexpected": unexpected,
        "all_messages": len(messages),
    }


def _server_env(app, **extra) -> dict:
    # A check-in code's lifetime is not under test here: on a loaded machine a request may wait in
    # gunicorn's queue longer than the code's 45 s, so the grace is widened.
    return python_env(
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        SECRET_KEY=app.config["SECRET_KEY"],
        SIGNING_DIR=app.config["SIGNING_DIR"],
        DOCUMENT_DIR=app.config["DOCUMENT_DIR"],
        UPLOAD_DIR=app.config["UPLOAD_DIR"],
        TRUSTED_PROXIES=1,
        CHECKIN_GRACE_SECONDS=600,
        **extra,
    )


# --- 2. Redis stopped while 32 clients work ------------------------------------------------

ACTIONS = ("login", "check-in", "enrol")


def redis_outage(
    app,
    workdir: Path,
    *,
    clients: int = 32,
    before: float = 10,
    outage: float = 20,
    after: float = 15,
    each: int = 0,
    drain: float = 180,
    limit: float = 600,
    log=print,
) -> dict:
    """gunicorn (2 workers) with REDIS_URL at a redis-server of its own, the
    outbox relay (``flask scheduler run``), an RQ worker, a local SMTP server;
    ``clients`` threads work ``before`` s, redis-server is killed (SIGKILL) for
    ``outage`` s and started again on the same port, the clients go on for
    ``after`` s. With ``each``, the outage and the time after it last until
    each action has that many answers too (at most ``limit`` s each), so a slow
    machine still exercises them. Then the mail is counted (waiting at most
    ``drain`` s)."""
    workdir.mkdir(parents=True, exist_ok=True)
    redis = RedisServer(workdir)
    redis.start()
    smtp = SmtpCapture()
    port = free_port()
    env = _server_env(
        app,
        REDIS_URL=redis.url,
        JOBS_MODE="rq",
        MAIL_SERVER=HOST,
        MAIL_PORT=smtp.port,
        MAIL_FROM="SMT Academy <training@example.com>",
        PUBLIC_BASE_URL=f"http://{HOST}:{port}",
        RATELIMIT_ENABLED=1,
    )
    figures: dict = {"clients": clients, "outage_seconds": outage, "load_before": load_average()}
    procs: list[Proc] = []
    try:
        seed = seed_trainees(app, clients, runs=int((before + outage + after) / 3) + 2)
        web = gunicorn(env, workdir, port, workers=2)
        procs.append(web)
        procs.append(scheduler(env, workdir, interval=1.0))
        worker = rq_worker(env, workdir, redis.url, "worker")
        procs.append(worker)
        wait_healthy(port, web)
        load = Load(
            f"http://{HOST}:{port}",
            seed,
            code=lambda: checkin_code(app, seed["meeting_id"]),
            rounds=len(seed["run_ids"]),
        )
        threads = load.start(clients)
        time.sleep(before)
        down = time.monotonic()
        redis.kill(signal.SIGKILL)
        log(f"redis-server (pid {redis.proc.pid}) killed with SIGKILL; down for {outage:.0f} s")
        time.sleep(outage)
        if each:
            load.wait_for_each(down, ACTIONS, each, limit)
        redis.start()
        up = time.monotonic()
        figures["outage_seconds"] = round(up - down, 1)
        log(f"redis-server started again on port {redis.port} (pid {redis.proc.pid})")
        worker_restarts = 0
        end = up + after

        def more():
            if time.monotonic() < end:
                return True
            return (
                bool(each)
                and time.monotonic() < up + limit
                and not all(load.answered_since(up, a) >= each for a in ACTIONS)
            )

        while more():
            if not worker.alive() and worker_restarts < 5:  # as systemd's Restart=always would
                worker_restarts += 1
                worker.stop()
                worker = rq_worker(env, workdir, redis.url, f"worker-r{worker_restarts}")
                procs.append(worker)
            time.sleep(0.5)
        load.stop.set()
        for thread in threads:
            thread.join(timeout=200)
        figures["phases"] = load.table(down, up)
        figures["server_errors"] = load.failures()
        figures["refusals"] = load.failures(least=400)
        figures["worker_restarts"] = worker_restarts
        figures["enrolled"] = len(load.enrolled)

        def delivered():
            tally = mail_tally(smtp, load.enrolled, seed["titles"])
            return tally if tally["lost"] == 0 else None

        drain_started = time.monotonic()
        try:
            wait_until(delivered, drain, interval=0.5, what="every confirmation delivered")
        except TimeoutError:
            pass
        figures["drain_seconds"] = round(time.monotonic() - drain_started, 1)
        time.sleep(3)  # a relay that would send one twice has had its chance
        figures["mail"] = mail_tally(smtp, load.enrolled, seed["titles"])
        figures["load_after"] = load_average()
        return figures
    except Exception:
        for proc in procs:
            log(f"--- {proc.name} log ---\n{proc.tail()}")
        raise
    finally:
        for proc in reversed(procs):
            proc.stop()
        redis.stop()
        smtp.stop()


def five_xx(phases: dict, actions=None) -> int:
    return sum(
        row["5xx"] + row["503"]
        for rows in phases.values()
        for action, row in rows.items()
        if actions is None or action in actions
    )


# --- 3. PostgreSQL restarted under load ----------------------------------------------------


def postgres_tools() -> dict | None:
    """initdb, pg_ctl and runuser, and the ``postgres`` user to run them as; None when missing."""
    import pwd

    found = {
        name: shutil.which(name) or next((str(p) for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}")), None)
        for name in ("initdb", "pg_ctl")
    }
    found["runuser"] = shutil.which("runuser") or ("/usr/sbin/runuser" if Path("/usr/sbin/runuser").exists() else None)
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return found if all(found.values()) else None


class PostgresCluster:
    """A PostgreSQL cluster of its own: initdb into a fresh folder as the
    ``postgres`` user, listening on 127.0.0.1 and a free port only; started with
    pg_ctl, stopped by the postmaster's process id (SIGINT: fast shutdown)."""

    def __init__(self, workdir: Path, port: int | None = None):
        import pwd

        tools = postgres_tools()
        if tools is None:
            raise RuntimeError("PostgreSQL's initdb/pg_ctl, runuser or the postgres user is missing")
        self.tools = tools
        self.port = port or free_port()
        # A folder of its own in the system's temporary directory (the postgres user cannot enter a
        # pytest folder), owned by that user; removed by remove().
        import tempfile

        self.folder = Path(tempfile.mkdtemp(prefix="training-faults-pg-"))
        self.data = self.folder / "data"
        owner = pwd.getpwnam("postgres")
        os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        os.chmod(self.folder, 0o700)
        self.url = f"postgresql+psycopg://postgres@{HOST}:{self.port}/postgres"
        self.starts = 0
        self._run(
            [tools["initdb"], "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
            timeout=180,
        )

    def _run(self, argv: list[str], timeout: float) -> None:
        result = subprocess.run(
            [self.tools["runuser"], "-u", "postgres", "--", *argv],
            cwd=str(self.folder),
            capture_output=True,
            timeout=timeout,
            env=python_env(),
        )
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {(result.stdout + result.stderr).decode(errors='replace')[-2000:]}")

    def start(self) -> None:
        self.starts += 1
        options = f"-p {self.port} -c listen_addresses={HOST} -k {self.folder} -c max_connections=100 -c fsync=off"
        self._run(
            [
                self.tools["pg_ctl"],
                "start",
                "-w",
                "-t",
                "120",
                "-D",
                str(self.data),
                "-l",
                str(self.folder / "server.log"),
                "-o",
                options,
            ],
            timeout=180,
        )
        wait_until(lambda: port_open(self.port), 60, what="PostgreSQL listening")

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return

        def gone():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False

        try:
            wait_until(gone, timeout, what="PostgreSQL stopped")
        except TimeoutError:
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown
            wait_until(gone, 30, what="PostgreSQL stopped (immediate)")

    def remove(self) -> None:
        """Stop it and delete its folder."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def create_database(self, name: str) -> str:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return f"postgresql+psycopg://postgres@{HOST}:{self.port}/{name}"


def app_on(url: str, workdir: Path):
    """An app on ``url`` with the schema created (what the servers of a scenario share)."""
    from training import create_app
    from training.extensions import db

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "fault-proof-" + uuid.uuid4().hex,
            "SIGNING_DIR": str(workdir / "signing"),
            "DOCUMENT_DIR": str(workdir / "documents"),
            "UPLOAD_DIR": str(workdir / "uploads"),
            "MAIL_DIR": str(workdir / "mail"),
            "PUBLIC_BASE_URL": f"http://{HOST}",
            "ALLOW_LOCAL_STATE": "1",
            "JOBS_MODE": "inline",
            "RATELIMIT_ENABLED": False,
            "SCHEDULER_IN_WEB": False,
        }
    )
    with app.app_context():
        db.create_all()
        db.session.remove()
    return app


def postgres_restart(
    workdir: Path,
    *,
    clients: int = 32,
    before: float = 10,
    outage: float = 15,
    after: float = 15,
    each: int = 0,
    drain: float = 180,
    limit: float = 600,
    log=print,
) -> dict:
    """A cluster of its own, gunicorn (2 workers, the embedded relay and
    scheduler threads: no Redis), a local SMTP server; ``clients`` threads
    work while the cluster is stopped (fast shutdown) for ``outage`` s and
    started again. The app is never restarted."""
    workdir.mkdir(parents=True, exist_ok=True)
    cluster = PostgresCluster(workdir)
    try:
        cluster.start()
    except Exception:
        cluster.remove()
        raise
    smtp = SmtpCapture()
    port = free_port()
    procs: list[Proc] = []
    figures: dict = {"clients": clients, "load_before": load_average()}
    try:
        url = cluster.create_database("faults")
        app = app_on(url, workdir)
        env = _server_env(
            app,
            MAIL_SERVER=HOST,
            MAIL_PORT=smtp.port,
            MAIL_FROM="SMT Academy <training@example.com>",
            PUBLIC_BASE_URL=f"http://{HOST}:{port}",
            RATELIMIT_ENABLED=1,
            JOBS_MODE="thread",
            SCHEDULER_IN_WEB=1,
            SCHEDULER_INTERVAL_SECONDS=2,
        )
        seed = seed_trainees(app, clients, runs=40)
        with app.app_context():
            from training.extensions import db

            db.engine.dispose()
        web = gunicorn(env, workdir, port, workers=2)
        procs.append(web)
        wait_healthy(port, web)
        secret = {}

        def code():
            # Computed here from the meeting's secret (read while the database was up): the clients
            # keep sending valid codes while it is down.
            from training.attendance import checkin

            if "meeting" not in secret:
                with app.app_context():
                    from training.catalogue.models import Meeting
                    from training.extensions import db

                    meeting = db.session.get(Meeting, seed["meeting_id"])
                    db.session.expunge(meeting)
                    secret["meeting"] = meeting
                    db.session.remove()
            with app.app_context():
                return checkin.code_at(secret["meeting"], checkin.step_at(datetime.now(UTC)))

        code()
        load = Load(f"http://{HOST}:{port}", seed, code=code, rounds=len(seed["run_ids"]))
        threads = load.start(clients)
        time.sleep(before)
        down = time.monotonic()
        postmaster = cluster.pid()
        cluster.stop(signal.SIGINT)
        stopped = time.monotonic()
        log(
            f"PostgreSQL (postmaster pid {postmaster}) stopped (fast shutdown, {stopped - down:.1f} s); "
            f"down for {outage:.0f} s"
        )
        time.sleep(outage)
        if each:
            load.wait_for_each(stopped, ACTIONS, each, limit)
        cluster.start()
        up = time.monotonic()
        figures["outage_seconds"] = round(up - down, 1)
        log(f"PostgreSQL started again on port {cluster.port} (postmaster pid {cluster.pid()})")
        end = up + after
        wait_until(
            lambda: time.monotonic() >= end and (not each or all(load.answered_since(up, a) >= each for a in ACTIONS)),
            max(after, limit),
            interval=0.5,
            what="clients after the restart",
        )
        load.stop.set()
        for thread in threads:
            thread.join(timeout=200)
        figures["phases"] = load.table(down, up)
        figures["server_errors"] = load.failures()
        figures["errors_other_than_503"] = [
            f
            for f in load.failures(limit=10)
            if not f.startswith(("login 503", "check-in 503", "enrol 503", "login form 503"))
        ][:5]
        figures["refusals"] = [
            f
            for f in load.failures(limit=200, least=400)
            if not f.startswith(("login 503", "check-in 503", "enrol 503"))
        ][:5]
        figures["app_restarted"] = not web.alive()
        figures["enrolled"] = len(load.enrolled)

        def delivered():
            tally = mail_tally(smtp, load.enrolled, seed["titles"])
            return tally if tally["lost"] == 0 else None

        drain_started = time.monotonic()
        try:
            wait_until(delivered, drain, interval=0.5, what="every confirmation delivered")
        except TimeoutError:
            pass
        figures["drain_seconds"] = round(time.monotonic() - drain_started, 1)
        time.sleep(3)
        figures["mail"] = mail_tally(smtp, load.enrolled, seed["titles"])
        figures["load_after"] = load_average()
        return figures
    except Exception:
        for proc in procs:
            log(f"--- {proc.name} log ---\n{proc.tail()}")
        raise
    finally:
        for proc in reversed(procs):
            proc.stop()
        smtp.stop()
        cluster.remove()


def count(phases: dict, phase: str, column: str, actions=None) -> int:
    return sum(row[column] for action, row in phases.get(phase, {}).items() if actions is None or action in actions)
