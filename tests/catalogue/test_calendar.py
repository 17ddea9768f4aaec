"""Run calendars and the personal feed at a secret, resettable URL."""

from datetime import UTC, datetime

from icalendar import Calendar

from tests.conftest import login


def test_run_calendar_has_one_event_per_meeting_in_the_run_time_zone(client, factory):
    start = datetime(2031, 3, 3, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    run = factory.run(
        factory.course(code="ROB-1", title="机器人"), meetings=3, start=start, timezone_name="Asia/Shanghai"
    )
    response = client.get(f"/runs/{run.id}/calendar.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    cal = Calendar.from_ical(response.data)
    events = [c for c in cal.walk("VEVENT")]
    assert len(events) == 3
    first = events[0]
    assert first["DTSTART"].dt.hour == 9 and str(first["DTSTART"].dt.tzinfo) == "Asia/Shanghai"
    assert first.get("DTSTART").params.get("TZID") == "Asia/Shanghai"
    assert cal.walk("VTIMEZONE")
    assert "机器人" in str(first["SUMMARY"])
    assert len({str(e["UID"]) for e in events}) == 3


def test_run_without_meetings_is_an_all_day_event(client, factory):
    run = factory.run(meetings=0)
    cal = Calendar.from_ical(client.get(f"/runs/{run.id}/calendar.ics").data)
    (event,) = cal.walk("VEVENT")
    assert event["DTSTART"].dt == run.starts_on


def test_draft_run_calendar_is_hidden(client, factory):
    run = factory.run(status="draft")
    assert client.get(f"/runs/{run.id}/calendar.ics").status_code == 404
    assert client.get("/runs/424242/calendar.ics").status_code == 404


def test_personal_feed_lists_confirmed_runs_only_and_reset_revokes_it(client, factory):
    trainee = factory.trainee()
    confirmed = factory.run(factory.course(title="Confirmed course"))
    waiting = factory.run(factory.course(title="Waitlisted course"))
    factory.enrolment(confirmed, trainee)
    factory.enrolment(waiting, trainee, status="waitlisted")
    login(client, trainee)
    page = client.get("/my/calendar")
    assert page.status_code == 200 and "Create my calendar link" in page.get_data(as_text=True)
    client.post("/my/calendar/reset")
    token = trainee.calendar_token
    assert token and token in client.get("/my/calendar").get_data(as_text=True)
    client.get("/", headers={})  # the feed needs no login
    feed = client.get(f"/calendar/{token}.ics")
    assert feed.status_code == 200
    summaries = [str(e["SUMMARY"]) for e in Calendar.from_ical(feed.data).walk("VEVENT")]
    assert summaries and all("Confirmed course" in s for s in summaries)
    client.post("/my/calendar/reset")
    assert client.get(f"/calendar/{token}.ics").status_code == 404
    assert client.get(f"/calendar/{trainee.calendar_token}.ics").status_code == 200


def test_calendar_page_needs_login_and_reset_needs_csrf(app, factory):
    client = app.test_client()
    assert client.get("/my/calendar").status_code == 302
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        login(client, factory.trainee())
        assert client.post("/my/calendar/reset").status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_unknown_feed_token_is_404(client):
    assert client.get("/calendar/nope.ics").status_code == 404
    assert client.get("/calendar/" + "x" * 300 + ".ics").status_code == 404


def test_cached_time_zones_write_what_icalendar_writes():
    """add_timezones builds each VTIMEZONE once per process; the calendar is the
    same as icalendar's own add_missing_timezones makes."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from icalendar import Calendar, Event

    from training.catalogue.calendar import add_timezones

    def build():
        cal = Calendar()
        for i, zone in enumerate(["Asia/Shanghai", "Europe/Berlin", "Asia/Shanghai"]):
            event = Event()
            event.add("uid", f"e{i}")
            event.add("dtstart", datetime(2027, 3, 28, 9, tzinfo=ZoneInfo(zone)))
            cal.add_component(event)
        return cal

    ours, theirs = build(), build()
    add_timezones(ours)
    add_timezones(ours)  # nothing missing the second time
    theirs.add_missing_timezones()
    assert sorted(tz.tz_name for tz in ours.timezones) == ["Asia/Shanghai", "Europe/Berlin"]
    assert sorted(ours.to_ical().splitlines()) == sorted(theirs.to_ical().splitlines())


def _bilingual_run(factory):
    from training.content_i18n import assign
    from training.extensions import db

    course = factory.course(code="OPC-150", title="x")
    assign(
        course,
        {
            "title": {"en": "OPC UA from the ground up", "zh": "OPC UA 入门：信息建模与安全通信"},
            "summary": {"en": "Information models and security.", "zh": "信息模型与安全。"},
        },
        original="en",
    )
    run = factory.run(course, meetings=1)
    assign(run, {"location": {"en": "Nanshan Automation Lab", "zh": "南山自动化实验室"}}, original="zh")
    db.session.commit()
    return run


def test_run_calendar_is_in_the_readers_language(client, factory):
    """Issue 18: the downloaded calendar names the course and the room in the visitor's language."""
    run = _bilingual_run(factory)
    for lang, title, room, summary in (
        ("en", "OPC UA from the ground up", "Nanshan Automation Lab", "Information models and security."),
        ("zh", "OPC UA 入门：信息建模与安全通信", "南山自动化实验室", "信息模型与安全。"),
    ):
        cal = Calendar.from_ical(client.get(f"/runs/{run.id}/calendar.ics?lang={lang}").data)
        (event,) = cal.walk("VEVENT")
        assert str(cal["X-WR-CALNAME"]) == f"OPC-150 {title}"
        assert str(event["SUMMARY"]) == f"OPC-150 {title}"
        assert str(event["LOCATION"]).startswith(room)
        assert str(event["DESCRIPTION"]).startswith(summary)


def test_personal_feed_is_in_its_owners_language(client, factory):
    """Calendar apps fetch the feed without a session: it follows the owner's language."""
    from training.catalogue.calendar import run_calendar

    run = _bilingual_run(factory)
    trainee = factory.trainee(locale="zh")
    factory.enrolment(run, trainee)
    login(client, trainee)
    client.post("/my/calendar/reset")
    anonymous = client.application.test_client()
    feed = anonymous.get(f"/calendar/{trainee.calendar_token}.ics", headers={"Accept-Language": "en"})
    (event,) = Calendar.from_ical(feed.data).walk("VEVENT")
    assert str(event["SUMMARY"]) == "OPC-150 OPC UA 入门：信息建模与安全通信"
    assert str(event["LOCATION"]).startswith("南山自动化实验室")
    # An online run without a room says so in the reader's language.
    run.mode, run.location, run.location_translation = "online", "", ""
    (online,) = Calendar.from_ical(run_calendar(run, "http://localhost", "zh")).walk("VEVENT")
    assert str(online["LOCATION"]) == "线上"
    (online,) = Calendar.from_ical(run_calendar(run, "http://localhost", "en")).walk("VEVENT")
    assert str(online["LOCATION"]) == "Online"
