"""Fault proofs with real processes on 127.0.0.1 (see tests/ops/fault_harness.py;
``benchmarks/faults.py`` runs the same scenarios and prints their figures).

PostgreSQL only (``postgres`` marker). They need ``redis-server`` (and, for the
database restart, PostgreSQL's ``initdb``/``pg_ctl`` and the ``postgres`` user):
without them they skip, unless REQUIRE_REDIS=1 / REQUIRE_POSTGRES=1 (CI), when
they fail. Nothing is timed: every wait is a bounded poll.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import make_test_app
from tests.ops import fault_harness as harness
from training.extensions import db

PG_URL = os.environ.get("TEST_DATABASE_URL")


def _need_redis_server():
    if shutil.which("redis-server") or os.path.exists("/usr/bin/redis-server"):
        return
    if os.environ.get("REQUIRE_REDIS") == "1":
        pytest.fail("REQUIRE_REDIS=1 but redis-server is not installed")
    pytest.skip("needs redis-server (set REQUIRE_REDIS=1 to fail instead)")


pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(
        not PG_URL and os.environ.get("REQUIRE_POSTGRES") != "1",
        reason="needs PostgreSQL: set TEST_DATABASE_URL (REQUIRE_POSTGRES=1 fails instead)",
    ),
]


@pytest.fixture
def pg_app(tmp_path, pg_database):
    if pg_database is None:
        pytest.fail("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set")
    app = make_test_app(tmp_path, pg_database, SIGNING_DIR=str(tmp_path / "signing"))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_bulk_issue_survives_kill_9_of_its_worker(pg_app, tmp_path):
    """2,000 certificates: the worker (and its work horse and PDF processes) is
    killed with SIGKILL halfway; another worker finishes the job. Exactly one
    certificate per enrolment, every code unique, progress never past its total."""
    _need_redis_server()
    figures = harness.worker_kill(pg_app, tmp_path / "faults", count=2000, lease=3.0, timeout=900)
    print(figures)
    assert figures["post_status"] == 202
    assert figures["state"] == "finished", figures
    assert figures["attempts"] >= 2  # it really was run again after the kill
    assert figures["certificates"] == 2000
    assert figures["distinct_codes"] == 2000 and figures["distinct_enrolments"] == 2000
    assert figures["duplicates"] == 0 and figures["without_document"] == 0
    assert figures["done"] == figures["total"] == 2000
    assert figures["progress_above_total"] == 0 and figures["progress_backwards"] == 0


def test_redis_stopped_under_load_costs_no_request_and_no_mail(pg_app, tmp_path):
    """32 clients log in, check in and enrol through gunicorn while redis-server
    is killed and started again: no 5xx for any of these (none needs Redis), and
    every confirmation that a successful enrolment asked for arrives exactly once."""
    _need_redis_server()
    figures = harness.redis_outage(
        pg_app, tmp_path / "faults", clients=32, before=4, outage=5, after=3, each=5, drain=240
    )
    print(figures)
    phases = figures["phases"]
    assert harness.five_xx(phases) == 0, figures["server_errors"]
    assert sum(row["none"] for rows in phases.values() for row in rows.values()) == 0, figures["server_errors"]
    for action in harness.ACTIONS:  # each really ran while Redis was down, and after
        assert phases["outage"][action]["ok"] > 0, (action, phases["outage"], figures["refusals"])
        assert phases["after"][action]["ok"] > 0, (action, phases["after"], figures["refusals"])
    assert figures["enrolled"] > 0
    mail = figures["mail"]
    assert mail["expected"] == figures["enrolled"]
    assert mail["lost"] == 0 and mail["duplicates"] == 0 and mail["unexpected"] == 0, mail


def test_postgresql_restarted_under_load_answers_503_only_while_it_is_down(tmp_path):
    """A cluster of our own is stopped and started again under 32 clients: the
    app (never restarted) answers 503 with Retry-After while the database is
    gone, never another 5xx, and serves every action again once it is back;
    the confirmations of successful enrolments all arrive, once."""
    if harness.postgres_tools() is None:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("REQUIRE_POSTGRES=1 but initdb/pg_ctl, runuser or the postgres user is missing")
        pytest.skip("needs PostgreSQL's initdb and pg_ctl, runuser and the postgres user")
    workdir = tmp_path / "faults"
    workdir.mkdir()
    os.chmod(workdir, 0o755)
    figures = harness.postgres_restart(workdir, clients=32, before=4, outage=4, after=3, each=5, drain=240)
    print(figures)
    phases = figures["phases"]
    assert sum(harness.count(phases, phase, "5xx") for phase in phases) == 0, figures["errors_other_than_503"]
    assert sum(harness.count(phases, phase, "none") for phase in phases) == 0, figures["server_errors"]
    assert harness.count(phases, "outage", "503") > 0  # the outage was real and answered 503
    assert harness.count(phases, "before", "503") == 0 and harness.count(phases, "after", "503") == 0, phases
    for action in harness.ACTIONS:
        assert phases["after"][action]["ok"] > 0, (action, phases["after"])
    assert figures["app_restarted"] is False
    mail = figures["mail"]
    assert mail["expected"] == figures["enrolled"] and mail["lost"] == 0 and mail["duplicates"] == 0, mail
