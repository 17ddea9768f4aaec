"""The reports dashboard in a real browser: an admin filters by course, the
figures and charts follow the URL, the XLSX downloads with the same totals;
a trainer sees only their runs; a trainee answers the feedback survey from
"My training". Screenshots (desktop and phone) go to test-artifacts/."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.factories import PASSWORD
from tests.reports.conftest import EXPECTED, dataset  # noqa: F401 - the hand-built data set fixture
from training.extensions import db
from training.reports import feedback

from .conftest import PHONE, log_in, screenshot

pytestmark = pytest.mark.e2e
DESKTOP = {"width": 1280, "height": 900}


def _context(browser, live_server, viewport):
    mobile = viewport["width"] < 600
    context = browser.new_context(
        viewport=viewport,
        base_url=live_server.url,
        locale="en-GB",
        is_mobile=mobile,
        has_touch=mobile,
        accept_downloads=True,
    )
    context.set_default_timeout(90_000)  # a loaded machine: generous, never a race
    return context


def _query(args: dict) -> str:
    return "&".join(f"{k}={v}" for k, v in args.items())


def test_admin_dashboard_filters_charts_and_xlsx(browser, live_server, dataset):
    email, course_b, args = dataset.admin.email, dataset.course_b.id, dataset.args
    db.session.commit()  # SQLite: no transaction of the test may hold the lock while the browser acts
    context = _context(browser, live_server, DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, email, PASSWORD)
    page.goto(f"/reports?{_query(args)}")
    expect(page.locator('[data-figure="runs"]')).to_have_text(str(EXPECTED["runs"]))
    expect(page.locator('[data-figure="attendance_rate"]')).to_have_text("70%")
    expect(page.locator('svg[role="img"]')).to_have_count(5)
    page.locator("#chart-courses details summary").click()
    expect(page.locator("#chart-courses table")).to_be_visible()
    screenshot(page, "reports-admin-desktop")
    page.select_option("#f-course", str(course_b))
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    assert f"course_id={course_b}" in page.url
    expect(page.locator('[data-figure="runs"]')).to_have_text("1")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download XLSX").click()
    data = open(download_info.value.path(), "rb").read()
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    values = {row[0].split(" / ")[0]: row[1] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert values["Runs"] == 1 and values["Capacity"] == 2
    page.emulate_media(media="print")
    screenshot(page, "reports-admin-print")
    assert not errors, errors
    context.close()


def test_trainer_on_a_phone_sees_only_their_runs(browser, live_server, dataset):
    email, args = dataset.trainer2.email, dataset.args
    db.session.commit()
    context = _context(browser, live_server, PHONE)
    page = context.new_page()
    log_in(page, email, PASSWORD)
    page.goto(f"/reports?{_query(args)}")
    expect(page.locator('[data-figure="runs"]')).to_have_text("1")
    expect(page.locator("#f-trainer")).to_have_count(0)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, width  # nothing wider than the phone
    screenshot(page, "reports-trainer-phone")
    context.close()


def test_trainee_answers_the_survey_from_my_training(browser, live_server, factory):
    trainer = factory.trainer()
    run = factory.past_run(trainers=[trainer])
    enrolment = factory.enrolment(run)
    feedback.send_due_surveys()
    email = enrolment.user.email
    db.session.commit()
    context = _context(browser, live_server, PHONE)
    page = context.new_page()
    log_in(page, email, PASSWORD)
    page.goto("/my/training")
    page.get_by_role("link", name="Give feedback").click()
    page.wait_for_load_state()
    page.locator("label[for$='-9']").first.click()
    page.locator("textarea").fill("Great practical session.")
    screenshot(page, "reports-survey-phone")
    page.get_by_role("button", name="Send my feedback").click()
    page.wait_for_load_state()
    expect(page.locator(".alert-success")).to_contain_text("Thank you")
    expect(page.get_by_role("link", name="Give feedback")).to_have_count(0)
    context.close()


@pytest.mark.parametrize("viewport,suffix", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_dashboard_from_the_summaries_shows_when_its_figures_were_taken(
    browser, live_server, dataset, factory, viewport, suffix
):
    """After a refresh the figures come from the summary tables: the same numbers, with their "as of"
    time; a coordinator reads their company's part; every chart's data opens; nothing is wider than a phone."""
    from training.figures import summaries

    company = factory.company()
    for key in (1, 3):
        dataset.enrolments[key].company_id = company.id
    coordinator = factory.coordinator(company)
    summaries.refresh()
    admin_email, coordinator_email, args = dataset.admin.email, coordinator.email, dataset.args
    db.session.commit()
    people = ((admin_email, "admin", "3", "6"), (coordinator_email, "coordinator", "1", "2"))
    for email, name, runs, confirmed in people:
        context = _context(browser, live_server, viewport)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))  # noqa: B023 - one page per context
        log_in(page, email, PASSWORD)
        page.goto(f"/reports?{_query(args)}")
        expect(page.locator('[data-figure="runs"]')).to_have_text(runs)
        expect(page.locator('[data-figure="confirmed"]')).to_have_text(confirmed)
        expect(page.locator("#as-of")).to_contain_text("Figures as of")
        for summary in page.locator("details.report-data summary").all():
            summary.click()
        expect(page.locator("details.report-data table").first).to_be_visible()
        if viewport["width"] < 600:
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"] + 1, width
        screenshot(page, f"reports-summaries-{name}-{suffix}")
        page.goto(f"/reports?{_query(args)}&lang=zh")
        expect(page.locator("#as-of")).to_contain_text("数据截至")
        screenshot(page, f"reports-summaries-{name}-zh-{suffix}")
        assert not errors, errors
        context.close()
