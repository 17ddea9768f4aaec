"""The same figures through the API, the dashboard page and the XLSX; refusals."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook

from tests.conftest import api, login
from tests.reports.conftest import EXPECTED


def _summary_sheet(content: bytes) -> dict:
    wb = load_workbook(io.BytesIO(content))
    sheet = wb[wb.sheetnames[0]]
    return {row[0].split(" / ")[0]: row[1] for row in sheet.iter_rows(min_row=2, values_only=True)}


def test_api_summary(app, client, dataset):
    response = api(client, dataset.admin).get("/api/v1/reports/summary", query_string=dataset.args)
    assert response.status_code == 200, response.json
    body = response.json
    assert set(body) == {
        "runs",
        "capacity",
        "confirmed",
        "attendance_rate",
        "no_show_rate",
        "fill_rate",
        "completion_rate",
        "certificates_issued",
        "as_of",
    }
    for key, value in EXPECTED.items():
        assert body[key] == pytest.approx(value), key


def test_api_monthly(app, client, dataset):
    response = api(client, dataset.admin).get("/api/v1/reports/monthly", query_string=dataset.args)
    assert response.status_code == 200
    months = response.json["months"]
    assert [m["month"] for m in months] == sorted(m["month"] for m in months)
    assert all(re.fullmatch(r"\d{4}-\d{2}", m["month"]) for m in months)
    assert sum(m["certificates"] for m in months) == EXPECTED["certificates_issued"]
    assert all(m["attendance_rate"] is None or 0 <= m["attendance_rate"] <= 1 for m in months)


def test_page_shows_the_same_figures(app, client, dataset):
    login(client, dataset.admin)
    page = client.get("/reports", query_string=dataset.args)
    assert page.status_code == 200
    html = page.get_data(as_text=True)

    def figure(key):
        return re.search(rf'data-figure="{key}">([^<]*)<', html).group(1).strip()

    assert figure("runs") == "3" and figure("confirmed") == "6" and figure("certificates_issued") == "3"
    assert figure("attendance_rate") == "70%" and figure("no_show_rate") == "20%"
    assert figure("fill_rate") == f"{round(700 / 11)}%" and figure("completion_rate") == "40%"
    assert html.count('role="img"') == 5 and html.count("<title id=") == 5 and html.count("<desc id=") == 5
    assert "<script>" not in html and "cdn" not in html.lower()


def test_xlsx_has_the_same_totals(app, client, dataset):
    login(client, dataset.admin)
    response = client.get("/reports/export.xlsx", query_string=dataset.args)
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    values = _summary_sheet(response.data)
    for key, label in (
        ("runs", "Runs"),
        ("capacity", "Capacity"),
        ("confirmed", "Confirmed"),
        ("attendance_rate", "Attendance rate"),
        ("no_show_rate", "No-show rate"),
        ("fill_rate", "Fill rate"),
        ("completion_rate", "Completion rate"),
        ("certificates_issued", "Certificates issued"),
    ):
        assert values[label] == pytest.approx(EXPECTED[key]), label
    wb = load_workbook(io.BytesIO(response.data))
    summary = wb[wb.sheetnames[0]]
    assert summary.cell(7, 2).number_format == "0.0%"  # rates are numbers shown as percentages
    assert summary.cell(2, 2).is_date  # dates are dates
    assert " / " in summary.cell(1, 1).value  # bilingual headers


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-13-01"},
        {"from": "yesterday"},
        {"to": "2026-02-30"},
        {"from": "2026-05-01", "to": "2026-04-01"},
        {"from": "1900-01-01", "to": "2026-01-01"},
        {"from": "2010-01-01", "to": "2026-01-01"},
        {"to": "٢٠٢٦-٠١-٠١"},
        {"from": "2026-01-01T00:00"},
        {"from": "x" * 5000},
    ],
)
def test_bad_dates_are_a_400(app, client, dataset, query):
    for path in ("/api/v1/reports/summary", "/api/v1/reports/monthly"):
        response = api(client, dataset.admin).get(path, query_string=query)
        assert response.status_code == 400, (path, query, response.status_code)
        assert response.json["error"]["code"] == "bad_request" and response.json["error"]["fields"]
    login(client, dataset.admin)
    assert client.get("/reports/export.xlsx", query_string=query).status_code == 400
    assert client.get("/reports", query_string=query).status_code == 400


@pytest.mark.parametrize(
    "query",
    [
        {"course_id": "abc"},
        {"course_id": "-1"},
        {"run_id": "1.5"},
        {"trainer_id": "99999999999"},
        {"course_id": "424242"},
        {"run_id": "٣"},
        {"company_id": "0"},
        {"category_id": "424242"},
    ],
)
def test_bad_and_unknown_ids_are_a_422(app, client, dataset, query):
    for path in ("/api/v1/reports/summary", "/api/v1/reports/monthly"):
        response = api(client, dataset.admin).get(path, query_string=query)
        assert response.status_code == 422, (path, query, response.status_code)
        assert response.json["error"]["code"]
    login(client, dataset.admin)
    assert client.get("/reports/export.xlsx", query_string=query).status_code == 422


def test_refusals_outside_ones_scope(app, client, dataset):
    assert api(client).get("/api/v1/reports/summary").status_code == 401
    assert api(client, dataset.trainee).get("/api/v1/reports/summary").status_code == 403
    trainer = api(client, dataset.trainer2)
    assert trainer.get("/api/v1/reports/summary", query_string={"trainer_id": dataset.trainer1.id}).status_code == 403
    assert trainer.get("/api/v1/reports/summary", query_string={"run_id": dataset.run1.id}).status_code == 403
    assert trainer.get("/api/v1/reports/summary", query_string={"run_id": dataset.run2.id}).status_code == 200
    login(client, dataset.trainee)
    assert client.get("/reports").status_code == 403
    assert client.get("/reports/export.xlsx").status_code == 403
    login(client, dataset.trainer2)
    assert client.get("/reports/export.xlsx", query_string={"run_id": dataset.run1.id}).status_code == 403


def test_anonymous_pages_ask_to_log_in(app, client):
    for path in ("/reports", "/reports/export.xlsx"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.location


def test_coordinators_see_their_company_only(app, client, dataset, factory):
    from training.extensions import db

    company, other = factory.company(), factory.company()
    # e1 (present twice, certified) and e3 (absent twice) of run1 were booked for the company
    for key in (1, 3):
        dataset.enrolments[key].company_id = company.id
    db.session.commit()
    coordinator, other_coordinator = factory.coordinator(company), factory.coordinator(other)
    body = api(client, coordinator).get("/api/v1/reports/summary", query_string=dataset.args).json
    # run1 only; its capacity stays the run's (4): fill is the company's share
    assert body["runs"] == 1 and body["capacity"] == 4 and body["confirmed"] == 2
    assert body["attendance_rate"] == pytest.approx(0.5) and body["no_show_rate"] == pytest.approx(0.5)
    assert body["fill_rate"] == pytest.approx(0.5) and body["completion_rate"] == pytest.approx(0.5)
    assert body["certificates_issued"] == 1
    same = api(client, coordinator).get(
        "/api/v1/reports/summary", query_string=dict(dataset.args, company_id=company.id)
    )
    assert same.status_code == 200 and same.json["confirmed"] == 2
    refused = api(client, coordinator).get(
        "/api/v1/reports/summary", query_string=dict(dataset.args, company_id=other.id)
    )
    assert refused.status_code == 403
    assert api(client, other_coordinator).get("/api/v1/reports/summary", query_string=dataset.args).json["runs"] == 0
    login(client, coordinator)
    page = client.get("/reports", query_string=dataset.args).get_data(as_text=True)
    assert 'data-figure="confirmed">2<' in page and "Your company only." in page
    assert client.get("/reports/export.xlsx", query_string=dict(dataset.args, company_id=other.id)).status_code == 403


def test_every_role_outside_its_scope_is_refused_and_nothing_is_a_500(app, client, dataset, factory):
    """Each role x each report endpoint x a request outside its scope: a 4xx that says so."""
    from training.extensions import db

    company, other = factory.company(), factory.company()
    dataset.enrolments[1].company_id = company.id
    db.session.commit()
    people = {
        "trainee": (dataset.trainee, [{}]),
        "assessor": (factory.user("assessor"), [{}]),
        "coordinator without a company": (factory.user("coordinator"), [{}]),
        "trainer": (dataset.trainer2, [{"trainer_id": dataset.trainer1.id}, {"run_id": dataset.run1.id}]),
        "coordinator": (factory.coordinator(company), [{"company_id": other.id}, {"run_id": dataset.run2.id}]),
    }
    for role, (person, queries) in people.items():
        for query in queries:
            query = dict(dataset.args, **query)
            for path in ("/api/v1/reports/summary", "/api/v1/reports/monthly"):
                response = api(client, person).get(path, query_string=query)
                assert response.status_code == 403, (role, path, query, response.status_code)
                assert response.json["error"]["code"] == "forbidden"
            login(client, person)
            for path in ("/reports", "/reports/export.xlsx"):
                response = client.get(path, query_string=query)
                assert response.status_code == 403, (role, path, query, response.status_code)
            for path in ("/reports/questions", "/reports/subscriptions"):
                assert client.get(path).status_code == 403, (role, path)
                assert (
                    client.post(
                        path,
                        data={
                            "email": person.email,
                            "frequency": "weekly",
                            "text_en": "Q",
                            "text_zh": "问",
                            "kind": "rating",
                        },
                    ).status_code
                    == 403
                )
    for path in ("/api/v1/reports/summary", "/api/v1/reports/monthly"):
        assert api(client).get(path).status_code == 401


def test_the_filters_live_in_the_url(app, client, dataset, factory):
    """Every filter comes from the query string; the XLSX link carries the same ones."""
    from html import unescape

    from training.catalogue.models import Category
    from training.extensions import db

    category = Category(slug="rpt-cat", name="Reporting", name_zh="报表")
    db.session.add(category)
    db.session.flush()
    dataset.course_b.category_id = category.id
    db.session.commit()
    login(client, dataset.admin)
    for extra, runs in (
        ({"course_id": dataset.course_b.id}, 1),
        ({"category_id": category.id}, 1),
        ({"city": "Wuxi"}, 1),
        ({"trainer_id": dataset.trainer1.id}, 2),
        ({}, 3),
    ):
        query = dict(dataset.args, **extra)
        html = client.get("/reports", query_string=query).get_data(as_text=True)
        assert re.search(r'data-figure="runs">(\d+)<', html).group(1) == str(runs), extra
        link = unescape(re.search(r'href="(/reports/export\.xlsx[^"]*)"', html).group(1))
        for key, value in query.items():
            assert f"{key}={value}" in link, (key, link)
        assert _summary_sheet(client.get(link).data)["Runs"] == runs
