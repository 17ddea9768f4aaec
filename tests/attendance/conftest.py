"""Helpers for the attendance tests: a run whose first meeting is under way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


def now():
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def checkin_clock(monkeypatch):
    """The check-in's "now", held still for the test: a code read off the screen (or the API) stays the
    current one however slowly the requests that follow run on a loaded machine. Returns that instant."""
    from training.attendance import checkin

    held = now()
    monkeypatch.setattr(checkin, "utcnow", lambda: held)
    return held


@pytest.fixture
def live(factory):
    """A trainer, a run with 4 meetings (the first started 5 minutes ago) and 3 confirmed trainees."""
    trainer = factory.trainer(name="Li Wei")
    run = factory.run(trainers=[trainer], meetings=4, start=now() - timedelta(minutes=5), capacity=50)
    trainees = [factory.enrolment(run, factory.trainee(name=n)) for n in ("欧阳晓燕", "Anna Müller", "Bob Smith")]

    class Live:
        pass

    ctx = Live()
    ctx.trainer, ctx.run, ctx.meeting, ctx.enrolments = trainer, run, run.meetings[0], trainees
    return ctx
