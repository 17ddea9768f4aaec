"""The whole path through the product in a real browser: a trainee registers and
enrols, the trainer marks attendance, the admin issues the certificate, and a
stranger opens its verification page. Screenshots go to test-artifacts/."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.e2e.conftest import (
    TIMEOUT_MS,
    log_in,
    open_registration_link,
    record_roster_status,
    saw_roster_status,
    screenshot,
)
from tests.factories import PASSWORD
from training.certificates.models import Certificate
from training.extensions import db
from training.types import utcnow

pytestmark = pytest.mark.e2e
DESKTOP = {"width": 1280, "height": 900}


def _context(browser, live_server, **kw):
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, locale="en-GB", **kw)
    context.set_default_timeout(TIMEOUT_MS)
    record_roster_status(context)
    return context


def test_register_enrol_mark_issue_verify(browser, live_server, factory):
    admin = factory.admin(email="office@example.com")
    trainer = factory.trainer(email="trainer@example.com", name="Li Wei")
    start = (utcnow() - timedelta(minutes=10)).replace(microsecond=0)
    course = factory.course(code="ROB-110", title="Industrial robot programming", hours=8)
    run = factory.run(
        course, capacity=5, meetings=1, start=start, trainers=[trainer], enrol_deadline=start + timedelta(hours=2)
    )
    run_id, course_id = run.id, course.id
    admin_email, trainer_email = admin.email, trainer.email
    # End the test's transaction: on SQLite it would hold the write lock the server needs.
    db.session.commit()

    # A trainee registers with a Chinese name and enrols from the course page.
    trainee_ctx = _context(browser, live_server)
    page = trainee_ctx.new_page()
    page.goto("/register")
    page.fill("input[name=name]", "欧阳晓燕")
    page.fill("input[name=email]", "xiaoyan@example.com")
    page.fill("input[name=password]", "Gear-box-2031!")
    page.fill("input[name=confirm]", "Gear-box-2031!")
    page.click("form button[type=submit], form input[type=submit]")
    open_registration_link(page, live_server, "xiaoyan@example.com")
    assert "欧阳晓燕" in page.content()
    page.goto(f"/courses/{course_id}")
    page.get_by_role("button", name="Enrol").first.click()
    page.wait_for_load_state()
    screenshot(page, "flow-1-trainee-enrolled")
    assert "You are enrolled" in page.content()
    db.session.rollback()

    # The trainer marks everyone present at today's meeting.
    trainer_ctx = _context(browser, live_server)
    page = trainer_ctx.new_page()
    log_in(page, trainer_email, PASSWORD)
    page.goto("/teaching")
    page.get_by_role("link", name="Take attendance").first.click()
    page.wait_for_load_state()
    assert "欧阳晓燕" in page.content()
    page.click("#mark-all")
    page.wait_for_load_state()
    if page.locator("#save-roster").count():
        page.click("#save-roster")
        saw_roster_status(page, "success")
    # ... and signs the register off: certificates wait for it.
    page.get_by_role("button", name="Finalise register").click()
    page.locator("#finalised-note").wait_for()
    screenshot(page, "flow-2-trainer-marked")
    db.session.rollback()

    # The admin issues the certificates of the run.
    admin_ctx = _context(browser, live_server)
    page = admin_ctx.new_page()
    log_in(page, admin_email, PASSWORD)
    page.goto(f"/admin/runs/{run_id}/certificates")
    page.get_by_role("button", name="Issue all eligible").click()
    page.wait_for_load_state()
    screenshot(page, "flow-3-admin-issued")
    db.session.rollback()
    code = db.session.scalar(select(Certificate.code))
    db.session.rollback()
    assert code, "no certificate was issued"

    # Anyone verifies it.
    stranger_ctx = _context(browser, live_server)
    page = stranger_ctx.new_page()
    page.goto(f"/verify/{code.lower()}")
    content = page.content()
    screenshot(page, "flow-4-verified")
    assert "欧阳晓燕" in content and "Industrial robot programming" in content
    assert "xiaoyan@example.com" not in content
    for ctx in (trainee_ctx, trainer_ctx, admin_ctx, stranger_ctx):
        ctx.close()
