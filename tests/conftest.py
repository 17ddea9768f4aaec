"""Fixtures: a fresh database per test, on SQLite by default and on
PostgreSQL when TEST_DATABASE_URL is set (each pytest run creates and drops a
database of its own there, so parallel runs never meet)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.toolkit import app_pushed
from training import create_app
from training.extensions import db

PG_URL = os.environ.get("TEST_DATABASE_URL")


def _pg_admin_url(url: str):
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


@pytest.fixture(scope="session")
def pg_database():
    """A PostgreSQL database created for this test session, or None on SQLite."""
    if not PG_URL:
        yield None
        return
    base = _pg_admin_url(PG_URL)
    name = f"{base.database or 'training'}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


_pg_schema_ready: set[str] = set()


def make_test_app(tmp_path: Path, pg_url: str | None, **overrides):
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "ARGON2_FAST": True,
        "JOBS_MODE": "inline",
        "PUBLIC_PAGE_CACHE_SECONDS": 0,
        "SERVER_NAME": None,
        "PUBLIC_BASE_URL": "http://localhost",
        "MAIL_SERVER": None,
        "MAIL_DIR": str(tmp_path / "mail"),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "SIGNING_DIR": str(tmp_path.parent / "signing-shared"),
        "DOCUMENT_DIR": str(tmp_path / "documents"),
        "SQLALCHEMY_DATABASE_URI": pg_url or f"sqlite:///{tmp_path / 'test.db'}",
    }
    config.update(overrides)
    app = create_app(config)
    with app.app_context():
        if pg_url:
            if pg_url not in _pg_schema_ready:
                db.drop_all()
                db.create_all()
                _pg_schema_ready.add(pg_url)
            else:
                _truncate()
        else:
            db.create_all()
    return app


def _truncate():
    names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    db.session.commit()


@pytest.fixture
def app(tmp_path, pg_database):
    with app_pushed(make_test_app(tmp_path, pg_database)) as app:
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def factory(app):
    from tests.factories import Factory

    return Factory()


@pytest.fixture
def mailbox(app):
    """The .eml files written by the embedded mail default, parsed."""
    from email import message_from_bytes, policy

    def read():
        folder = Path(app.config["MAIL_DIR"])
        if not folder.exists():
            return []
        msgs = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in folder.glob("*.eml")]
        return sorted(msgs, key=lambda m: m["Date"] or "")

    return read


def login(client, user):
    """Log the test client in as ``user`` (a real Flask-Login session, with its
    login session on the server)."""
    from training.accounts.services import start_session

    start_session(user)
    with client.session_transaction() as sess:
        sess["_user_id"] = user.get_id()
        sess["_fresh"] = True
    return client


def api(client, user=None):
    """A test client wrapper that sends the user's bearer token."""
    from tests.factories import ApiClient

    return ApiClient(client, user)
