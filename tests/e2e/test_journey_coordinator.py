"""A company coordinator's journey in a real browser, in English and in
Chinese: import the staff from a CSV file saved by Chinese Excel, enrol one
of them into the seats reserved for the company, and read the company report.
Screenshots (desktop and phone) go to test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.factories import PASSWORD
from training.accounts.models import User
from training.enrolment.models import Enrolment
from training.extensions import db

from .conftest import PHONE, TIMEOUT_MS, log_in, screenshot

pytestmark = pytest.mark.e2e
DESKTOP = {"width": 1280, "height": 900}
CSV = "邮箱,姓名\r\nsun.qiang@szpp.example.cn,孙强\r\nhe.li@szpp.example.cn,何丽\r\nlukas.brandt@szpp.example.cn,Lukas Brandt\r\n"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_coordinator_imports_staff_enrols_into_reserved_seats_and_reads_the_report(
    browser, live_server, factory, tmp_path, lang
):
    company = factory.company(code="SZPP", name="Suzhou Precision Parts Co., Ltd.", name_zh="苏州精密零部件有限公司")
    coordinator = factory.coordinator(
        company, name="周红" if lang == "zh" else "Zhou Hong", email=f"zhou.hong.{lang}@szpp.example.cn", locale=lang
    )
    course = factory.course(code="ROB-110", title="Industrial robot operation and programming")
    run = factory.run(course, capacity=4)
    factory.allocation(run, company, 2, overflow=False)
    for _ in range(2):
        factory.enrolment(run)  # the public filled the public seats
    company_id, run_id, email = company.id, run.id, coordinator.email
    db.session.commit()  # the browser's server needs the write lock (SQLite): no open transaction here
    csv_path = tmp_path / "staff.csv"
    csv_path.write_bytes(CSV.encode("gb18030"))

    for viewport, suffix in ((DESKTOP, "desktop"), (PHONE, "phone")):
        mobile = viewport["width"] < 600
        context = browser.new_context(
            viewport=viewport,
            base_url=live_server.url,
            is_mobile=mobile,
            has_touch=mobile,
            locale="zh-CN" if lang == "zh" else "en-GB",
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        log_in(page, email, PASSWORD)
        page.goto("/company")
        expect(page.locator("h1")).to_contain_text("苏州精密零部件有限公司" if lang == "zh" else "Suzhou Precision")
        page.goto(f"/companies/{company_id}/people")
        if suffix == "desktop":
            page.set_input_files("input[name=file]", str(csv_path))
            page.locator("form[action$='/people/import'] [type=submit]").click()
            page.wait_for_load_state()
            expect(page.locator(".alert-success")).to_contain_text("3")
        expect(page.locator("#people")).to_contain_text("孙强")
        screenshot(page, f"coordinator-{lang}-people-{suffix}")

        page.goto(f"/companies/{company_id}/enrolments")
        if suffix == "desktop":
            page.select_option("select[name=run_id]", str(run_id))
            page.fill("form[action$='/enrolments'] input[name=email]", "he.li@szpp.example.cn")
            page.locator("form[action$='/enrolments'] [type=submit]").click()
            page.wait_for_load_state()
            expect(page.locator(".alert-success")).to_contain_text("何丽")
        expect(page.locator("#enrolments")).to_contain_text("何丽")
        screenshot(page, f"coordinator-{lang}-enrolments-{suffix}")

        page.goto(f"/companies/{company_id}/report")
        expect(page.locator("#figures")).to_contain_text("出勤率" if lang == "zh" else "Attendance rate")
        expect(page.locator("svg.company-chart")).to_be_visible()
        screenshot(page, f"coordinator-{lang}-report-{suffix}")
        assert not errors, errors
        context.close()

    db.session.rollback()
    person = db.session.scalar(select(User).where(User.email == "he.li@szpp.example.cn"))
    enrolment = db.session.scalar(select(Enrolment).where(Enrolment.user_id == person.id))
    assert person.company_id == company_id and person.locale == "zh"
    assert enrolment.status == "confirmed" and enrolment.company_id == company_id
    db.session.rollback()
