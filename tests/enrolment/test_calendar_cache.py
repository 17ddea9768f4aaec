"""The run calendar attached to enrolment e-mails is built once per change of the run and
kept per process (training/catalogue/calendar.py: run_calendar). Trying to get an old
one: after a meeting is moved, the room or the course title changes, the next
confirmation carries the new calendar, in the run's own time zone, whichever server
sends it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar

from tests.factories import ApiClient
from tests.toolkit import another_server
from training.accounts.models import User
from training.catalogue import services as catalogue
from training.catalogue.models import Run
from training.enrolment import services
from training.extensions import db


def _calendars(mailbox, before: set[str]) -> dict[str, Calendar]:
    found = {}
    for message in mailbox():
        if message["Message-ID"] in before:
            continue
        for part in message.iter_attachments():
            if part.get_filename() == "course.ics":
                content = part.get_content()
                found[message["To"]] = Calendar.from_ical(content if isinstance(content, bytes) else content.encode())
    return found


def _enrol_one(factory, mailbox, run_id: int, **trainee) -> Calendar:
    before = {m["Message-ID"] for m in mailbox()}
    person = factory.trainee(**trainee)
    services.enrol(person, run_id)
    return _calendars(mailbox, before)[person.email]


def _events(cal: Calendar) -> list:
    return sorted(cal.walk("VEVENT"), key=lambda e: e["DTSTART"].dt)


def test_the_next_confirmation_carries_the_changed_meeting_room_and_title(app, client, factory, mailbox):
    admin = factory.admin()
    course = factory.course(code="CAL-1", title="Robot cell commissioning")
    start = datetime(2030, 5, 6, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    run = factory.run(course, capacity=10, start=start, location="Hall A", city="Suzhou")
    first = _events(_enrol_one(factory, mailbox, run.id))
    assert [str(e["LOCATION"]) for e in first] == ["Hall A, Suzhou"] * 2
    assert str(first[0]["SUMMARY"]).startswith("CAL-1 Robot cell commissioning")
    local = first[0]["DTSTART"].dt
    assert local.tzinfo.key == "Asia/Shanghai" and (local.hour, local.minute) == (9, 0)
    assert first[0]["DTSTART"].params["TZID"] == "Asia/Shanghai"
    again = _events(_enrol_one(factory, mailbox, run.id))  # nothing changed: the kept calendar, the same events
    assert [(e["DTSTART"].dt, str(e["LOCATION"])) for e in again] == [
        (e["DTSTART"].dt, str(e["LOCATION"])) for e in first
    ]

    # the second meeting moves two hours later
    meeting = db.session.get(Run, run.id).meetings[1]
    moved = (meeting.starts_at + timedelta(hours=2)).astimezone(ZoneInfo("Asia/Shanghai"))
    response = ApiClient(client, admin).post(
        f"/api/v1/meetings/{meeting.id}/move",
        json={"starts_at": moved.isoformat(), "ends_at": (moved + timedelta(hours=3)).isoformat()},
    )
    assert response.status_code == 200, response.get_json()
    after_move = _events(_enrol_one(factory, mailbox, run.id))
    assert after_move[1]["DTSTART"].dt == moved and after_move[1]["DTSTART"].dt.hour == 11
    assert after_move[0]["DTSTART"].dt == first[0]["DTSTART"].dt

    catalogue.update_run(admin, run.id, {"location": "Hall C"})
    after_room = _events(_enrol_one(factory, mailbox, run.id))
    assert [str(e["LOCATION"]) for e in after_room] == ["Hall C, Suzhou"] * 2

    catalogue.update_course(admin, db.session.get(Run, run.id).course, {"title": "Robot cell start-up"})
    after_title = _enrol_one(factory, mailbox, run.id)
    assert all(str(e["SUMMARY"]).startswith("CAL-1 Robot cell start-up") for e in after_title.walk("VEVENT"))
    assert str(after_title["X-WR-CALNAME"]) == "CAL-1 Robot cell start-up"


def test_a_run_abroad_is_written_in_its_own_time_zone(app, factory, mailbox):
    start = datetime(2030, 7, 1, 7, 0, tzinfo=UTC)  # 09:00 in Berlin (summer time)
    run = factory.run(start=start, timezone_name="Europe/Berlin", meetings=1)
    (event,) = _enrol_one(factory, mailbox, run.id).walk("VEVENT")
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event["DTSTART"].dt == start and event["DTSTART"].dt.hour == 9
    other = factory.run(start=start, meetings=1)  # the same moment in Shanghai
    (event,) = _enrol_one(factory, mailbox, other.id).walk("VEVENT")
    assert event["DTSTART"].params["TZID"] == "Asia/Shanghai" and event["DTSTART"].dt.hour == 15


def test_a_change_made_on_another_server_reaches_this_servers_next_confirmation(app, factory, mailbox):
    admin = factory.admin()
    run = factory.run(location="Hall A", city="Suzhou")
    assert str(_events(_enrol_one(factory, mailbox, run.id))[0]["LOCATION"]) == "Hall A, Suzhou"
    run_id, admin_id = run.id, admin.id
    db.session.remove()
    with another_server(app) as other:
        with other.app_context():
            catalogue.update_run(db.session.get(User, admin_id), run_id, {"location": "Hall D"})
        db.session.remove()
        assert str(_events(_enrol_one(factory, mailbox, run_id))[0]["LOCATION"]) == "Hall D, Suzhou"
