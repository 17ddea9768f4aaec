"""A trainer's journey in a real browser: take attendance on a phone from the
"Teaching" page, and let trainees check themselves in with the code shown on
the room's screen, typed on one phone and scanned (QR) on another.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from tests.factories import PASSWORD
from training.attendance import services as attendance
from training.extensions import db
from training.types import utcnow

from .conftest import PHONE, TIMEOUT_MS, log_in, record_roster_status, saw_roster_status, screenshot

pytestmark = pytest.mark.e2e
SCREEN = {"width": 1280, "height": 800}  # the laptop on the projector


def _context(browser, live_server, viewport=PHONE, timezone_id="Asia/Shanghai"):
    mobile = viewport["width"] < 600
    context = browser.new_context(
        viewport=viewport,
        base_url=live_server.url,
        locale="en-GB",
        timezone_id=timezone_id,
        is_mobile=mobile,
        has_touch=mobile,
        device_scale_factor=2 if mobile else 1,
    )
    context.set_default_timeout(TIMEOUT_MS)
    record_roster_status(context)
    return context


def _track_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def _statuses(meeting_id):
    from training.attendance.services import get_meeting

    db.session.expire_all()
    result = {
        e.user.display_name: (r.status, r.note, r.source) if r else None
        for e, r in attendance.roster(get_meeting(meeting_id))
    }
    db.session.rollback()  # end the read: on SQLite an open transaction would block the server's writes
    return result


def _fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_trainer_takes_attendance_on_a_phone_from_the_teaching_page(browser, live_server, factory):
    trainer = factory.trainer(name="Li Wei", email="li.wei@example.com")
    start = (utcnow() - timedelta(minutes=5)).replace(microsecond=0)
    run = factory.run(
        factory.course(code="MES-201", title="MES fundamentals: order to shop floor"),
        trainers=[trainer],
        start=start,
        meetings=2,
        location="Suzhou Training Centre, Lab 3",
    )
    names = ["欧阳晓燕", "Anna Müller", "张伟", "Bob Smith"]
    for name in names:
        factory.enrolment(run, factory.trainee(name=name))
    factory.run(factory.course(title="Someone else's course"), start=start, meetings=1)  # not this trainer's
    meeting_id = run.meetings[0].id
    db.session.commit()  # and touch no expired object until the browser is done writing

    # A visiting trainer whose phone still runs on Berlin time: the page shows the run's local times.
    context = _context(browser, live_server, timezone_id="Europe/Berlin")
    page = context.new_page()
    errors = _track_errors(page)
    log_in(page, "li.wei@example.com", PASSWORD)
    page.wait_for_url("**/teaching")  # a trainer lands on the day's teaching
    card = page.locator(".today-card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("MES fundamentals")
    expect(card.locator(".badge", has_text="now")).to_be_visible()
    expect(card.locator(".stat-sm")).to_have_text("0/4")
    expect(page.get_by_text("Someone else's course")).to_have_count(0)
    # Tomorrow's meeting is listed under "Coming up", the run under "Runs you teach".
    expect(page.locator("li.list-group-item", has_text="MES fundamentals")).to_have_count(1)
    expect(page.locator("a.list-group-item", has_text="MES fundamentals")).to_contain_text("4 trainees")
    assert _fits_the_screen(page)
    screenshot(page, "journey-trainer-1-teaching")

    # The menu on a phone reaches the same page.
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("link", name="Teaching")).to_be_visible()
    page.get_by_role("button", name="Menu").click()

    card.get_by_role("link", name="Take attendance").click()
    page.wait_for_url(f"**/meetings/{meeting_id}/roster")
    expect(page.locator(".roster-row")).to_have_count(4)
    page.get_by_role("button", name="Mark all present").click()
    page.locator(".roster-row", has_text="Bob Smith").locator("label", has_text="Absent").click()
    excused = page.locator(".roster-row", has_text="张伟")
    excused.locator("label", has_text="Excused").click()
    excused.get_by_label("Note").fill("病假 sick note")
    expect(page.locator("[data-count=present]")).to_have_text("2")
    expect(page.locator("#save-roster")).to_have_text("Save (4)")
    assert _fits_the_screen(page)
    screenshot(page, "journey-trainer-2-marked")

    page.locator("#save-roster").click()
    saw_roster_status(page, "success")
    expect(page.locator("#save-roster")).to_have_text("Save")
    marked_after_save = page.locator(".roster-row", has_text="欧阳晓燕").locator(".roster-marked").inner_text()
    assert _statuses(meeting_id) == {
        "欧阳晓燕": ("present", "", "roster"),
        "Anna Müller": ("present", "", "roster"),
        "张伟": ("excused", "病假 sick note", "roster"),
        "Bob Smith": ("absent", "", "roster"),
    }
    screenshot(page, "journey-trainer-3-saved")

    # What was saved is what the roster shows after a reload, and the day's card counts it.
    page.reload()
    expect(page.locator(".roster-row", has_text="Bob Smith").locator("input[value=absent]")).to_be_checked()
    expect(page.locator(".roster-row", has_text="张伟").get_by_label("Note")).to_have_value("病假 sick note")
    # The time of the mark reads the same before and after the reload: the run's local time.
    expect(page.locator(".roster-row", has_text="欧阳晓燕").locator(".roster-marked")).to_have_text(marked_after_save)
    assert re.fullmatch(r"Present · by Li Wei · \d\d:\d\d", marked_after_save), marked_after_save
    page.get_by_role("link", name="Today").click()
    page.wait_for_url("**/teaching")
    expect(page.locator(".today-card .stat-sm")).to_have_text("4/4")
    screenshot(page, "journey-trainer-4-today-done")
    assert not errors, errors
    context.close()


def test_trainees_check_themselves_in_with_the_code_on_the_screen(browser, live_server, factory):
    trainer = factory.trainer(name="Wang Fang", email="wang.fang@example.com")
    start = (utcnow() - timedelta(minutes=2)).replace(microsecond=0)
    run = factory.run(
        factory.course(code="OPC-110", title="OPC UA for machine builders"),
        trainers=[trainer],
        start=start,
        meetings=1,
        location="Shanghai, Room 5",
    )
    factory.enrolment(run, factory.trainee(name="刘洋", email="liu.yang@example.com"))
    factory.enrolment(run, factory.trainee(name="Carla Rossi", email="carla@example.com"))
    factory.enrolment(run, factory.trainee(name="陈静", email="chen.jing@example.com"))
    meeting_id = run.meetings[0].id
    db.session.commit()

    # The trainer opens the check-in screen for the running meeting from the Teaching page.
    screen_context = _context(browser, live_server, viewport=SCREEN)
    screen = screen_context.new_page()
    errors = _track_errors(screen)
    log_in(screen, "wang.fang@example.com", PASSWORD)
    screen.goto("/teaching")
    screen.get_by_role("link", name="Check-in code").click()
    screen.wait_for_url(f"**/meetings/{meeting_id}/checkin/screen")
    expect(screen.get_by_text("Scan to check in")).to_be_visible()
    code = screen.locator("#checkin-code").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]{3}-[0-9A-Z]{3}", code), code
    screenshot(screen, "journey-checkin-1-screen")

    # A trainee without a camera types the short code on her phone.
    typed_context = _context(browser, live_server)
    typed = typed_context.new_page()
    errors += _track_errors(typed)
    log_in(typed, "liu.yang@example.com", PASSWORD)
    typed.goto("/checkin")
    typed.get_by_label("Check-in code").fill(code.replace("-", "").lower())  # as people type it
    typed.get_by_role("button", name="Check in").click()
    expect(typed.get_by_role("alert").filter(has_text="Checked in: you are marked present")).to_be_visible()
    expect(typed.get_by_role("heading", name="OPC UA for machine builders")).to_be_visible()
    expect(typed.locator(".att-badge")).to_have_text("Present")
    screenshot(typed, "journey-checkin-2-typed")

    # Another trainee scans the QR code on the screen, not logged in yet: log in, then confirm.
    png = screen.locator("#checkin-qr").screenshot()
    scanned = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]
    assert len(scanned) == 1 and f"/checkin/{meeting_id}?c=" in scanned[0], scanned
    scan_context = _context(browser, live_server)
    scanner = scan_context.new_page()
    errors += _track_errors(scanner)
    scanner.goto(scanned[0])
    scanner.wait_for_url("**/login**")
    scanner.locator("input[name=email]").fill("carla@example.com")
    scanner.locator("input[name=password]").fill(PASSWORD)
    scanner.locator("form button[type=submit], form input[type=submit]").click()
    scanner.wait_for_url("**/checkin/confirm**")
    expect(scanner.get_by_role("heading", name="OPC UA for machine builders")).to_be_visible()
    expect(scanner.get_by_text("Signed in as Carla Rossi")).to_be_visible()
    screenshot(scanner, "journey-checkin-3-scan-confirm")
    scanner.get_by_role("button", name="I am here — check in").click()
    expect(scanner.get_by_role("alert").filter(has_text="Checked in: you are marked present")).to_be_visible()

    # A code typed wrong is refused in words, and nothing is marked.
    wrong = "000-000" if code != "000-000" else "111-111"
    chen_context = _context(browser, live_server)
    chen = chen_context.new_page()
    log_in(chen, "chen.jing@example.com", PASSWORD)
    chen.goto("/checkin")
    chen.get_by_label("Check-in code").fill(wrong)
    chen.get_by_role("button", name="Check in").click()
    expect(chen.locator(".invalid-feedback")).to_be_visible()
    screenshot(chen, "journey-checkin-4-wrong-code")

    # The trainer's roster shows both present by self check-in, the third not marked.
    screen.get_by_role("link", name="Open the roster").click()
    screen.wait_for_url(f"**/meetings/{meeting_id}/roster")
    for name in ("刘洋", "Carla Rossi"):
        row = screen.locator(".roster-row", has_text=name)
        expect(row.locator("input[value=present]")).to_be_checked()
        expect(row.locator(".self-checkin")).to_be_visible()
    expect(screen.locator(".roster-row", has_text="陈静").locator(".roster-marked")).to_have_text("Not marked")
    expect(screen.locator("[data-count=present]")).to_have_text("2")
    screenshot(screen, "journey-checkin-5-roster")
    assert _statuses(meeting_id) == {
        "刘洋": ("present", "", "checkin"),
        "Carla Rossi": ("present", "", "checkin"),
        "陈静": None,
    }
    assert not errors, errors
    for context in (screen_context, typed_context, scan_context, chen_context):
        context.close()
