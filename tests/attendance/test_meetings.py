"""Cancelling and moving a meeting: kept on record, out of everyone's
completion, told to trainees and trainers in their language with an updated
calendar event (METHOD/STATUS, SEQUENCE raised), shown as cancelled everywhere."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select

from tests.conftest import login
from tests.factories import ApiClient
from training.attendance import checkin, meetings, services
from training.attendance.checkin import CheckinRefused
from training.attendance.models import Attendance, AttendanceChange
from training.audit import AuditEntry
from training.extensions import db

from .conftest import now


def api(client, user):
    return ApiClient(client, user)


def calendar_of(message):
    (part,) = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    data = part.get_content()
    return Calendar.from_ical(data if isinstance(data, (bytes, str)) else bytes(data))


def test_a_meeting_that_did_not_take_place_no_longer_counts_for_anyone(client, factory, mailbox):
    admin, trainer = factory.admin(), factory.trainer(name="Li Wei")
    run = factory.past_run(factory.course(min_attendance_pct=80), meetings=4, trainers=[trainer], finalised=False)
    anna = factory.enrolment(run, factory.trainee(name="Anna Müller"))
    li = factory.enrolment(run, factory.trainee(name="李娜", locale="zh"))
    for meeting in run.meetings[:3]:
        services.mark(
            trainer,
            meeting.id,
            [{"enrolment_id": anna.id, "status": "present"}, {"enrolment_id": li.id, "status": "present"}],
        )
    # The fourth did not take place, but someone marked it: 3 of 4 is below 80 %.
    services.mark(trainer, run.meetings[3].id, [{"enrolment_id": anna.id, "status": "absent"}])
    factory.finalise(run.meetings[:3])
    progress = services.load_progress([anna])[anna.id]
    assert progress.percent == 75.0
    response = api(client, admin).post(
        f"/api/v1/meetings/{run.meetings[3].id}/cancel", json={"reason": "Trainer ill, no replacement"}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["cancelled_at"] and body["cancel_reason"] == "Trainer ill, no replacement" and body["sequence"] == 1
    for e in (anna, li):
        v = dict(services.eligibility_for_run(run.id))[e]
        assert v.eligible and v.progress.percent == 100.0 and v.progress.meetings_total == 3
    # The mark is kept in the audit trail (and the record itself).
    assert db.session.scalar(select(Attendance).where(Attendance.meeting_id == run.meetings[3].id)).status == "absent"
    assert db.session.scalar(select(AttendanceChange).where(AttendanceChange.meeting_id == run.meetings[3].id))
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "meeting.cancel"))
    assert "1 marks kept" in entry.detail
    # Everyone is told in their language, with the cancelled event.
    messages = {m["To"]: m for m in mailbox()}
    assert set(messages) == {anna.user.email, li.user.email, trainer.email}
    assert "A meeting was cancelled" in messages[anna.user.email]["Subject"]
    assert messages[li.user.email]["Subject"].startswith("课次已取消")
    cal = calendar_of(messages[trainer.email])
    assert str(cal["METHOD"]) == "CANCEL"
    (event,) = [c for c in cal.walk("VEVENT")]
    assert str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) == 1
    assert str(event["UID"]) == f"meeting-{run.meetings[3].id}@training"


def test_cancel_refusals_change_nothing(client, live, factory):
    admin = factory.admin()
    url = f"/api/v1/meetings/{live.meeting.id}/cancel"
    assert api(client, live.trainer).post(url, json={"reason": "no room"}).status_code == 403
    assert api(client, live.enrolments[0].user).post(url, json={"reason": "no room"}).status_code == 403
    assert api(client, None).post(url, json={"reason": "no room"}).status_code == 401
    for bad in ({}, {"reason": None}, {"reason": 3}, {"reason": {"a": 1}}, {"reason": "  "}):
        assert api(client, admin).post(url, json=bad).status_code == 422
    bad_json = client.post(
        url,
        data=b"\xff\xfe{",
        headers={"Authorization": api(client, admin).headers["Authorization"], "Content-Type": "application/json"},
    )
    assert bad_json.status_code in (400, 422)
    db.session.expire_all()
    assert live.meeting.cancelled_at is None and live.meeting.sequence == 0
    assert api(client, admin).post(url, json={"reason": "Power cut"}).status_code == 200
    again = api(client, admin).post(url, json={"reason": "Power cut"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "meeting_cancelled"
    db.session.expire_all()
    assert live.meeting.sequence == 1


def test_a_cancelled_meeting_takes_no_marks_no_checkins_and_shows_as_cancelled(client, live, factory, app):
    admin = factory.admin()
    e = live.enrolments[0]
    meetings.cancel(admin, live.meeting.id, "Power cut")
    with pytest.raises(services.Conflict) as refused:
        services.mark(live.trainer, live.meeting.id, [{"enrolment_id": e.id, "status": "present"}])
    assert refused.value.code == "meeting_cancelled"
    t = now()
    checkin.ensure_secret(live.meeting)
    with pytest.raises(CheckinRefused) as refused:
        checkin.check_in(e.user, code=checkin.code_at(live.meeting, checkin.step_at(t), 6), now=t)
    assert refused.value.code == "checkin_closed"
    login(client, live.trainer)
    roster = client.get(f"/meetings/{live.meeting.id}/roster").get_data(as_text=True)
    assert "This meeting was cancelled" in roster and "Power cut" in roster
    register = client.get(f"/runs/{live.run.id}/attendance").get_data(as_text=True)
    assert "meeting-cancelled" in register
    assert "(cancelled)" in client.get(f"/runs/{live.run.id}/register.csv").get_data(as_text=True)
    assert "Cancelled" in client.get(f"/courses/{live.run.course_id}").get_data(as_text=True)
    today = client.get("/teaching").get_data(as_text=True)
    assert "meeting-cancelled" in today
    sheet = client.get(f"/meetings/{live.meeting.id}/sign-in-sheet.pdf")
    assert sheet.status_code == 200
    text = subprocess.run(["pdftotext", "-", "-"], input=sheet.data, capture_output=True, check=True).stdout.decode()
    assert "CANCELLED: Power cut" in text and "This meeting was cancelled" in text
    from training.catalogue.calendar import run_calendar

    cal = Calendar.from_ical(run_calendar(services.get_run(live.run.id), "http://localhost"))
    events = {str(ev["UID"]): ev for ev in cal.walk("VEVENT")}
    first = events[f"meeting-{live.meeting.id}@training"]
    assert str(first["STATUS"]) == "CANCELLED" and int(first["SEQUENCE"]) == 1
    assert str(events[f"meeting-{live.run.meetings[1].id}@training"]["STATUS"]) == "CONFIRMED"


def test_admin_moves_a_meeting_and_everyone_gets_the_updated_event(client, factory, mailbox):
    admin, trainer = factory.admin(), factory.trainer()
    run = factory.run(meetings=2, trainers=[trainer])
    zh = factory.enrolment(run, factory.trainee(name="王芳", locale="zh"))
    meeting = run.meetings[1]
    starts = (meeting.starts_at + timedelta(days=1)).astimezone(run.tz)  # still within the run's dates
    body = {"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat()}
    response = api(client, admin).post(f"/api/v1/meetings/{meeting.id}/move", json=body)
    assert response.status_code == 200
    moved = response.get_json()
    assert datetime.fromisoformat(moved["starts_at"]) == starts and moved["sequence"] == 1
    messages = {m["To"]: m for m in mailbox()}
    assert set(messages) == {zh.user.email, trainer.email}
    assert messages[zh.user.email]["Subject"].startswith("课次时间已变更")
    cal = calendar_of(messages[trainer.email])
    assert str(cal["METHOD"]) == "PUBLISH"
    (event,) = list(cal.walk("VEVENT"))
    assert event.decoded("DTSTART") == starts and int(event["SEQUENCE"]) == 1
    assert str(event["STATUS"]) == "CONFIRMED"
    # The same times again: nothing changes, nobody is e-mailed again.
    assert api(client, admin).post(f"/api/v1/meetings/{meeting.id}/move", json=body).get_json()["sequence"] == 1
    assert len(mailbox()) == 2


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"starts_at": "tomorrow", "ends_at": "later"},
        {"starts_at": 1, "ends_at": 2},
        {"starts_at": "2026-12-10T09:00:00", "ends_at": "2026-12-10T12:00:00"},  # no offset
        {"starts_at": "2026-12-10T12:00:00+08:00", "ends_at": "2026-12-10T09:00:00+08:00"},  # ends first
        {"starts_at": "2026-12-10T09:00:00+08:00", "ends_at": "2026-12-12T09:00:00+08:00"},  # two days
        {"starts_at": ["2026-12-10T09:00:00+08:00"], "ends_at": None},
        {"starts_at": "9999-12-31T23:59:59-23:59", "ends_at": "9999-12-31T23:59:59-23:59"},
    ],
)
def test_moving_refuses_bad_times_with_a_4xx(client, factory, body):
    admin = factory.admin()
    meeting = factory.run(meetings=1).meetings[0]
    before = (meeting.starts_at, meeting.ends_at)
    response = api(client, admin).post(f"/api/v1/meetings/{meeting.id}/move", json=body)
    assert response.status_code == 422, response.get_json()
    db.session.expire_all()
    assert (meeting.starts_at, meeting.ends_at, meeting.sequence) == (*before, 0)


def test_a_finalised_or_cancelled_meeting_cannot_be_moved(client, live, factory):
    admin = factory.admin()
    from training.attendance import registers

    registers.finalise(live.trainer, live.meeting.id)
    body = {
        "starts_at": (now() + timedelta(days=9)).isoformat(),
        "ends_at": (now() + timedelta(days=9, hours=1)).isoformat(),
    }
    response = api(client, admin).post(f"/api/v1/meetings/{live.meeting.id}/move", json=body)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "register_finalised"
    later = live.run.meetings[2]
    meetings.cancel(admin, later.id, "Holiday")
    response = api(client, admin).post(f"/api/v1/meetings/{later.id}/move", json=body)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "meeting_cancelled"


def test_admin_page_cancels_and_moves(client, factory):
    admin = factory.admin()
    run = factory.run(meetings=2, timezone_name="Europe/Berlin")
    m = run.meetings[0]
    login(client, admin)
    page = client.get(f"/meetings/{m.id}/manage")
    assert page.status_code == 200 and b"Move the meeting" in page.data
    local = (m.starts_at + timedelta(days=1)).astimezone(run.tz)
    moved = client.post(
        f"/meetings/{m.id}/move",
        data={"day": local.date().isoformat(), "starts": local.strftime("%H:%M"), "ends": "23:59"},
    )
    assert moved.status_code == 302
    db.session.expire_all()
    assert m.starts_at == local.replace(second=0).astimezone(UTC) and m.sequence == 1
    assert client.post(f"/meetings/{m.id}/move", data={"day": "", "starts": "", "ends": ""}).status_code == 422
    assert client.post(f"/meetings/{m.id}/cancel", data={"reason": ""}).status_code == 422
    assert client.post(f"/meetings/{m.id}/cancel", data={"reason": "Strike"}).status_code == 302
    db.session.expire_all()
    assert m.cancelled_at is not None and m.sequence == 2
    assert "Strike" in client.get(f"/meetings/{m.id}/manage").get_data(as_text=True)
    assert "Cancelled" in client.get(f"/admin/runs/{run.id}/edit").get_data(as_text=True)


def test_the_catalogue_does_not_remove_a_meeting_that_has_attendance(factory):
    """Deleting a meeting, or leaving it out of a run's new meeting list, is refused once attendance is
    marked in it (attendance vetoes through signals.meetings_removing); a meeting without marks goes."""
    from training.catalogue import services as catalogue
    from training.errors import Conflict

    admin, trainer = factory.admin(), factory.trainer()
    run = factory.past_run(meetings=3, trainers=[trainer], finalised=False)
    anna = factory.enrolment(run)
    marked, empty, kept = run.meetings
    services.mark(trainer, marked.id, [{"enrolment_id": anna.id, "status": "present"}])
    with pytest.raises(Conflict) as refused:
        catalogue.delete_meeting(admin, marked)
    assert refused.value.code == "meeting_has_attendance"
    only_kept = [{"starts_at": m.starts_at.isoformat(), "ends_at": m.ends_at.isoformat()} for m in (kept,)]
    with pytest.raises(Conflict) as refused:
        catalogue.update_run(admin, run.id, {"meetings": only_kept})
    assert refused.value.code == "meeting_has_attendance"
    assert {m.id for m in db.session.get(type(run), run.id).meetings} == {marked.id, empty.id, kept.id}
    catalogue.delete_meeting(admin, empty)
    assert {m.id for m in db.session.get(type(run), run.id).meetings} == {marked.id, kept.id}


def test_a_meeting_is_not_moved_outside_its_runs_dates_or_before_its_enrolment_deadline(client, factory, mailbox):
    """Adding a meeting outside the run's dates is refused; moving one there was not: the catalogue then showed
    dates the meetings contradicted, and every later edit of the run failed on the meeting left outside."""
    admin = factory.admin()
    run = factory.run(meetings=2, timezone_name="Europe/Berlin")
    first, last = run.meetings
    run.enrol_deadline = last.starts_at  # enrolment stays open until the last meeting starts
    db.session.commit()
    before = [(m.starts_at, m.ends_at, m.sequence) for m in run.meetings]

    def move(meeting, starts):
        body = {"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat()}
        return api(client, admin).post(f"/api/v1/meetings/{meeting.id}/move", json=body)

    after_the_run = datetime.combine(run.ends_on + timedelta(days=1), datetime.min.time(), run.tz).replace(hour=9)
    before_the_run = datetime.combine(run.starts_on - timedelta(days=1), datetime.min.time(), run.tz).replace(hour=9)
    for meeting, starts in ((last, after_the_run), (first, before_the_run)):
        response = move(meeting, starts)
        assert response.status_code == 422, response.get_json()
        assert "outside the run's dates" in response.get_json()["error"]["message"]
    # the last meeting moved before the enrolment deadline would end the run before enrolment closes
    response = move(last, first.starts_at.astimezone(run.tz) + timedelta(hours=3))
    assert response.status_code == 422 and "enrol_deadline" in response.get_json()["error"]["fields"]
    db.session.expire_all()
    assert [(m.starts_at, m.ends_at, m.sequence) for m in run.meetings] == before
    assert mailbox() == []
    # the admin page says so in words, in Chinese too
    admin.locale = "zh"
    db.session.commit()
    login(client, admin)
    local = after_the_run
    page = client.post(
        f"/meetings/{last.id}/move", data={"day": local.date().isoformat(), "starts": "09:00", "ends": "11:00"}
    )
    assert page.status_code == 422 and "不在该期班的日期" in page.get_data(as_text=True)
    # inside the dates it moves, and the run can still be edited afterwards
    assert move(last, last.starts_at.astimezone(run.tz) + timedelta(hours=1)).status_code == 200
    assert api(client, admin).patch(f"/api/v1/runs/{run.id}", json={"capacity": 12}).status_code == 200


def test_moving_a_meeting_to_a_time_the_clocks_skip_is_refused(client, factory):
    """On the admin page the new times are read in the run's zone: 02:30 on the morning Berlin's clocks go
    from 02:00 to 03:00 does not exist there (it was stored as 03:30 without a word)."""
    from datetime import date

    admin = factory.admin()
    start = datetime(2027, 3, 27, 8, 0, tzinfo=UTC)
    run = factory.run(
        meetings=2, start=start, timezone_name="Europe/Berlin", starts_on=date(2027, 3, 26), ends_on=date(2027, 3, 30)
    )
    m = run.meetings[0]
    before = (m.starts_at, m.ends_at, m.sequence)
    login(client, admin)
    page = client.post(f"/meetings/{m.id}/move", data={"day": "2027-03-28", "starts": "02:30", "ends": "04:00"})
    assert page.status_code == 422 and "Europe/Berlin" in page.get_data(as_text=True)
    db.session.expire_all()
    assert (m.starts_at, m.ends_at, m.sequence) == before
    moved = client.post(f"/meetings/{m.id}/move", data={"day": "2027-03-28", "starts": "03:00", "ends": "04:30"})
    assert moved.status_code == 302
    db.session.expire_all()
    assert (m.starts_at, m.ends_at) == (
        datetime(2027, 3, 28, 1, 0, tzinfo=UTC),
        datetime(2027, 3, 28, 2, 30, tzinfo=UTC),
    )
