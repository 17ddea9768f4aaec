"""Recurring work: one leader at a time, every task on its rhythm, none twice at once."""

from __future__ import annotations

from datetime import timedelta

from training import jobs, scheduler
from training.extensions import db
from training.types import utcnow


def test_one_leader_at_a_time(app):
    now = utcnow()
    assert scheduler.acquire("a", now, timedelta(seconds=30)) is True
    assert scheduler.acquire("b", now, timedelta(seconds=30)) is False
    assert scheduler.acquire("a", now + timedelta(seconds=10), timedelta(seconds=30)) is True  # renewed
    assert scheduler.acquire("b", now + timedelta(seconds=41), timedelta(seconds=30)) is True  # a stopped renewing
    assert scheduler.tick("a", now + timedelta(seconds=42)) is None  # a is no longer the leader


def test_every_task_runs_once_per_interval(app, monkeypatch):
    calls = []
    monkeypatch.setattr(scheduler, "_tasks", {})
    scheduler.recurring("test.every_hour", timedelta(hours=1))(lambda: calls.append(1) or {"ok": True})
    now = utcnow()
    first = scheduler.tick("me", now)
    assert first["started"] == ["test.every_hour"] and calls == [1]
    assert scheduler.tick("me", now + timedelta(minutes=30))["started"] == []
    assert scheduler.tick("me", now + timedelta(minutes=61))["started"] == ["test.every_hour"] and calls == [1, 1]
    state = db.session.get(scheduler.ScheduledTask, "test.every_hour")
    assert state.runs == 2 and db.session.get(jobs.Job, state.last_job_id).state == "finished"


def test_a_task_still_running_is_not_started_again(app, monkeypatch):
    monkeypatch.setattr(scheduler, "_tasks", {})
    scheduler.recurring("test.slow", timedelta(minutes=1))(lambda: None)
    now = utcnow()
    scheduler.tick("me", now)
    state = db.session.get(scheduler.ScheduledTask, "test.slow")
    job = db.session.get(jobs.Job, state.last_job_id)
    job.state = "running"
    job.lease_until = now + timedelta(hours=1)
    db.session.commit()
    assert scheduler.tick("me", now + timedelta(minutes=5))["started"] == []


def test_the_platforms_recurring_work_is_registered():
    names = set(scheduler.tasks())
    assert {
        "enrolment.reminders",
        "certificates.auto_issue",
        "certificates.expiry_reminders",
        "attendance.open_register_reminders",
        "qualifications.renewal_reminders",
        "outbox.prune",
        "enrolment.expire_offers",
        "companies.release_seats",
        "companies.monthly_reports",
    } <= names


def test_scheduler_cli_once(app, runner):
    result = runner.invoke(args=["scheduler", "run", "--once"])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(args=["scheduler", "list"])
    assert "enrolment.reminders" in listing.output
