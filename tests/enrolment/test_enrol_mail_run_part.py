"""The run's part of an enrolment e-mail (course, dates, place, meetings: ``email/_run.txt``) is
rendered once per change of the run and language and kept per process
(``notifications.run_text``). Held to two things: the e-mail says exactly what the template
rendered in full says, in every kind and language, and after any change to the run, its course
or its meetings the next e-mail says the new thing, never the kept one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from flask_babel import force_locale

from training import mail
from training.catalogue import services as catalogue
from training.catalogue.models import Run
from training.catalogue.services import cancel_cutoff
from training.content_i18n import localized
from training.enrolment import notifications, services
from training.enrolment.models import Enrolment
from training.extensions import db


def _body(message) -> str:
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default) if hasattr(message, "as_bytes") else message
    return parsed.get_body(("plain",)).get_content()


def _wire(message) -> bytes:
    """The message as it goes out, but for what differs between two renderings (date, id, boundary)."""
    raw = message.as_bytes()
    boundary = message.get_boundary()
    if boundary:
        raw = raw.replace(boundary.encode(), b"BOUNDARY")
    return b"\n".join(line for line in raw.split(b"\n") if not line.startswith((b"Date:", b"Message-ID:")))


@pytest.mark.parametrize("locale", ["en", "zh"])
@pytest.mark.parametrize("mode", ["in_person", "online"])
def test_every_kind_of_enrolment_mail_says_what_the_whole_template_says(app, factory, locale, mode):
    course = factory.course(
        title="机器人单元调试", original_language="zh", title_translation="Robot cell commissioning"
    )
    start = datetime(2030, 5, 6, 1, 0, tzinfo=UTC)
    run = factory.run(course, start=start, meetings=3, mode=mode, location="Hall A", city="Suzhou")
    run.meetings[1].cancelled_at = start
    db.session.commit()
    trainee = factory.trainee(locale=locale, name="学员 一")
    enrolment = db.session.get(Enrolment, services.enrol(trainee, run.id).id)
    shown = 0
    for kind, subject in notifications.SUBJECTS.items():
        extra = {"position": 3, "reason": "Room change", "expires_at": start}
        kept = notifications.message(enrolment, kind, base_url="https://training.example", **extra)
        whole = mail.build(
            trainee.email,
            subject,
            notifications.TEMPLATES.get(kind, kind),
            locale=locale,
            subject_args={"course": localized(enrolment.run.course, "title", locale)},
            user=trainee,
            run=enrolment.run,
            course=enrolment.run.course,
            enrolment=enrolment,
            kind=kind,
            base_url="https://training.example",
            cutoff=cancel_cutoff(enrolment.run),
            **extra,
        )
        assert _wire(kept) == _wire(whole), kind
        template = notifications.TEMPLATES.get(kind, kind)
        if "run_text" in app.jinja_env.loader.get_source(app.jinja_env, f"email/{template}.txt")[0]:
            assert "Hall A" in _body(kept) or mode == "online"
            shown += 1
    assert shown >= 8


def test_the_next_mail_after_a_change_to_the_run_its_course_or_a_meeting_says_the_new_thing(app, factory, mailbox):
    admin = factory.admin()
    course = factory.course(code="RUN-1", title="Robot cell commissioning")
    run = factory.run(course, capacity=10, location="Hall A", city="Suzhou")

    def enrol_one() -> str:
        before = {m["Message-ID"] for m in mailbox()}
        person = factory.trainee()
        services.enrol(person, run.id)
        (new,) = [m for m in mailbox() if m["Message-ID"] not in before and m["To"] == person.email]
        return _body(new)

    first = enrol_one()
    assert "Hall A, Suzhou" in first and "RUN-1 Robot cell commissioning" in first
    assert enrol_one().split("\n", 1)[1] == first.split("\n", 1)[1]  # nothing changed: past the greeting, the same

    catalogue.update_run(admin, run.id, {"location": "Hall C"})
    after_room = enrol_one()
    assert "Hall C, Suzhou" in after_room and "Hall A" not in after_room

    catalogue.update_course(admin, db.session.get(Run, run.id).course, {"title": "Robot cell start-up"})
    after_title = enrol_one()
    assert "RUN-1 Robot cell start-up" in after_title and "commissioning" not in after_title

    meeting = db.session.get(Run, run.id).meetings[1]
    with force_locale("en"):
        old_time = mail.local_time(meeting.starts_at, db.session.get(Run, run.id).tz)
    meeting.starts_at += timedelta(hours=2)
    meeting.ends_at += timedelta(hours=2)
    db.session.commit()
    after_move = enrol_one()
    with force_locale("en"):
        new_time = mail.local_time(meeting.starts_at, db.session.get(Run, run.id).tz)
    assert new_time in after_move and old_time not in after_move

    meeting = db.session.get(Run, run.id).meetings[0]
    meeting.cancelled_at = datetime.now(UTC)
    db.session.commit()
    assert "(cancelled)" in enrol_one()


def test_the_same_run_in_two_languages_is_kept_apart(app, factory):
    course = factory.course(
        title="机器人单元调试", original_language="zh", title_translation="Robot cell commissioning"
    )
    run = factory.run(course)
    english, chinese = notifications.run_text(run, "en"), notifications.run_text(run, "zh")
    assert "Robot cell commissioning" in english and "机器人单元调试" in chinese
    assert notifications.run_text(run, "en") == english and notifications.run_text(run, "zh") == chinese
