"""The signed paper register, on a phone: the trainer opens the roster (kept
for offline use by its service worker), the factory Wi-Fi drops, the roster
still opens and takes marks; meanwhile a trainee checks in herself; back
online the trainer's older "absent" is not applied and shown as a conflict,
which the trainer resolves before finalising the register; then an admin
issues the certificates. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD
from training.accounts.models import User
from training.attendance import checkin, services
from training.catalogue.models import Meeting
from training.extensions import db

from .conftest import log_in, saw_roster_status, screenshot

pytestmark = pytest.mark.e2e


def marks(meeting_id):
    db.session.expire_all()
    meeting = services.get_meeting(meeting_id)
    result = {e.user.display_name: (r.status, r.source) if r else None for e, r in services.roster(meeting)}
    finalised = meeting.finalised_at is not None
    db.session.rollback()  # end the read: on SQLite an open transaction would block the server's writes
    return result, finalised


def test_offline_marks_conflict_with_a_self_checkin_then_finalise_and_issue(page, browser, live_server, factory):
    trainer = factory.trainer(name="Li Wei", email="li.wei@example.com")
    admin = factory.admin(name="Training Office", email="office@example.com")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    course = factory.course(code="PLC-201", title="PLC troubleshooting", min_attendance_pct=100)
    run = factory.run(
        course, trainers=[trainer], start=start, meetings=1, hours=2, location="Suzhou Training Centre, Lab 2"
    )
    names = ["欧阳晓燕", "Anna Müller", "Bob Smith"]
    users = {n: factory.trainee(name=n) for n in names}
    for user in users.values():
        factory.enrolment(run, user)
    meeting_id, run_id, anna_id = run.meetings[0].id, run.id, users["Anna Müller"].id
    trainer_email, admin_email = trainer.email, admin.email
    db.session.commit()  # and touch no expired object while the browser writes

    # The trainer opens the roster once, online: the service worker keeps it.
    log_in(page, trainer_email, PASSWORD)
    page.goto(f"/meetings/{meeting_id}/roster")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now under the worker's control: this copy is cached
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    screenshot(page, "register-1-roster-online")

    # Dead Wi-Fi at 9:00: the roster still opens, and takes marks.
    page.context.set_offline(True)
    page.reload()
    expect(page.locator("#roster-form")).to_be_visible()
    page.get_by_role("button", name="Mark all present").click()
    page.locator(".roster-row", has_text="Anna Müller").locator("label", has_text="Absent").click()
    page.locator("#save-roster").click()
    saw_roster_status(page, "warning")
    assert page.locator(".roster-row.is-pending").count() == 3
    screenshot(page, "register-2-offline-marks")

    # Anna arrives and checks in herself with the code on the screen (after the trainer's offline mark).
    anna = db.session.get(User, anna_id)
    meeting = db.session.get(Meeting, meeting_id)
    checkin.ensure_secret(meeting)
    code = checkin.code_at(meeting, checkin.step_at(datetime.now(UTC)), checkin.SHORT_LENGTH)
    assert checkin.check_in(anna, code=code).attendance.status == "late"
    db.session.rollback()

    # Back online: the queue is sent; the older "absent" is not applied and is shown.
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    saw_roster_status(page, "success")
    conflicts = page.locator("#roster-conflicts")
    expect(conflicts).to_be_visible()
    expect(conflicts).to_contain_text("Anna Müller")
    expect(conflicts).to_contain_text("self check-in")
    anna_row = page.locator(".roster-row", has_text="Anna Müller")
    expect(anna_row.locator(".self-checkin")).to_be_visible()
    got, _ = marks(meeting_id)
    assert got["Anna Müller"] == ("late", "checkin")
    assert got["欧阳晓燕"][0] == got["Bob Smith"][0] == "present"
    screenshot(page, "register-3-conflict")

    # The trainer resolves it: Anna was there after all, the register keeps her check-in.
    conflicts.get_by_role("button", name="Keep").click()
    expect(conflicts).to_be_hidden()
    assert anna_row.locator("input[value=late]").is_checked()

    # One tap at the end of the roster signs the register off.
    page.get_by_role("button", name="Finalise register").click()
    expect(page.locator("#finalised-note")).to_contain_text("Finalised by Li Wei")
    expect(page.locator("#finalise-register")).to_have_count(0)
    got, finalised = marks(meeting_id)
    assert finalised and got["Anna Müller"] == ("late", "checkin")
    screenshot(page, "register-4-finalised")
    errors = [e for e in page.js_errors if "ERR_INTERNET_DISCONNECTED" not in e and "Failed to fetch" not in e]
    assert not errors, errors

    # The office issues the certificates, now that every register is signed.
    office = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url, locale="en-GB")
    admin_page = office.new_page()
    log_in(admin_page, admin_email, PASSWORD)
    admin_page.goto(f"/admin/runs/{run_id}/certificates")
    admin_page.get_by_role("button", name="Issue all eligible (3)").click()
    admin_page.wait_for_load_state()
    expect(admin_page.get_by_text("finished").or_(admin_page.get_by_text("Issued")).first).to_be_visible()
    screenshot(admin_page, "register-5-issued")
    from sqlalchemy import func, select

    from training.certificates.models import Certificate
    from training.enrolment.models import Enrolment

    issued = db.session.scalar(
        select(func.count())
        .select_from(Certificate)
        .join(Enrolment, Certificate.enrolment_id == Enrolment.id)
        .where(Enrolment.run_id == run_id)
    )
    db.session.rollback()
    assert issued == 3
    office.close()
