"""The company report: figures that reconcile with the platform's for the
same period, the page, the XLSX export, the API and the monthly e-mail."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.conftest import api, login
from training.attendance.models import Attendance
from training.catalogue.models import SeatAllocation
from training.certificates.models import Certificate
from training.companies import reports
from training.extensions import db

COUNTS = (
    "seats_reserved",
    "seats_used",
    "seats_released",
    "enrolments",
    "attended_marks",
    "marks",
    "no_shows",
    "completed",
    "ended",
    "certificates_valid",
    "certificates_expiring",
    "certificates_expired",
)


def _certificate(enrolment, code, expires_on=None):
    run = enrolment.run
    cert = Certificate(
        code=code,
        enrolment_id=enrolment.id,
        current_for_enrolment_id=enrolment.id,
        holder_name=enrolment.user.display_name,
        course_code=run.course.code,
        course_title=run.course.title,
        hours=8,
        run_starts_on=run.starts_on,
        run_ends_on=run.ends_on,
        completed_on=run.ends_on,
        issuer_name="SMT Academy",
        expires_on=expires_on,
    )
    db.session.add(cert)
    db.session.commit()
    return cert


@pytest.fixture
def world(factory):
    a, b = factory.company(code="A"), factory.company(code="B")
    coordinator = factory.coordinator(a, locale="zh")
    past = factory.past_run(capacity=10)
    future = factory.run(capacity=10)
    db.session.add(
        SeatAllocation(run_id=past.id, company_id=a.id, seats=3, released_seats=1, released_at=datetime.now(UTC))
    )
    db.session.commit()
    people_a = [factory.member(a) for _ in range(3)]
    people_b = [factory.member(b) for _ in range(2)]
    loner = factory.trainee()
    enrolments = {}
    for person in people_a[:2] + people_b + [loner]:
        e = factory.company_enrolment(past, person)
        enrolments[person.id] = e
        for i, meeting in enumerate(past.meetings):
            status = "absent" if person is people_a[1] else ("late" if i else "present")
            db.session.add(Attendance(enrolment_id=e.id, meeting_id=meeting.id, status=status))
    factory.company_enrolment(future, people_a[2])
    factory.company_enrolment(future, people_b[0], status="waitlisted")
    db.session.commit()
    today = date.today()
    _certificate(enrolments[people_a[0].id], "CERT-A1", expires_on=today + timedelta(days=30))
    _certificate(enrolments[people_b[0].id], "CERT-B1")
    _certificate(enrolments[loner.id], "CERT-L1", expires_on=today - timedelta(days=1))
    return a, b, coordinator, past, future


def test_company_figures_add_up_to_the_platform_figures(world):
    a, b, _coordinator, past, future = world
    first, last = past.starts_on - timedelta(days=1), future.ends_on
    platform = reports.figures(first, last)
    fa, fb = reports.figures(first, last, a.id), reports.figures(first, last, b.id)
    nobody = reports.figures(first, last, None)
    assert fa.enrolments == 3 and fa.seats_reserved == 3 and fa.seats_used == 2 and fa.seats_released == 1
    assert fa.no_shows == 1 and fa.marks == 4 and fa.attended_marks == 2 and fa.attendance_rate == 50.0
    assert fa.completed == 1 and fa.ended == 2 and fa.completion_rate == 50.0
    assert (fa.certificates_valid, fa.certificates_expiring, fa.certificates_expired) == (1, 1, 0)
    assert (fb.certificates_valid, fb.certificates_expired) == (1, 0)
    assert nobody.certificates_expired == 1  # the loner's, in the platform's figures only
    loner_only = {k: getattr(platform, k) - getattr(fa, k) - getattr(fb, k) for k in COUNTS}
    assert loner_only == {
        "seats_reserved": 0,
        "seats_used": 0,
        "seats_released": 0,
        "enrolments": 1,
        "attended_marks": 2,
        "marks": 2,
        "no_shows": 0,
        "completed": 1,
        "ended": 1,
        "certificates_valid": 0,
        "certificates_expiring": 0,
        "certificates_expired": 1,
    }
    assert platform.by_status["waitlisted"] == fb.by_status["waitlisted"] == 1


def test_the_report_api_answers_the_figures_and_hides_other_companies(client, world):
    a, b, coordinator, past, future = world
    caller = api(client, coordinator)
    query = f"from={past.starts_on - timedelta(days=1)}&to={future.ends_on}"
    body = caller.get(f"/api/v1/companies/{a.id}/report?{query}").json
    assert body["enrolments"] == 3 and body["attendance_rate"] == 50.0 and body["company_id"] == a.id
    assert caller.get(f"/api/v1/companies/{b.id}/report?{query}").status_code == 404
    for bad in ("from=2026-13-01", "from=2026-02-01&to=2026-01-01", "to=yesterday", "from=1900-01-01"):
        r = caller.get(f"/api/v1/companies/{a.id}/report?{bad}")
        assert r.status_code == 422, bad


def test_the_report_page_has_a_chart_and_an_xlsx_export(client, world):
    from openpyxl import load_workbook

    a, _b, coordinator, past, future = world
    login(client, coordinator)
    query = f"from={past.starts_on - timedelta(days=1)}&to={future.ends_on}"
    page = client.get(f"/companies/{a.id}/report?{query}")
    assert page.status_code == 200 and b"<svg" in page.data and "出勤率".encode() in page.data
    xlsx = client.get(f"/companies/{a.id}/report.xlsx?{query}")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][1] == f"{a.code} {a.name}" and rows[6][1] == 3
    # the glossary's rates, as fractions shown as percentages; dates as dates; bilingual labels
    assert rows[7][0].startswith("Attendance rate / ") and rows[7][1] == 0.5
    assert rows[10][0].startswith("Completion rate / ") and rows[10][1] == 0.5
    assert sheet.cell(8, 2).number_format == "0.0%" and sheet.cell(2, 2).is_date


def test_the_monthly_email_goes_once_in_the_coordinators_language_and_not_when_empty(factory, world, mailbox):
    a, b, coordinator, past, _future = world
    b_coordinator = factory.coordinator(b)
    empty = factory.company(code="EMPTY")
    factory.coordinator(empty)
    month_after = past.starts_on.replace(day=28) + timedelta(days=10)
    now = datetime(month_after.year, month_after.month, 2, 3, tzinfo=UTC)
    sent = reports.send_monthly_reports(now)
    assert reports.send_monthly_reports(now) == 0
    to = sorted(m["To"] for m in mailbox() if "report" in m["Subject"].lower() or "报告" in m["Subject"])
    assert sent == len(to)
    assert coordinator.email in to and b_coordinator.email in to and len(to) == 2
    zh = [m for m in mailbox() if m["To"] == coordinator.email][0]
    assert "培训报告" in zh["Subject"]


def test_coverage_counts_only_the_companys_people_on_its_positions(client, factory):
    from training.qualifications.models import Grant, Position, PositionPerson, PositionRequirement, Skill

    a, b = factory.company(code="CA"), factory.company(code="CB")
    coordinator = factory.coordinator(a)
    welder_a, welder_b, idle_a = factory.member(a), factory.member(b), factory.member(a)
    skill = Skill(code="WELD", name="Welding", name_zh="焊接")
    db.session.add(skill)
    db.session.flush()
    station = Position(code="ST-1", name="Welding station", name_zh="焊接工位", site="Suzhou", department="Body")
    station.requirements.append(PositionRequirement(skill_id=skill.id, level=1, min_people=2))
    db.session.add(station)
    db.session.flush()
    for person in (welder_a, welder_b, idle_a):
        db.session.add(PositionPerson(position_id=station.id, user_id=person.id))
    for person in (welder_a, welder_b):
        db.session.add(
            Grant(
                user_id=person.id,
                skill_id=skill.id,
                level=1,
                source="manual",
                valid_from=date.today() - timedelta(days=10),
            )
        )
    db.session.commit()
    report = api(client, coordinator).get(f"/api/v1/companies/{a.id}/report").json
    # Two people of company A work there, one qualified: B's qualified welder does not cover A's gap.
    assert report["position_requirements"] == 1 and report["requirements_covered"] == 0
    assert report["coverage_rate"] == 0.0
    login(client, coordinator)
    page = client.get(f"/companies/{a.id}/qualifications")
    assert page.status_code == 200 and b"ST-1" in page.data and welder_b.display_name.encode() not in page.data
    assert client.get(f"/companies/{b.id}/qualifications").status_code == 404


@pytest.mark.parametrize("with_summaries", [False, True])
def test_the_company_report_gives_the_dashboards_numbers(client, world, factory, with_summaries):
    """One glossary: the company page, its XLSX and API give the reports API's figures for that company."""
    from training.figures import summaries

    a, _b, coordinator, past, future = world
    if with_summaries:
        summaries.refresh()
    query = {"from": (past.starts_on - timedelta(days=1)).isoformat(), "to": future.ends_on.isoformat()}
    glossary = (
        api(client, factory.admin()).get("/api/v1/reports/summary", query_string=dict(query, company_id=a.id)).json
    )
    company = api(client, coordinator).get(f"/api/v1/companies/{a.id}/report", query_string=query).json
    assert company["enrolments"] == glossary["confirmed"] == 3
    assert company["attendance_rate"] == round(100 * glossary["attendance_rate"], 1)
    assert company["completion_rate"] == round(100 * glossary["completion_rate"], 1)
    assert company["no_show_rate"] == round(100 * glossary["no_show_rate"], 1)
    assert company["as_of"] == glossary["as_of"] or not with_summaries
    login(client, coordinator)
    html = client.get(f"/companies/{a.id}/report", query_string=query).get_data(as_text=True)
    assert f"{company['attendance_rate']:.1f} %" in html and 'id="as-of"' in html
