"""Issue 18: e-mails and their calendar files name the course and the room in
the recipient's language, falling back to the other language where the course
has no text in it."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar

from training.content_i18n import assign
from training.enrolment import services
from training.extensions import db
from training.types import utcnow

ZH, EN = "工业机器人离线编程", "Offline robot programming"
ROOM_ZH, ROOM_EN = "苏州工业园区培训中心 B 厅", "Suzhou Industrial Park Training Centre, Hall B"


def _run(factory, *, zh=ZH, en=EN, original="en", start=None):
    course = factory.course(code="ROB-230", title="x")
    assign(course, {"title": {"en": en, "zh": zh}}, original=original)
    run = factory.run(course, capacity=5, start=start)
    assign(run, {"location": {"en": ROOM_EN, "zh": ROOM_ZH}}, original="zh")
    db.session.commit()
    return run


def _calendar(message) -> Calendar:
    (ics,) = [p for p in message.iter_attachments() if p.get_filename() == "course.ics"]
    assert ics.get_content_charset() == "utf-8"
    content = ics.get_content()
    return Calendar.from_ical(content if isinstance(content, bytes) else content.encode())


def _enrol_both(factory, run):
    english = factory.trainee(name="Anna Schmidt", locale="en")
    chinese = factory.trainee(name="王小明", locale="zh")
    services.enrol(english, run.id)
    services.enrol(chinese, run.id)
    return english, chinese


def test_each_recipient_reads_the_title_and_room_in_their_language(app, factory, mailbox):
    run = _run(factory)
    english, chinese = _enrol_both(factory, run)
    by_to = {m["To"]: m for m in mailbox()}
    en, zh = by_to[english.email], by_to[chinese.email]
    assert EN in en["Subject"] and ZH not in en["Subject"]
    assert ZH in zh["Subject"] and EN not in zh["Subject"]
    en_body, zh_body = en.get_body(("plain",)).get_content(), zh.get_body(("plain",)).get_content()
    assert f"ROB-230 {EN}" in en_body and ROOM_EN in en_body and ZH not in en_body and ROOM_ZH not in en_body
    assert f"ROB-230 {ZH}" in zh_body and ROOM_ZH in zh_body and EN not in zh_body and ROOM_EN not in zh_body

    for message, title, room in ((en, EN, ROOM_EN), (zh, ZH, ROOM_ZH)):
        cal = _calendar(message)
        assert str(cal["X-WR-CALNAME"]) == f"ROB-230 {title}"
        events = list(cal.walk("VEVENT"))
        assert len(events) == 2
        assert all(str(e["SUMMARY"]).startswith(f"ROB-230 {title}") for e in events)
        assert all(str(e["LOCATION"]).startswith(room) for e in events)


def test_a_missing_translation_falls_back_to_the_other_language(app, factory, mailbox):
    run = _run(factory, zh="", en=EN)
    _english, chinese = _enrol_both(factory, run)
    zh = {m["To"]: m for m in mailbox()}[chinese.email]
    assert EN in zh["Subject"]
    assert f"ROB-230 {EN}" in zh.get_body(("plain",)).get_content()
    assert str(_calendar(zh)["X-WR-CALNAME"]) == f"ROB-230 {EN}"


def test_bulk_reminders_reuse_one_calendar_per_run_and_language(factory, mailbox):
    """Reminders go out from a background job with one calendar per run and language:
    each recipient still reads their own."""
    run = _run(factory, original="zh", start=utcnow() + timedelta(hours=20))
    english, chinese = _enrol_both(factory, run)
    before = {m["Message-ID"] for m in mailbox()}
    assert services.send_reminders(48) == {run.id: 2}
    by_to = {m["To"]: m for m in mailbox() if m["Message-ID"] not in before}
    assert str(_calendar(by_to[english.email])["X-WR-CALNAME"]) == f"ROB-230 {EN}"
    assert str(_calendar(by_to[chinese.email])["X-WR-CALNAME"]) == f"ROB-230 {ZH}"
    assert ZH in by_to[chinese.email]["Subject"] and EN in by_to[english.email]["Subject"]


def test_a_moved_meeting_is_announced_in_each_readers_language(client, factory, mailbox):
    from tests.factories import ApiClient

    run = _run(factory, original="zh")
    english, chinese = _enrol_both(factory, run)
    trainer = factory.trainer(locale="en")
    run.trainers = [trainer]
    db.session.commit()
    before = {m["Message-ID"] for m in mailbox()}
    meeting = run.meetings[1]
    starts = (meeting.starts_at + timedelta(days=1)).astimezone(run.tz)  # within the run's dates
    response = ApiClient(client, factory.admin()).post(
        f"/api/v1/meetings/{meeting.id}/move",
        json={"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat()},
    )
    assert response.status_code == 200
    by_to = {m["To"]: m for m in mailbox() if m["Message-ID"] not in before}
    assert set(by_to) == {english.email, chinese.email, trainer.email}
    for person, title, room in ((english, EN, ROOM_EN), (trainer, EN, ROOM_EN), (chinese, ZH, ROOM_ZH)):
        message = by_to[person.email]
        assert title in message["Subject"]
        (part,) = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
        content = part.get_content()
        (event,) = Calendar.from_ical(content if isinstance(content, bytes) else content.encode()).walk("VEVENT")
        assert str(event["SUMMARY"]).startswith(f"ROB-230 {title}") and str(event["LOCATION"]).startswith(room)
