"""A trainer on a phone: open today's meeting, mark all present, change one to
late, save; then lose the connection, change a mark, and see it sent when the
connection returns. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import PASSWORD
from training.attendance import services
from training.extensions import db

from .conftest import log_in, saw_roster_status, screenshot

pytestmark = pytest.mark.e2e


def statuses(meeting):
    db.session.expire_all()
    result = {e.user.display_name: (r.status if r else None) for e, r in services.roster(meeting)}
    db.session.rollback()  # end the read: on SQLite an open transaction would block the server's writes
    return result


def test_trainer_takes_attendance_on_a_phone(page, live_server, factory):
    trainer = factory.trainer(name="Li Wei", email="li.wei@example.com")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    run = factory.run(
        factory.course(title="PLC Programming with IEC 61131-3"),
        trainers=[trainer],
        start=start,
        meetings=3,
        location="Suzhou Training Centre, Lab 2",
    )
    names = ["欧阳晓燕", "Anna Müller", "张伟", "Bob Smith", "Carla Rossi", "陈静"]
    for name in names:
        factory.enrolment(run, factory.trainee(name=name))
    meeting = run.meetings[0]
    meeting_id, email = meeting.id, trainer.email
    db.session.commit()  # and touch no expired object until the browser is done writing

    log_in(page, email, PASSWORD)
    page.goto("/teaching")
    assert page.get_by_text("PLC Programming with IEC 61131-3").first.is_visible()
    screenshot(page, "attendance-phone-1-today")

    page.get_by_role("link", name="Take attendance").first.click()
    page.wait_for_url(f"**/meetings/{meeting_id}/roster")
    screenshot(page, "attendance-phone-2-roster")

    page.get_by_role("button", name="Mark all present").click()
    late_row = page.locator(".roster-row", has_text="Bob Smith")
    late_row.locator("label", has_text="Late").click()
    assert page.locator("#save-roster").inner_text() == "Save (6)"
    screenshot(page, "attendance-phone-3-marked")

    page.locator("#save-roster").click()
    saw_roster_status(page, "success")
    got = statuses(meeting)
    assert got == {n: ("late" if n == "Bob Smith" else "present") for n in names}
    assert "Li Wei" in late_row.locator(".roster-marked").inner_text()
    screenshot(page, "attendance-phone-4-saved")

    # Factory Wi-Fi drops: the mark is kept on the phone, shown as pending, and sent later.
    page.context.set_offline(True)
    page.locator(".roster-row", has_text="陈静").locator("label", has_text="Absent").click()
    page.locator("#save-roster").click()
    saw_roster_status(page, "warning")
    assert page.locator(".roster-row.is-pending").count() == 1
    assert statuses(meeting)["陈静"] == "present"
    screenshot(page, "attendance-phone-5-offline")
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    saw_roster_status(page, "success")
    assert statuses(meeting)["陈静"] == "absent"
    assert page.locator(".roster-row.is-pending").count() == 0
    assert page.evaluate(f"localStorage.getItem('attendance-outbox:{meeting_id}')") is None
    errors = [e for e in page.js_errors if "ERR_INTERNET_DISCONNECTED" not in e]  # the offline save, on purpose
    assert not errors, errors


def test_marks_left_offline_are_sent_on_the_next_visit(page, live_server, factory):
    trainer = factory.trainer(name="Wang Fang")
    run = factory.run(trainers=[trainer], start=datetime.now(UTC) - timedelta(minutes=1), meetings=1)
    enrolment = factory.enrolment(run, factory.trainee(name="刘洋"))
    meeting = run.meetings[0]
    meeting_id, enrolment_id, email = meeting.id, enrolment.id, trainer.email
    db.session.commit()
    log_in(page, email, PASSWORD)
    page.goto(f"/meetings/{meeting_id}/roster")
    # The page was closed while offline with one mark queued, and the same mark queued twice by a retry.
    page.evaluate(
        """([m, e]) => localStorage.setItem('attendance-outbox:' + m, JSON.stringify([
        {enrolment_id: e, status: 'excused', note: 'flight delayed', idempotency_key: 'abcdef-123456'},
        {enrolment_id: e, status: 'excused', note: 'flight delayed', idempotency_key: 'abcdef-123456'}]))""",
        [meeting_id, enrolment_id],
    )
    page.reload()
    saw_roster_status(page, "success")
    assert statuses(meeting) == {"刘洋": "excused"}
    assert len(services.history(meeting)) == 1
    db.session.rollback()
    assert page.locator(f"#note-{enrolment_id}").input_value() == "flight delayed"


def test_logging_out_leaves_no_roster_and_no_marks_for_the_next_person(page, live_server, factory):
    """The training room's shared laptop: after the trainer logs out, the roster the service worker kept
    (to open offline) and a mark still waiting to be sent are gone, so the next person can neither read
    the roster offline nor send the mark as theirs."""
    trainer = factory.trainer(name="Zhao Min")
    run = factory.run(trainers=[trainer], start=datetime.now(UTC) - timedelta(minutes=1), meetings=1)
    enrolment = factory.enrolment(run, factory.trainee(name="周杰"))
    meeting_id, enrolment_id, email = run.meetings[0].id, enrolment.id, trainer.email
    db.session.commit()
    log_in(page, email, PASSWORD)
    page.goto(f"/meetings/{meeting_id}/roster")
    page.evaluate("navigator.serviceWorker.ready")
    page.reload()  # now under the worker's control: the roster is kept
    page.wait_for_function("caches.keys().then((k) => k.length > 0)")
    page.evaluate(
        """([m, e]) => localStorage.setItem('attendance-outbox:' + m, JSON.stringify([
        {enrolment_id: e, status: 'absent', note: '', idempotency_key: 'left-behind-0001'}]))""",
        [meeting_id, enrolment_id],
    )
    page.evaluate("document.querySelector('form[action$=\"/logout\"]').submit()")
    page.wait_for_url("**/")
    assert page.evaluate("caches.keys()") == []
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("navigator.serviceWorker.getRegistrations().then((r) => r.length)") == 0
