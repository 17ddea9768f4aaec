"""The training office's journey in a real browser: create a course and a run
with its sessions through the admin forms, bulk-import trainees from a CSV file
saved by Chinese Excel, issue the certificates of a finished run and revoke
one; a stranger then sees the revocation on the public verification page.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.factories import PASSWORD
from training.accounts.models import User
from training.attendance import services as attendance
from training.catalogue.models import Course, Run
from training.certificates.models import Certificate
from training.enrolment.models import Enrolment
from training.extensions import db
from training.types import local_date

from .conftest import PHONE, TIMEOUT_MS, log_in, screenshot

pytestmark = pytest.mark.e2e
DESKTOP = {"width": 1280, "height": 900}

CSV_ROWS = [
    ("邮箱", "姓名", "单位", "电话"),  # the Chinese headers Excel users write
    ("wang.xiaoming@example.com", "王小明", "上汽大众", "13800000000"),
    ("ouyang.xiaoyan@example.com", "欧阳晓燕", "博世汽车部件（苏州）有限公司", ""),
    ("anna.mueller@example.com", "Anna Müller", "Bosch", ""),
]


def _context(browser, live_server, viewport=DESKTOP):
    mobile = viewport["width"] < 600
    context = browser.new_context(
        viewport=viewport, base_url=live_server.url, locale="en-GB", is_mobile=mobile, has_touch=mobile
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _track_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def _next_monday(after_days: int = 14) -> date:
    day = date.today() + timedelta(days=after_days)
    return day + timedelta(days=(7 - day.weekday()) % 7)


def _finished_run(factory, admin):
    """A run that ended last week: three trainees, two attended, one missed a session."""
    trainer = factory.trainer(name="Li Wei")
    course = factory.course(code="SAF-301", title="Functional safety: ISO 13849 in practice", hours=16)
    run = factory.past_run(course, meetings=2, trainers=[trainer], finalised=False)
    marks = {"陈静": ["present", "present"], "刘洋": ["present", "late"], "Bob Smith": ["present", "absent"]}
    records = {0: [], 1: []}
    for name, statuses in marks.items():
        enrolment = factory.enrolment(run, factory.trainee(name=name))
        for i, status in enumerate(statuses):
            records[i].append({"enrolment_id": enrolment.id, "status": status})
    for i, meeting in enumerate(run.meetings):
        attendance.mark(admin, meeting.id, records[i])  # the trainer's job, not this journey's point
    factory.finalise(run, by=trainer)
    return run


def test_admin_creates_course_and_run_imports_trainees_issues_and_revokes(browser, live_server, factory):
    admin = factory.admin(name="Training Office", email="office@example.com")
    factory.trainer(name="张老师", email="zhang.laoshi@example.com")
    finished = _finished_run(factory, admin)
    finished_id = finished.id
    trainer_id = db.session.scalar(select(User.id).where(User.email == "zhang.laoshi@example.com"))
    db.session.commit()  # end the test's transaction: on SQLite it would hold the write lock the server needs
    monday = _next_monday()

    context = _context(browser, live_server)
    page = context.new_page()
    errors = _track_errors(page)
    log_in(page, "office@example.com", PASSWORD)
    page.wait_for_url("**/admin/")

    # A new course, through the form.
    page.locator(".admin-nav").get_by_role("link", name="Courses").click()
    page.get_by_role("link", name="New course").click()
    page.wait_for_url("**/admin/courses/new")
    page.get_by_label("Code", exact=True).fill("ROB-120")
    page.get_by_label("Title (English)", exact=True).fill("Collaborative robot applications")
    page.get_by_label("Title (中文)", exact=True).fill("协作机器人应用")
    page.get_by_label("Summary (English)", exact=True).fill(
        "Set up a cobot cell with force limits, grippers and a safety assessment."
    )
    page.get_by_label("Level", exact=True).select_option("intermediate")
    page.get_by_label("Language", exact=True).select_option("en+zh")
    page.get_by_label("Hours", exact=True).fill("14")
    expect(page.get_by_label("Published in the catalogue")).to_be_checked()
    screenshot(page, "journey-admin-1-new-course")
    page.get_by_role("button", name="Save course").click()
    expect(page.get_by_role("alert").filter(has_text="Course ROB-120 created. Now schedule a run.")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("ROB-120"))).to_be_visible()

    # A two-day run with one session a day, taught by 张老师.
    page.get_by_role("link", name="Schedule a run").click()
    page.get_by_label("First day", exact=True).fill(monday.isoformat())
    page.get_by_label("Last day", exact=True).fill((monday + timedelta(days=1)).isoformat())
    page.get_by_label("City", exact=True).fill("苏州")
    page.get_by_label("Place or link (English)").fill("Suzhou Training Centre, Cobot Lab")
    page.get_by_label("Capacity", exact=True).fill("2")
    page.get_by_label("Trainers", exact=True).select_option(str(trainer_id))
    expect(page.get_by_label("Create one session per day")).to_be_checked()
    expect(page.get_by_label("Sessions start")).to_have_value("09:00")
    screenshot(page, "journey-admin-2-new-run")
    page.get_by_role("button", name="Save run").click()
    expect(page.get_by_role("alert").filter(has_text="Run scheduled with 2 sessions.")).to_be_visible()
    sessions = page.locator("#sessions .list-group-item")
    expect(sessions).to_have_count(2)
    expect(sessions.first).to_contain_text("09:00–17:00")
    expect(page.get_by_text("0 confirmed of 2")).to_be_visible()
    screenshot(page, "journey-admin-3-run-saved")
    run_id = int(re.search(r"/runs/(\d+)/edit", page.url).group(1))

    # The run is in the catalogue with its trainer.
    page.get_by_role("link", name="View", exact=True).click()
    run_card = page.locator(f"#run-{run_id}")
    expect(run_card).to_contain_text("2 seats left")
    expect(run_card).to_contain_text("张老师")

    # Bulk import from a file saved by Chinese Excel (GB18030), Chinese headers and names.
    page.goto(f"/admin/runs/{run_id}/edit")
    page.locator("a.btn", has_text="Enrolments").click()  # the run's, not the admin menu's
    page.wait_for_url(f"**/admin/runs/{run_id}/enrolments")
    expect(page.get_by_role("heading", name="No enrolments yet")).to_be_visible()
    page.get_by_role("link", name="Import CSV").first.click()
    page.wait_for_url(f"**/admin/runs/{run_id}/import")
    data = "\r\n".join(",".join(row) for row in CSV_ROWS).encode("gb18030")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "学员名单.csv", "mimeType": "text/csv", "buffer": data}]
    )
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview of 学员名单.csv")).to_be_visible()
    preview = page.locator("table tbody tr")
    expect(preview).to_have_count(3)
    expect(preview.nth(0)).to_contain_text("王小明")
    expect(preview.nth(0)).to_contain_text("Will be confirmed")
    expect(preview.nth(1)).to_contain_text("欧阳晓燕")
    expect(preview.nth(2)).to_contain_text("Would be waitlisted")
    expect(page.get_by_text("3 new accounts will be created.")).to_be_visible()
    screenshot(page, "journey-admin-4-import-preview")
    page.get_by_role("button", name="Import 3 trainees").click()
    expect(page.get_by_role("alert").filter(has_text="Import done")).to_contain_text(
        "2 confirmed, 1 waitlisted, 0 unchanged; 3 new accounts."
    )
    roster = page.locator("table.roster-table tbody tr")
    expect(roster).to_have_count(3)
    expect(roster.filter(has_text="王小明")).to_contain_text("Confirmed")
    expect(roster.filter(has_text="欧阳晓燕")).to_contain_text("Confirmed")
    expect(roster.filter(has_text="欧阳晓燕")).to_contain_text("博世汽车部件（苏州）有限公司")
    expect(roster.filter(has_text="Anna Müller")).to_contain_text("Waitlisted")
    screenshot(page, "journey-admin-5-imported")

    # Certificates of the run that ended: from the Certificates section, issue all eligible.
    page.locator("nav.navbar").get_by_role("link", name="Admin", exact=True).click()
    page.locator(".admin-nav").get_by_role("link", name="Certificates", exact=True).click()
    page.locator("tr", has_text="SAF-301").get_by_role("link", name="Issue and download").click()
    page.wait_for_url(f"**/admin/runs/{finished_id}/certificates")
    expect(page.locator("tr", has_text="Bob Smith")).to_contain_text("Not eligible")
    page.get_by_role("button", name="Issue all eligible (2)").click()
    expect(page.locator("#cert-job-state")).to_have_text("Finished")
    expect(page.locator("#cert-job-result")).to_contain_text("2 certificates issued, 1 skipped.")
    screenshot(page, "journey-admin-6-issued")
    page.get_by_role("link", name="Back to the run's certificates").click()
    row = page.locator("tr", has_text="刘洋")
    expect(row.locator(".badge", has_text="Valid")).to_be_visible()
    code_text = row.locator("a.font-monospace").inner_text().strip()

    # Revoke one, with a reason.
    row.locator("a.font-monospace").click()
    reason = "考勤记录有误 Attendance record was wrong: the second day was not attended."
    page.get_by_label("Reason (shown publicly)").fill(reason)
    page.get_by_role("button", name="Revoke certificate").click()
    expect(page.get_by_role("alert").filter(has_text="revoked")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Revoked")
    screenshot(page, "journey-admin-7-revoked")
    assert not errors, errors

    code, revoked_on = db.session.execute(
        select(Certificate.code, Certificate.revoked_at).where(Certificate.revoked_at.is_not(None))
    ).one()
    valid = db.session.scalars(select(Certificate.code).where(Certificate.revoked_at.is_(None))).all()
    db.session.rollback()
    assert len(valid) == 1

    # A stranger (an employer, on a phone) checks the certificate.
    stranger_context = _context(browser, live_server, viewport=PHONE)
    stranger = stranger_context.new_page()
    stranger.goto(f"/verify/{code_text}")
    status = stranger.locator(".cert-status")
    expect(status).to_have_attribute("data-status", "revoked")
    expect(status.get_by_role("heading", level=1)).to_have_text("Revoked certificate")
    # the organisation's date (ORG_TIMEZONE), not UTC's: they differ from 16:00 UTC in Shanghai
    expect(status).to_contain_text(f"This certificate was revoked on {local_date(revoked_on).isoformat()}")
    expect(status).to_contain_text(reason)
    expect(stranger.locator(".cert-holder")).to_have_text("刘洋")
    screenshot(stranger, "journey-admin-8-verify-revoked")
    # The other certificate of the run still verifies as valid.
    stranger.goto(f"/verify/{valid[0]}")
    expect(stranger.locator(".cert-status")).to_have_attribute("data-status", "valid")
    assert code_text.replace("-", "") == code
    stranger_context.close()
    context.close()

    # What the forms saved (read after the browsers are done).
    course = db.session.scalar(select(Course).where(Course.code == "ROB-120"))
    run = db.session.get(Run, run_id)
    assert (course.language, course.level, course.hours, course.published) == ("en+zh", "intermediate", 14, True)
    assert [m.starts_at.astimezone(run.tz).date() for m in run.meetings] == [monday, monday + timedelta(days=1)]
    assert [t.email for t in run.trainers] == ["zhang.laoshi@example.com"]
    imported = dict(
        db.session.execute(
            select(User.display_name, User.locale)
            .join(Enrolment, Enrolment.user_id == User.id)
            .where(Enrolment.run_id == run_id)
        ).all()
    )
    assert set(imported) == {"王小明", "欧阳晓燕", "Anna Müller"}
    assert imported["王小明"] == imported["欧阳晓燕"] == "zh"  # their e-mails arrive in Chinese
    db.session.rollback()
