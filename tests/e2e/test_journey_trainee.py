"""A trainee's journey in a real browser: register, find a course by a Chinese
word, join the waitlist of a full run, get the place when someone else cancels,
follow the attendance on "My training" and download the certificate PDF.
And the same first steps for a trainee whose browser asks for Chinese.

The steps that are not the trainee's (the trainer's marks, the admin issuing the
certificate) are done through the services. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.factories import PASSWORD
from training.accounts.models import User
from training.attendance import registers
from training.attendance import services as attendance
from training.certificates import services as certificates
from training.enrolment.models import Enrolment
from training.extensions import db
from training.types import utcnow

from .conftest import PHONE, TIMEOUT_MS, log_in, open_registration_link, screenshot

pytestmark = pytest.mark.e2e
DESKTOP = {"width": 1280, "height": 900}
TRANSLATIONS = Path(__file__).resolve().parents[2] / "training" / "translations"


def _context(browser, live_server, viewport=DESKTOP, locale="en-GB"):
    mobile = viewport["width"] < 600
    context = browser.new_context(
        viewport=viewport, base_url=live_server.url, locale=locale, is_mobile=mobile, has_touch=mobile
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _track_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("dialog", lambda dialog: dialog.accept())  # "Cancel your place?": yes
    return errors


@cache
def _catalogue():
    from babel.support import Translations

    return Translations.load(str(TRANSLATIONS), ["zh"], domain="messages")


def zh(msgid: str) -> str:
    """The Chinese label the page should show for an English msgid (from the shipped catalogue)."""
    text = _catalogue().gettext(msgid)
    assert text != msgid and re.search(r"[\u4e00-\u9fff]", text), f"no Chinese translation for {msgid!r}"
    return text


def _robot_course(factory, trainer, capacity=1):
    """A running meeting (started ten minutes ago) of a course found by 机器人, and a decoy course."""
    factory.course(code="PLC-101", title="PLC 编程基础", summary="Structured Text on Siemens S7-1500.")
    course = factory.course(
        code="ROB-210",
        title="工业机器人编程 Industrial robot programming",
        hours=8,
        summary="Program a six-axis robot cell: frames, paths, I/O and safety zones.",
    )
    start = (utcnow() - timedelta(minutes=10)).replace(microsecond=0)
    run = factory.run(
        course,
        capacity=capacity,
        meetings=1,
        start=start,
        trainers=[trainer],
        enrol_deadline=start + timedelta(hours=2),
        cancel_cutoff=start + timedelta(hours=2),
        location="Suzhou Training Centre, Robot Lab",
    )
    return course, run


def _enrolment_id(email: str) -> int:
    enrolment_id = db.session.scalar(
        select(Enrolment.id).join(User, Enrolment.user_id == User.id).where(User.email == email)
    )
    db.session.rollback()  # end the read: an open transaction would block the server's writes
    return enrolment_id


def test_trainee_waitlisted_then_promoted_sees_attendance_and_downloads_certificate(browser, live_server, factory):
    admin = factory.admin(email="office@example.com")
    trainer = factory.trainer(name="Li Wei", email="li.wei@example.com")
    course, run = _robot_course(factory, trainer, capacity=1)
    other = factory.trainee(name="Bob Smith", email="bob@example.com")
    factory.enrolment(run, other)  # the only seat is taken beforehand
    course_id, run_id, meeting_id = course.id, run.id, run.meetings[0].id
    admin_id, trainer_id = admin.id, trainer.id
    db.session.commit()  # end the test's transaction: on SQLite it would hold the write lock the server needs

    context = _context(browser, live_server)
    page = context.new_page()
    errors = _track_errors(page)

    # Registers with a Chinese name.
    page.goto("/register")
    page.get_by_label("Full name").fill("欧阳晓燕")
    page.get_by_label("E-mail").fill("xiaoyan@example.com")
    page.locator("input[name=password]").fill("Gear-box-2031!")
    page.locator("input[name=confirm]").fill("Gear-box-2031!")
    page.locator("form button[type=submit], form input[type=submit]").click()
    expect(page.get_by_role("alert").filter(has_text="Open the link in it")).to_be_visible()
    open_registration_link(page, live_server, "xiaoyan@example.com")
    expect(page.get_by_role("alert").filter(has_text="Your account is ready")).to_be_visible()
    screenshot(page, "journey-trainee-1-registered")

    # Finds the course by a Chinese word on the catalogue home.
    page.get_by_role("searchbox", name="Search courses").fill("机器人")
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_url(re.compile(r"[?&]q="))
    cards = page.locator("article.course-card")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("工业机器人编程")
    expect(page.get_by_text("PLC 编程基础")).to_have_count(0)
    screenshot(page, "journey-trainee-2-search")

    # Opens it: the run is full, so the trainee joins the waitlist.
    cards.first.get_by_role("link").click()
    page.wait_for_url(f"**/courses/{course_id}")
    run_card = page.locator(f"#run-{run_id}")
    expect(run_card).to_contain_text("Full · waitlist")
    run_card.get_by_role("button", name="Join the waitlist").click()
    expect(page.get_by_role("alert").filter(has_text="on the waitlist at position 1")).to_be_visible()
    expect(page.locator(f"#run-{run_id}")).to_contain_text("Waitlist position 1")
    screenshot(page, "journey-trainee-3-waitlisted")

    page.get_by_role("link", name="My training").first.click()
    waiting = page.locator("#waitlisted")
    expect(waiting).to_contain_text("工业机器人编程")
    expect(waiting).to_contain_text("Waitlist #1")
    expect(page.locator("#upcoming")).to_contain_text("No confirmed upcoming runs.")

    # Bob, in his own browser, gives up his place.
    bob_context = _context(browser, live_server, viewport=PHONE)
    bob = bob_context.new_page()
    _track_errors(bob)
    log_in(bob, "bob@example.com", PASSWORD)
    bob.goto("/my/training")
    bob.locator("#upcoming").get_by_role("button", name="Cancel my place").click()
    expect(bob.get_by_role("alert").filter(has_text="Your enrolment in")).to_contain_text("is cancelled")
    screenshot(bob, "journey-trainee-4-other-cancelled")
    bob_context.close()

    # The waitlisted trainee now has the place.
    page.reload()
    upcoming = page.locator("#upcoming")
    expect(upcoming).to_contain_text("工业机器人编程")
    expect(upcoming.locator(".badge", has_text="Confirmed")).to_be_visible()
    expect(page.locator("#waitlisted")).to_have_count(0)
    expect(upcoming).to_contain_text("0 of 1 meetings recorded")
    screenshot(page, "journey-trainee-5-promoted")

    # The trainer marks the meeting and the office issues the certificate (not this journey's point).
    enrolment_id = _enrolment_id("xiaoyan@example.com")
    trainer = db.session.get(User, trainer_id)
    attendance.mark(trainer, meeting_id, [{"enrolment_id": enrolment_id, "status": "present"}])
    registers.finalise(trainer, meeting_id)
    db.session.rollback()
    result = certificates.issue_for_run(db.session.get(User, admin_id), run_id)
    db.session.rollback()
    assert [c["enrolment_id"] for c in result["issued"]] == [enrolment_id]

    page.reload()
    upcoming = page.locator("#upcoming")
    expect(upcoming).to_contain_text("100%")
    expect(upcoming).to_contain_text("1 of 1 meetings recorded")
    upcoming.get_by_role("link", name="Details").click()
    page.wait_for_url(f"**/my/attendance/{enrolment_id}")
    expect(page.locator(".list-group-item").first).to_contain_text("Present")
    screenshot(page, "journey-trainee-6-attendance")

    # Downloads the certificate from "My certificates".
    page.goto("/my/training")
    page.get_by_role("link", name="My certificates").first.click()
    page.wait_for_url("**/my/certificates")
    card = page.locator(".cert-card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Valid")
    expect(card).to_contain_text("ROB-210")
    screenshot(page, "journey-trainee-7-certificates")
    with page.expect_download() as info:
        card.get_by_role("link", name="Download PDF").click()
    download = info.value
    assert download.suggested_filename.endswith(".pdf"), download.suggested_filename
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 1000
    assert not errors, errors
    context.close()


def test_trainee_in_chinese_finds_enrols_and_sees_my_training(browser, live_server, factory):
    trainer = factory.trainer(name="王芳")
    course, run = _robot_course(factory, trainer, capacity=5)
    course_id, run_id = course.id, run.id
    db.session.commit()

    # The browser asks for Chinese (Accept-Language: zh-CN); nothing else chooses the language.
    context = _context(browser, live_server, viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    errors = _track_errors(page)
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", level=1)).to_have_text(zh("Skills for the smart factory"))
    page.get_by_role("searchbox", name=zh("Search courses")).fill("机器人")
    page.get_by_role("button", name=zh("Search"), exact=True).click()
    page.wait_for_url(re.compile(r"[?&]q="))
    expect(page.locator("article.course-card")).to_have_count(1)
    screenshot(page, "journey-zh-1-search")

    # The course page offers to log in first; the trainee registers instead, in Chinese.
    page.locator("article.course-card").get_by_role("link").click()
    page.wait_for_url(f"**/courses/{course_id}")
    expect(page.locator(f"#run-{run_id}").get_by_role("link", name=zh("Log in to enrol"))).to_be_visible()
    page.goto("/register")
    expect(page.get_by_role("heading", level=1)).to_have_text(zh("Create an account"))
    page.locator("input[name=name]").fill("张伟")
    page.locator("input[name=email]").fill("zhang.wei@example.com")
    page.locator("input[name=password]").fill("Gear-box-2031!")
    page.locator("input[name=confirm]").fill("Gear-box-2031!")
    page.locator("form button[type=submit], form input[type=submit]").click()
    open_registration_link(page, live_server, "zhang.wei@example.com")
    expect(
        page.get_by_role("alert").filter(has_text=zh("Your account is ready. Find a course and enrol."))
    ).to_be_visible()

    page.goto(f"/courses/{course_id}")
    page.locator(f"#run-{run_id}").get_by_role("button", name=zh("Enrol"), exact=True).click()
    expect(page.locator(f"#run-{run_id}")).to_contain_text(zh("You have a place"))
    screenshot(page, "journey-zh-2-enrolled")

    page.goto("/my/training")
    expect(page.get_by_role("heading", level=1)).to_have_text(zh("My training"))
    upcoming = page.locator("#upcoming")
    expect(upcoming.get_by_role("heading", level=2)).to_have_text(zh("Upcoming"))
    expect(upcoming.locator(".badge", has_text=zh("Confirmed"))).to_be_visible()
    expect(upcoming).to_contain_text(zh("Attendance"))
    expect(page.get_by_role("link", name=zh("My certificates"))).to_be_visible()
    screenshot(page, "journey-zh-3-my-training")

    # The account remembers the language chosen at registration.
    email = "zhang.wei@example.com"
    assert db.session.scalar(select(User.locale).where(User.email == email)) == "zh"
    db.session.rollback()
    assert not errors, errors
    context.close()
