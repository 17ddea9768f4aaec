"""Rate limits on login, registration, password reset, token creation and
certificate lookups: in memory on the embedded default, in Redis (shared by
every worker process) when REDIS_URL is set."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import login, make_test_app
from tests.factories import Factory
from training.extensions import db, limiter

ROOT = Path(__file__).resolve().parents[2]
REDIS = "redis://127.0.0.1:6379/15"


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(
    not _redis_up() and os.environ.get("REQUIRE_REDIS") != "1",
    reason="Redis is not running on 127.0.0.1:6379 (set REQUIRE_REDIS=1 to fail instead)",
)


@pytest.fixture
def limited_app(tmp_path, pg_database):
    """An app with rate limits on (memory storage). Built last, so the shared
    limiter is configured for it."""
    app = make_test_app(tmp_path, pg_database, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    with app.app_context():
        assert limiter.enabled
        yield app
        db.session.remove()


def _until_limited(send, limit: int) -> list[int]:
    statuses = [send().status_code for _ in range(limit + 1)]
    assert 429 not in statuses[:limit], statuses
    assert statuses[limit] == 429, statuses
    return statuses


def test_login_is_limited_per_client(limited_app):
    client = limited_app.test_client()
    _until_limited(lambda: client.post("/login", data={"email": "x@example.com", "password": "guess"}), 10)
    response = client.post("/login", data={"email": "x@example.com", "password": "guess"})
    assert response.status_code == 429 and "Retry-After" in response.headers
    assert client.get("/login").status_code == 200  # reading the form is not limited
    other = limited_app.test_client()
    assert (
        other.post(
            "/login", data={"email": "x@example.com", "password": "guess"}, environ_base={"REMOTE_ADDR": "192.0.2.7"}
        ).status_code
        == 200
    )


def test_registration_is_limited(limited_app):
    client = limited_app.test_client()
    _until_limited(
        lambda: client.post(
            "/register",
            data={"name": "Bot", "email": f"{uuid.uuid4().hex}@example.com", "password": "x", "confirm": "y"},
        ),
        5,
    )


def test_password_reset_requests_are_limited(limited_app):
    client = limited_app.test_client()
    _until_limited(lambda: client.post("/password/forgot", data={"email": "nobody@example.com"}), 5)
    _until_limited(lambda: client.post("/password/reset/not-a-token", data={"password": "x", "confirm": "x"}), 10)


def test_token_creation_is_limited(limited_app):
    user = Factory().trainee()
    client = login(limited_app.test_client(), user)
    _until_limited(lambda: client.post("/account/tokens", data={"name": "script"}), 10)


def _per_minute(limit: str) -> int:
    first = limit.split(";")[0].replace("/", " per ").split()
    assert first[-1] == "minute", limit
    return int(first[0])


def test_certificate_lookups_are_limited(limited_app):
    from training.api.certificates import LOOKUP_LIMIT as API_LIMIT
    from training.certificates.routes import LOOKUP_LIMIT as PAGE_LIMIT

    client = limited_app.test_client()
    statuses = _until_limited(lambda: client.get("/api/v1/certificates/ABCD-EFGH-JKMN"), _per_minute(API_LIMIT))
    assert set(statuses[:-1]) == {404}
    limited = client.get("/api/v1/certificates/ABCD-EFGH-JKMN")
    assert limited.json["error"]["code"] == "too_many_requests"
    page = limited_app.test_client()
    _until_limited(
        lambda: page.get("/verify/ABCD-EFGH-JKMN", environ_base={"REMOTE_ADDR": "192.0.2.9"}), _per_minute(PAGE_LIMIT)
    )


def test_redis_url_puts_the_limits_in_redis(monkeypatch, tmp_path):
    from training import config

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("SECRET_KEY", "x")
    assert config.load(tmp_path)["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
    monkeypatch.delenv("REDIS_URL")
    assert config.load(tmp_path)["RATELIMIT_STORAGE_URI"] == "memory://"


# A worker process of its own: builds the app as gunicorn would and tries to log in N times.
WORKER = """
import json, sys, tempfile
from training import create_app
from training.extensions import db
storage, prefix, attempts = sys.argv[1], sys.argv[2], int(sys.argv[3])
app = create_app({"TESTING": True, "SECRET_KEY": "s", "ARGON2_FAST": True, "WTF_CSRF_ENABLED": False,
                  "SQLALCHEMY_DATABASE_URI": "sqlite:///" + tempfile.mkdtemp() + "/w.db",
                  "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": storage, "RATELIMIT_KEY_PREFIX": prefix})
