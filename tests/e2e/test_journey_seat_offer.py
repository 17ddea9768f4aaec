"""A seat freed after the enrolment deadline, in a real browser: the admin sees
the waitlist on the roster and offers the seat (desktop); the trainee opens
the link from the e-mail on a phone and accepts it. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import re
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD
from training.enrolment import services
from training.enrolment.models import Enrolment
from training.extensions import db
from training.types import utcnow

from .conftest import PHONE, TIMEOUT_MS, log_in, screenshot

pytestmark = pytest.mark.e2e
DESKTOP = {"width": 1280, "height": 900}


def _context(browser, live_server, viewport):
    mobile = viewport["width"] < 600
    context = browser.new_context(
        viewport=viewport, base_url=live_server.url, locale="en-GB", is_mobile=mobile, has_touch=mobile
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def test_admin_offers_a_freed_seat_and_the_trainee_accepts_it_on_a_phone(browser, live_server, factory):
    admin = factory.admin(name="Admin Wang")
    course = factory.course(code="PLC-201", title="PLC programming: structured text")
    run = factory.run(course, capacity=1, start=(utcnow() + timedelta(days=2)).replace(microsecond=0))
    holder = services.enrol(factory.trainee(name="陈静"), run.id)
    first = services.enrol(factory.trainee(name="欧阳晓燕", email="ouyang@example.com"), run.id)
    services.enrol(factory.trainee(name="Bob Smith"), run.id)
    run.enrol_deadline = utcnow() - timedelta(hours=2)
    db.session.commit()
    services.cancel(admin, holder.id, "Moved to another plant")  # after the deadline: nobody moves up by itself
    admin_email, run_id, first_id = admin.email, run.id, first.id
    db.session.rollback()  # end the test's transaction: the server needs the SQLite write lock

    context = _context(browser, live_server, DESKTOP)
    page = context.new_page()
    log_in(page, admin_email, PASSWORD)
    page.goto(f"/admin/runs/{run_id}/enrolments")
    expect(page.locator("[data-offer-hint]")).to_be_visible()
    screenshot(page, "journey-offer-1-roster-free-seat")
    page.get_by_role("button", name=re.compile("Offer the seat")).click()
    expect(page.locator(".alert-success")).to_contain_text("Offered the seat to 欧阳晓燕")
    expect(page.locator("[data-offer-until]")).to_be_visible()
    screenshot(page, "journey-offer-2-roster-offered")
    context.close()

    folder = Path(live_server.app.config["MAIL_DIR"])
    mails = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in folder.glob("*.eml")]
    offer = next(m for m in mails if m["To"] == "ouyang@example.com" and "offered to you" in m["Subject"])
    link = re.search(r"https?://\S+/enrolments/\d+/offer", offer.get_body(("plain",)).get_content()).group(0)

    phone = _context(browser, live_server, PHONE)
    page = phone.new_page()
    log_in(page, "ouyang@example.com", PASSWORD)
    page.goto(urlsplit(link).path)
    expect(page.locator("[data-offer-expires]")).to_be_visible()
    screenshot(page, "journey-offer-3-phone-offer")
    page.get_by_role("button", name="Accept the place").click()
    expect(page.locator(".alert-success")).to_contain_text("The place is yours")
    screenshot(page, "journey-offer-4-phone-accepted")
    phone.close()
    db.session.rollback()
    assert db.session.get(Enrolment, first_id).status == "confirmed"
    db.session.rollback()
