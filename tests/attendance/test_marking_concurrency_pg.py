"""Marks, replays, check-ins and the sign-off of one meeting arriving at the same moment (PostgreSQL,
truly concurrent transactions): the meeting's row lock puts them one after the other, so a replayed
batch counts once, nothing lands in a register after it was finalised, and nobody gets a 500."""

from __future__ import annotations

import os
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.toolkit import BARRIER_SECONDS, join_all
from training.accounts.models import User
from training.attendance import registers, services
from training.attendance.models import Attendance, AttendanceChange, AttendanceReceipt
from training.catalogue.models import Meeting
from training.errors import DomainError
from training.extensions import db

from .conftest import now

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL"),
        reason="needs PostgreSQL (set TEST_DATABASE_URL) for truly concurrent transactions",
    ),
]


def _at_once(app, calls):
    """Run each call (user id -> callable taking the user) in its own thread, app context and session,
    all released together; returns each call's outcome: its result, or the DomainError code."""
    barrier, outcomes = threading.Barrier(len(calls)), [None] * len(calls)

    def attempt(i, user_id, call):
        with app.app_context():
            try:
                user = db.session.get(User, user_id)
                barrier.wait(timeout=BARRIER_SECONDS)
                outcomes[i] = ("ok", call(user))
            except DomainError as exc:
                outcomes[i] = ("refused", exc.code)
            except Exception as exc:  # noqa: BLE001 - reported by the test
                outcomes[i] = ("crash", repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(i, u, c)) for i, (u, c) in enumerate(calls)]
    for t in threads:
        t.start()
    join_all(threads)
    return outcomes


def _count(model, meeting_id):
    return db.session.scalar(select(func.count()).select_from(model).where(model.meeting_id == meeting_id))


def test_one_offline_batch_delivered_three_times_at_once_counts_once(app, live):
    """A phone back online resends its queue while the first delivery is still being written."""
    meeting_id, trainer_id = live.meeting.id, live.trainer.id
    made = (now() - timedelta(minutes=3)).isoformat()
    batch = [
        {"enrolment_id": e.id, "status": s, "idempotency_key": f"phone-{e.id:04d}-x", "recorded_at": made}
        for e, s in zip(live.enrolments, ("present", "late", "absent"), strict=True)
    ]
    outcomes = _at_once(app, [(trainer_id, lambda u: len(services.mark(u, meeting_id, batch)))] * 3)
    assert not [o for o in outcomes if o[0] == "crash"], outcomes
    # the first delivery writes the three marks; the others find its receipts (or, at worst, ask to save again)
    assert sum(changed for kind, changed in outcomes if kind == "ok") == 3, outcomes
    assert {code for kind, code in outcomes if kind == "refused"} <= {"concurrent_update"}, outcomes
    assert _count(AttendanceChange, meeting_id) == 3
    assert _count(AttendanceReceipt, meeting_id) == 3
    statuses = dict(
        db.session.execute(
            select(Attendance.enrolment_id, Attendance.status).where(Attendance.meeting_id == meeting_id)
        ).all()
    )
    assert statuses == {e.id: s for e, s in zip(live.enrolments, ("present", "late", "absent"), strict=True)}


def test_a_mark_racing_the_sign_off_is_in_before_it_or_refused_never_after(app, live, factory):
    """The trainer taps "finalise" while a colleague's marks (and an admin's) are on their way: each mark
    is either written before the register was signed off or refused with 409 register_finalised."""
    admin = factory.admin()
    co_trainer = factory.trainer()
    live.run.trainers.append(co_trainer)
    db.session.commit()
    meeting_id = live.meeting.id
    e1, e2, _e3 = live.enrolments
    outcomes = _at_once(
        app,
        [
            (live.trainer.id, lambda u: registers.finalise(u, meeting_id).finalised_at),
            (co_trainer.id, lambda u: len(services.mark(u, meeting_id, [{"enrolment_id": e1.id, "status": "late"}]))),
            (admin.id, lambda u: len(services.mark(u, meeting_id, [{"enrolment_id": e2.id, "status": "excused"}]))),
        ],
    )
    assert not [o for o in outcomes if o[0] == "crash"], outcomes
    finalised, *marks = outcomes
    assert finalised[0] == "ok"
    assert all(o in (("ok", 1), ("refused", "register_finalised")) for o in marks), outcomes
    meeting = db.session.get(Meeting, meeting_id)
    db.session.refresh(meeting)
    changes = list(db.session.scalars(select(AttendanceChange).where(AttendanceChange.meeting_id == meeting_id)))
    assert len(changes) == sum(o == ("ok", 1) for o in marks)
    assert all(c.changed_at <= meeting.finalised_at for c in changes)
