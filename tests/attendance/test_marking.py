"""Marking rules: who may mark when, validation, idempotent replays, the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from training.attendance import services
from training.attendance.models import Attendance, AttendanceChange
from training.errors import Conflict, Forbidden, ValidationFailed
from training.extensions import db

from .conftest import now


def statuses(meeting_id):
    return {
        a.enrolment_id: a.status
        for a in db.session.scalars(select(Attendance).where(Attendance.meeting_id == meeting_id))
    }


def test_trainer_marks_own_meeting_and_who_marked_is_kept(live):
    a, b, c = live.enrolments
    changed = services.mark(
        live.trainer,
        live.meeting.id,
        [
            {"enrolment_id": a.id, "status": "present"},
            {"enrolment_id": b.id, "status": "late"},
            {"enrolment_id": c.id, "status": "excused", "note": " doctor "},
        ],
    )
    assert len(changed) == 3
    assert statuses(live.meeting.id) == {a.id: "present", b.id: "late", c.id: "excused"}
    rows = dict(services.roster(live.meeting))
    assert rows[c].note == "doctor"
    assert rows[a].marked_by.id == live.trainer.id


def test_trainer_of_another_run_is_refused(live, factory):
    other = factory.trainer()
    with pytest.raises(Forbidden):
        services.mark(other, live.meeting.id, [{"enrolment_id": live.enrolments[0].id, "status": "present"}])
    assert statuses(live.meeting.id) == {}


def test_trainee_cannot_mark(live):
    with pytest.raises(Forbidden):
        services.mark(
            live.enrolments[0].user, live.meeting.id, [{"enrolment_id": live.enrolments[0].id, "status": "present"}]
        )


def test_trainer_may_mark_from_30_minutes_before_start_only(factory):
    trainer = factory.trainer()
    soon = factory.run(trainers=[trainer], start=now() + timedelta(minutes=25), meetings=1)
    later = factory.run(trainers=[trainer], start=now() + timedelta(minutes=40), meetings=1)
    e1, e2 = factory.enrolment(soon), factory.enrolment(later)
    services.mark(trainer, soon.meetings[0].id, [{"enrolment_id": e1.id, "status": "present"}])
    with pytest.raises(Forbidden) as refused:
        services.mark(trainer, later.meetings[0].id, [{"enrolment_id": e2.id, "status": "present"}])
    assert refused.value.code == "too_early"
    assert "30 minutes" in refused.value.message


def test_admin_marks_any_meeting_any_time(factory):
    admin = factory.admin()
    run = factory.run(start=now() + timedelta(days=30), meetings=1)
    e = factory.enrolment(run)
    services.mark(admin, run.meetings[0].id, [{"enrolment_id": e.id, "status": "absent"}])
    assert statuses(run.meetings[0].id) == {e.id: "absent"}


def test_invalid_record_saves_nothing(live, factory):
    stranger = factory.enrolment(factory.run())
    waitlisted = factory.enrolment(live.run, status="waitlisted")
    good = {"enrolment_id": live.enrolments[0].id, "status": "present"}
    for bad in (
        {"enrolment_id": stranger.id, "status": "present"},
        {"enrolment_id": waitlisted.id, "status": "present"},
        {"enrolment_id": live.enrolments[1].id, "status": "here"},
        {"enrolment_id": str(live.enrolments[1].id), "status": "present"},
        {"enrolment_id": True, "status": "present"},
        {"enrolment_id": live.enrolments[1].id, "status": "excused", "note": "x" * 1001},
        {"enrolment_id": live.enrolments[1].id, "status": "late", "idempotency_key": "short"},
        "present",
    ):
        with pytest.raises(ValidationFailed):
            services.mark(live.trainer, live.meeting.id, [good, bad])
    for records in (None, [], {"a": 1}):
        with pytest.raises(ValidationFailed):
            services.mark(live.trainer, live.meeting.id, records)
    assert statuses(live.meeting.id) == {}


def test_replayed_marks_count_once(live):
    a, b, _c = live.enrolments
    batch = [
        {"enrolment_id": a.id, "status": "present", "idempotency_key": "key-aaaa-0001"},
        {"enrolment_id": b.id, "status": "late", "idempotency_key": "key-bbbb-0001"},
    ]
    assert len(services.mark(live.trainer, live.meeting.id, batch)) == 2
    # Someone corrects a mark; then the device replays its (old) batch after a lost response.
    services.mark(live.trainer, live.meeting.id, [{"enrolment_id": a.id, "status": "late"}])
    assert services.mark(live.trainer, live.meeting.id, batch) == []
    assert statuses(live.meeting.id) == {a.id: "late", b.id: "late"}
    assert db.session.scalar(select(db.func.count()).select_from(AttendanceChange)) == 3


def test_replay_of_a_mark_that_changed_nothing_is_still_recognised(live):
    a = live.enrolments[0]
    services.mark(live.trainer, live.meeting.id, [{"enrolment_id": a.id, "status": "present"}])
    noop = [{"enrolment_id": a.id, "status": "present", "idempotency_key": "key-noop-0001"}]
    assert services.mark(live.trainer, live.meeting.id, noop) == []
    services.mark(live.trainer, live.meeting.id, [{"enrolment_id": a.id, "status": "absent"}])
    services.mark(live.trainer, live.meeting.id, noop)  # the late replay must not undo the newer mark
    assert statuses(live.meeting.id)[a.id] == "absent"


def test_two_marks_of_one_trainee_in_a_batch_apply_in_order(live):
    a = live.enrolments[0]
    batch = [
        {"enrolment_id": a.id, "status": "present", "idempotency_key": "offline-0001"},
        {"enrolment_id": a.id, "status": "late", "idempotency_key": "offline-0002"},
    ]
    services.mark(live.trainer, live.meeting.id, batch)
    services.mark(live.trainer, live.meeting.id, batch)
    assert statuses(live.meeting.id)[a.id] == "late"
    trail = services.history(live.meeting)
    assert [(c.old_status, c.new_status) for c in reversed(trail)] == [(None, "present"), ("present", "late")]


def test_audit_trail_records_who_when_from_and_to(live, factory):
    admin = factory.admin()
    a = live.enrolments[0]
    services.mark(live.trainer, live.meeting.id, [{"enrolment_id": a.id, "status": "absent"}])
    services.mark(admin, live.meeting.id, [{"enrolment_id": a.id, "status": "excused", "note": "sick"}])
    services.mark(admin, live.meeting.id, [{"enrolment_id": a.id, "status": "excused", "note": "sick"}])
    trail = services.history(live.meeting)
    assert [(c.old_status, c.new_status, c.changed_by_id) for c in trail] == [
        ("absent", "excused", admin.id),
        (None, "absent", live.trainer.id),
    ]
    assert trail[0].note == "sick" and trail[0].changed_at is not None
    assert trail[0].enrolment.user.display_name == a.user.display_name


def test_cancelled_run_cannot_be_marked(live, factory):
    live.run.status = "cancelled"
    db.session.commit()
    with pytest.raises(Conflict):
        services.mark(factory.admin(), live.meeting.id, [{"enrolment_id": live.enrolments[0].id, "status": "present"}])


def test_teaching_day_lists_todays_and_next_meetings(live, factory):
    other_trainer = factory.trainer()
    # Under way now, so "today" whatever the hour (an hour ahead is tomorrow in the last hour of the run's day)
    factory.run(trainers=[other_trainer], start=now() - timedelta(minutes=4), meetings=1)
    day = services.teaching_day(live.trainer)
    assert [m.id for m in day.today] == [live.meeting.id]
    assert [m.id for m in day.upcoming][:3] == [m.id for m in live.run.meetings[1:]]
    assert [r.id for r in day.runs] == [live.run.id]
    admin_day = services.teaching_day(factory.admin())
    assert len(admin_day.today) == 2
