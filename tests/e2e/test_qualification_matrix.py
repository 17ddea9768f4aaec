"""Browser journey (issue 14): an admin reads the living demo matrix on a desktop and on a
tablet, filters it by site through the URL, and a trainee with a gap enrols in the next open
run that closes it with one click. Screenshots under test-artifacts/qualifications-*.png."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.factories import PASSWORD
from training.enrolment.models import Enrolment
from training.extensions import db

from .conftest import TIMEOUT_MS, log_in, screenshot

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1440, "height": 900}
TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def demo_plant(app, factory):
    from training.demo import DEMO_PASSWORD, load_demo
    from training.qualifications.models import Position, PositionPerson

    load_demo()
    newcomer = factory.trainee(name="新员工 刘芳", email="liu.fang@example.com", locale="zh")
    station = db.session.scalar(select(Position).where(Position.code == "SZ-L1-ST10"))
    db.session.add(PositionPerson(position_id=station.id, user_id=newcomer.id))
    db.session.commit()
    facts = (DEMO_PASSWORD, newcomer.email, newcomer.id, station.id, len(station.requirements))
    db.session.rollback()  # end the test's transaction: on SQLite it would hold the write lock
    return facts


def _page(browser, live_server, viewport):
    context = browser.new_context(
        viewport=viewport, base_url=live_server.url, locale="en-GB", has_touch=viewport is not DESKTOP
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


@pytest.mark.parametrize("viewport,name", [(DESKTOP, "desktop"), (TABLET, "tablet"), (PHONE, "phone")])
def test_admin_reads_the_matrix(browser, live_server, demo_plant, viewport, name):
    password, _email, _newcomer_id, station_id, _n = demo_plant
    context, page = _page(browser, live_server, viewport)
    try:
        log_in(page, "admin@demo.smt-academy.cn", password)
        page.get_by_role("link", name="Skills matrix").first.click() if viewport is DESKTOP else page.goto(
            "/qualifications/matrix"
        )
        page.select_option("#site", label="Suzhou plant 苏州工厂")
        page.get_by_role("button", name="Show").click()
        page.wait_for_load_state()
        assert "site=Suzhou" in page.url
        matrix = page.get_by_test_id("matrix")
        assert matrix.locator("td[data-state=valid]").count() > 10
        assert matrix.locator("td[data-state=expiring]").count() >= 1
        # every coloured cell also carries its glyph
        for state, glyph in (("valid", "●"), ("expiring", "◐"), ("expired", "○")):
            cells = matrix.locator(f"td[data-state={state}]")
            if cells.count():
                assert glyph in cells.first.inner_text()
        # the header stays in view when the table scrolls (sticky), usable with a finger on a tablet
        wrap = page.locator(".qm-wrap")
        wrap.evaluate("el => el.scrollTop = 400")
        top = matrix.locator("thead th").first.bounding_box()["y"]
        assert abs(top - wrap.bounding_box()["y"]) < 3
        wrap.evaluate("el => el.scrollTop = 0")
        screenshot(page, f"qualifications-matrix-{name}")
        page.goto(f"/qualifications/qualified?position={station_id}")
        assert page.get_by_test_id("coverage").is_visible()
        screenshot(page, f"qualifications-who-{name}")
    finally:
        context.close()


@pytest.mark.parametrize("viewport,name", [(DESKTOP, "desktop"), (TABLET, "tablet"), (PHONE, "phone")])
def test_trainee_closes_a_gap_with_one_click(browser, live_server, demo_plant, viewport, name):
    _password, email, newcomer_id, _station_id, requirements = demo_plant
    context, page = _page(browser, live_server, viewport)
    try:
        log_in(page, email, PASSWORD)
        page.goto("/qualifications/mine")
        gaps = page.get_by_test_id("gaps")
        assert gaps.locator("li").count() == requirements
        screenshot(page, f"qualifications-gaps-{name}")
        button = gaps.get_by_test_id("enrol-gap").first
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]  # reachable without side-scrolling
        button.click()
        page.wait_for_load_state()
        assert page.locator(".alert-success").count() == 1
        screenshot(page, f"qualifications-enrolled-{name}")
        db.session.rollback()
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.user_id == newcomer_id))
        assert enrolment is not None and enrolment.source == "self" and enrolment.status in ("confirmed", "waitlisted")
        db.session.rollback()
    finally:
        context.close()
