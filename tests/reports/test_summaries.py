"""The summary tables give exactly the glossary's figures (the direct
computation at the same moment), for every scope; a change is recorded in its
own transaction and shows after the next refresh; as_of says when."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import api, login
from tests.reports.conftest import EXPECTED, enrol
from training.extensions import db
from training.figures import metrics, summaries
from training.figures.models import RunSummary, SummaryChange
from training.reports import services
from training.types import utcnow


def _figures(scope, source, now):
    """Every figure the dashboard shows that comes from the facts."""
    return {
        "summary": {k: v for k, v in metrics.summary(scope, now, source).as_dict().items() if k != "as_of"},
        "months": [
            (m.month, m.enrolments, m.certificates, m.planned, m.attended)
            for m in metrics.monthly(scope, source=source)
        ],
        "courses": [(c.id, vars(t)) for c, t in metrics.by_course(scope, source=source)],
        "distribution": metrics.attendance_distribution(scope, source=source),
        "trainers": [(f.trainer.id, f.runs, f.hours) for f in metrics.trainer_hours(scope, source=source)],
    }


def _scopes(dataset, company):
    admin, base = dataset.admin, dataset.args
    yield services.scope_for(admin, base)
    yield services.scope_for(admin, dict(base, course_id=dataset.course_a.id))
    yield services.scope_for(admin, dict(base, run_id=dataset.run1.id))
    yield services.scope_for(admin, dict(base, city="wuxi"))
    yield services.scope_for(admin, dict(base, company_id=company.id))
    yield services.scope_for(dataset.trainer1, base)
    # a period that starts and ends in the middle of months: the first and last months are partial
    first = dataset.run1.meetings[0].starts_at.date()
    yield services.scope_for(admin, {"from": first.isoformat(), "to": (first + timedelta(days=40)).isoformat()})
    yield services.scope_for(admin, {"from": "2001-01-01", "to": "2001-03-31"})


@pytest.fixture
def company(dataset, factory):
    company = factory.company()
    for key in (1, 3, 6):  # two trainees of run1, one of run2
        dataset.enrolments[key].company_id = company.id
    db.session.commit()
    return company


def test_the_summaries_give_the_direct_figures_for_every_scope(app, dataset, company):
    now = utcnow()
    result = summaries.refresh(now)
    assert result["full"] and result["runs"] >= 3
    for scope in _scopes(dataset, company):
        from_tables = summaries.facts(scope)
        assert from_tables.as_of == now
        assert _figures(scope, from_tables, now) == _figures(scope, metrics.facts(scope, now), now), scope


def test_the_api_page_and_xlsx_keep_the_worked_example_from_the_summaries(app, client, dataset):
    from tests.reports.test_api_pages_xlsx import _summary_sheet

    now = utcnow()
    summaries.refresh(now)
    body = api(client, dataset.admin).get("/api/v1/reports/summary", query_string=dataset.args).json
    for key, value in EXPECTED.items():
        assert body[key] == pytest.approx(value), key
    assert body["as_of"] == now.isoformat().replace("+00:00", "Z")
    monthly = api(client, dataset.admin).get("/api/v1/reports/monthly", query_string=dataset.args).json
    assert monthly["as_of"] == body["as_of"]
    assert sum(m["certificates"] for m in monthly["months"]) == EXPECTED["certificates_issued"]
    login(client, dataset.admin)
    html = client.get("/reports", query_string=dataset.args).get_data(as_text=True)
    assert 'data-figure="confirmed">6<' in html and 'data-figure="attendance_rate">70%<' in html
    assert 'id="as-of"' in html and now.strftime("%Y") in html
    sheet = _summary_sheet(client.get("/reports/export.xlsx", query_string=dataset.args).data)
    assert sheet["Confirmed"] == 6 and sheet["Attendance rate"] == pytest.approx(0.7)


def test_a_change_shows_after_the_next_refresh(app, client, dataset, factory):
    summaries.refresh()
    caller = api(client, dataset.admin)
    before = caller.get("/api/v1/reports/summary", query_string=dataset.args).json
    assert before["confirmed"] == 6
    enrol(dataset.run3, factory.trainee())  # a change, committed
    assert db.session.scalar(select(func.count()).select_from(SummaryChange)) >= 1
    stale = caller.get("/api/v1/reports/summary", query_string=dataset.args).json
    assert stale["confirmed"] == 6 and stale["as_of"] == before["as_of"]  # the figures as of the last refresh
    result = summaries.refresh()
    assert not result["full"] and result["runs"] == 1  # only the run that changed
    after = caller.get("/api/v1/reports/summary", query_string=dataset.args).json
    assert after["confirmed"] == 7 and after["as_of"] > before["as_of"]
    assert db.session.scalar(select(func.count()).select_from(SummaryChange)) == 0


def test_attendance_marked_in_bulk_and_certificates_are_recorded(app, dataset, factory):
    from training.attendance import services as attendance

    now = utcnow()
    run = factory.run(dataset.course_a, start=now - timedelta(days=3), trainers=[dataset.trainer1], hours=2)
    e = enrol(run, factory.trainee(), confirmed_at=now - timedelta(days=5))
    summaries.refresh(now)
    scope = services.scope_for(
        dataset.admin, {"from": run.starts_on.isoformat(), "to": run.starts_on.isoformat(), "run_id": run.id}
    )
    assert summaries.facts(scope).runs[run.id].attended == 0
    attendance.mark(dataset.trainer1, run.meetings[0].id, [{"enrolment_id": e.id, "status": "present"}])
    later = utcnow()
    summaries.refresh(later)
    assert summaries.facts(scope).runs[run.id].attended == 1
    from tests.reports.conftest import certificate

    certificate(e, code="SUMCERT1")
    summaries.refresh(utcnow())
    assert summaries.facts(scope).runs[run.id].certified == 1
    assert _figures(scope, summaries.facts(scope), later) == _figures(scope, metrics.facts(scope, utcnow()), later)


def test_a_rolled_back_change_records_nothing(app, dataset, factory):
    summaries.refresh()
    dataset.run3.capacity = 50
    db.session.flush()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(SummaryChange)) == 0


def test_time_passing_is_picked_up_without_a_change(app, dataset, factory):
    """A meeting that ends after a refresh counts after the next one, though nothing was written."""
    now = utcnow()
    run = factory.run(dataset.course_b, start=now + timedelta(hours=1), meetings=1, hours=2)
    enrol(run, factory.trainee(), confirmed_at=now - timedelta(days=1))
    summaries.refresh(now)
    scope = services.scope_for(dataset.admin, {"from": run.starts_on.isoformat(), "to": run.starts_on.isoformat()})
    assert summaries.facts(scope).runs[run.id].meetings_ended == 0
    later = now + timedelta(hours=4)
    result = summaries.refresh(later)
    assert not result["full"] and result["runs"] == 1
    facts = summaries.facts(scope)
    assert facts.runs[run.id].meetings_ended == 1 and facts.as_of == later
    assert metrics.summary(scope, later, facts).as_dict() == metrics.summary(scope, later).as_dict() | {
        "as_of": facts.as_of.isoformat().replace("+00:00", "Z")
    }


def test_a_full_rebuild_leaves_one_row_per_run_and_company(app, dataset, company):
    summaries.refresh(full=True)
    summaries.refresh(full=True)
    rows = db.session.execute(select(RunSummary.run_id, RunSummary.company_id)).all()
    assert len(rows) == len(set(rows))
    assert {r for r, c in rows if c == company.id} == {dataset.run1.id, dataset.run2.id}


def test_the_refresh_is_a_recurring_task(app):
    from training import scheduler

    assert "figures.refresh_summaries" in scheduler.tasks()
