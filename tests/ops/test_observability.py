"""Operations: the request log, request ids on errors, /healthz and /readyz."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import login, make_test_app

ROOT = Path(__file__).resolve().parents[2]


# A bound on a child Python that hangs, not a budget: importing the app on a loaded machine can take minutes.
SUBPROCESS_SECONDS = 600


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def test_one_log_line_per_request_with_user(app, client, factory, caplog):
    caplog.set_level(logging.INFO, logger="training.request")
    user = factory.trainee()
    login(client, user)
    client.get("/my/training", headers={"X-Request-Id": "abc123"})
    app.test_client().get("/api/v1/courses/424242")  # anonymous
    lines = [r.getMessage() for r in caplog.records if r.name == "training.request"]
    assert len(lines) == 2
    first, second = lines
    assert first.startswith("GET /my/training 200 ") and f"user={user.id} " in first and "rid=abc123" in first
    assert "ms " in first
    assert second.startswith("GET /api/v1/courses/424242 404 ") and "user=-" in second


def test_secret_tokens_in_paths_stay_out_of_the_log(app, client, factory, caplog):
    caplog.set_level(logging.INFO, logger="training.request")
    from training.accounts.services import new_calendar_token

    token = new_calendar_token(factory.trainee())
    assert client.get(f"/calendar/{token}.ics").status_code == 200
    client.get("/password/reset/some-secret-reset-token")
    lines = " ".join(r.getMessage() for r in caplog.records if r.name == "training.request")
    assert token not in lines and "some-secret-reset-token" not in lines
    assert "GET /calendar/[secret].ics 200" in lines


def test_request_log_is_printed_in_production():
    """A process that configures no logging still prints the INFO lines (gunicorn, make run)."""
    code = (
        "from training import create_app\n"
        "app = create_app({'SQLALCHEMY_DATABASE_URI': 'sqlite://'})\n"
        "app.test_client().get('/healthz')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("LOG_LEVEL",)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=SUBPROCESS_SECONDS
    )
    assert result.returncode == 0, result.stderr
    assert "GET /healthz 200" in result.stderr and "user=-" in result.stderr


def test_log_level_setting_is_respected():
    code = (
        "from training import create_app\n"
        "app = create_app({'SQLALCHEMY_DATABASE_URI': 'sqlite://'})\n"
        "app.test_client().get('/healthz')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=dict(os.environ, LOG_LEVEL="WARNING"),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
    )
    assert result.returncode == 0 and "GET /healthz" not in result.stderr


@pytest.fixture
def crashing_app(tmp_path, pg_database):
    app = make_test_app(tmp_path, pg_database, CATCH_IN_TESTS=True)

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    @app.get("/api/v1/boom")
    def api_boom():
        raise RuntimeError("boom")

    with app.app_context():
        yield app


def test_unexpected_error_shows_the_request_id(crashing_app, caplog):
    client = crashing_app.test_client()
    page = client.get("/boom")
    assert page.status_code == 500
    rid = page.headers["X-Request-Id"]
    assert len(rid) >= 16 and rid in page.get_data(as_text=True)
    assert "RuntimeError" not in page.get_data(as_text=True)  # no internals shown
    assert any(rid in r.getMessage() and r.exc_info for r in caplog.records)  # the log has the traceback
    answer = client.get("/api/v1/boom")
    assert answer.status_code == 500 and answer.json["error"]["code"] == "internal_error"
    assert answer.headers["X-Request-Id"] in answer.json["error"]["message"]


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok"}}


def test_readyz_reports_an_unreachable_database():
    from training import create_app

    broken = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2",
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": False},
        }
    )
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["checks"]["database"].startswith("error")


def test_readyz_reports_an_unreachable_redis(tmp_path, pg_database):
    app = make_test_app(tmp_path, pg_database, REDIS_URL="redis://127.0.0.1:1/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"] == "ok" and response.json["checks"]["redis"].startswith("error")


@pytest.mark.skipif(
    not _redis_up() and os.environ.get("REQUIRE_REDIS") != "1", reason="Redis is not running on 127.0.0.1:6379"
)
def test_readyz_with_redis(tmp_path, pg_database):
    app = make_test_app(tmp_path, pg_database, REDIS_URL="redis://127.0.0.1:6379/15")
    response = app.test_client().get("/readyz")
    assert response.status_code == 200 and response.json["checks"] == {"database": "ok", "redis": "ok"}