with app.app_context():
    db.create_all()
client = app.test_client()
print(json.dumps([client.post("/login", data={"email": "x@example.com", "password": "guess"}).status_code
                  for _ in range(attempts)]))
"""


def _worker(storage: str, prefix: str, attempts: int) -> list[int]:
    result = subprocess.run(
        [sys.executable, "-c", WORKER, storage, prefix, str(attempts)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@needs_redis
def test_two_processes_share_the_count_in_redis():
    prefix = f"test-{uuid.uuid4().hex}"
    try:
        first = _worker(REDIS, prefix, 6)
        second = _worker(REDIS, prefix, 6)
        assert first == [200] * 6
        assert second == [200] * 4 + [429] * 2  # 10 per minute, counted across both processes
    finally:
        from redis import Redis

        connection = Redis.from_url(REDIS)
        keys = list(connection.scan_iter(f"*{prefix}*"))
        if keys:
            connection.delete(*keys)


def test_memory_storage_counts_per_process():
    """The reason production needs Redis: with memory storage each process counts alone."""
    prefix = f"test-{uuid.uuid4().hex}"
    assert _worker("memory://", prefix, 6) == [200] * 6
    assert _worker("memory://", prefix, 6) == [200] * 6


def test_several_workers_without_shared_storage_are_warned_about(monkeypatch, caplog):
    """gunicorn's when_ready hook (gunicorn.conf.py) says so with the real worker count."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)

    class Server:
        def __init__(self, workers):
            self.cfg = type("Cfg", (), {"workers": workers})()
            self.warnings = []
            self.log = type("Log", (), {"warning": lambda _self, *args: self.warnings.append(args[0] % args[1:])})()

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("RATELIMIT_ENABLED", raising=False)
    two = Server(2)
    conf.when_ready(two)
    assert len(two.warnings) == 1 and "2 worker processes" in two.warnings[0] and "REDIS_URL" in two.warnings[0]
    one = Server(1)
    conf.when_ready(one)
    assert one.warnings == []
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    shared = Server(4)
    conf.when_ready(shared)
    assert shared.warnings == []


@pytest.mark.parametrize(
    "environ, workers",
    [
        ({}, 1),
        ({"WEB_CONCURRENCY": "3"}, 3),
        ({"GUNICORN_CMD_ARGS": "--workers 4 --bind 127.0.0.1:8000"}, 4),
        ({"GUNICORN_CMD_ARGS": "-w 2"}, 2),
        ({"GUNICORN_CMD_ARGS": "--workers=5"}, 5),
        ({"WEB_CONCURRENCY": "x"}, 1),
    ],
)
def test_the_app_reads_the_worker_count_from_the_environment(environ, workers):
    from training.limits import workers_from_environment

    assert workers_from_environment(environ) == workers


def test_the_app_warns_at_start_up(monkeypatch, tmp_path, caplog):
    from training import create_app

    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    monkeypatch.delenv("REDIS_URL", raising=False)
    with caplog.at_level("WARNING", logger="training.limits"):
        create_app(
            {
                "SECRET_KEY": "x",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'w.db'}",
                "RATELIMIT_ENABLED": True,
                "RATELIMIT_STORAGE_URI": "memory://",
                "PUBLIC_BASE_URL": "http://x",
            }
        )
    assert any("4 worker processes" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING", logger="training.limits"):
        create_app(
            {
                "SECRET_KEY": "x",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'w.db'}",
                "RATELIMIT_ENABLED": True,
                "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/15",
                "PUBLIC_BASE_URL": "http://x",
            }
        )
    assert not any("worker processes" in r.getMessage() for r in caplog.records)
