"""Every glossary figure on the hand-built data set (tests/reports/conftest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.reports.conftest import EXPECTED
from training.figures import metrics
from training.reports import services


def _close(got: dict, expected: dict) -> None:
    for key, value in expected.items():
        assert got[key] == pytest.approx(value), key


def test_summary_matches_the_worked_example(app, dataset):
    got = services.summary(dataset.admin, dataset.args).as_dict()
    _close(got, EXPECTED)
    assert got["as_of"].endswith("Z")


def test_rates_are_null_when_undefined(app, dataset):
    far = {"from": "2001-01-01", "to": "2001-12-31"}
    got = services.summary(dataset.admin, far).as_dict()
    assert got["runs"] == 0 and got["confirmed"] == 0
    assert got["attendance_rate"] is None and got["fill_rate"] is None
    assert got["no_show_rate"] is None and got["completion_rate"] is None


def test_filters_narrow_the_figures(app, dataset):
    only_b = services.summary(dataset.admin, dict(dataset.args, course_id=str(dataset.course_b.id))).as_dict()
    # run2 alone: 4 attended of 4 planned, nobody missing, e6 certified, e7 revoked
    _close(
        only_b,
        {
            "runs": 1,
            "capacity": 2,
            "confirmed": 2,
            "attendance_rate": 1.0,
            "no_show_rate": 0.0,
            "fill_rate": 1.0,
            "completion_rate": 0.5,
            "certificates_issued": 2,
        },
    )
    run1 = services.summary(dataset.admin, dict(dataset.args, run_id=str(dataset.run1.id))).as_dict()
    _close(
        run1,
        {
            "runs": 1,
            "capacity": 4,
            "confirmed": 3,
            "attendance_rate": 0.5,
            "no_show_rate": 1 / 3,
            "fill_rate": 1.0,
            "completion_rate": 1 / 3,
            "certificates_issued": 1,
        },
    )
    wuxi = services.summary(dataset.admin, dict(dataset.args, city="wuxi")).as_dict()
    assert wuxi["runs"] == 1 and wuxi["capacity"] == 2


def test_a_trainer_sees_only_their_runs(app, dataset):
    got = services.summary(dataset.trainer2, dataset.args).as_dict()
    assert got["runs"] == 1 and got["capacity"] == 2 and got["certificates_issued"] == 2


def test_expiring_and_monthly(app, dataset):
    scope = services.scope_for(dataset.admin, dataset.args)
    assert metrics.expiring_count(scope) == 1
    ahead = metrics.expiring_by_month(scope)
    assert sum(n for _m, n in ahead) == 2  # e6 in 30 days, e1's current one in 200 days
    months = metrics.monthly(scope)
    assert sum(m.certificates for m in months) == 3
    # confirmed in the period: e1-e4, e6, e7 three days before run1, e8 yesterday
    assert sum(m.enrolments for m in months) == 7
    planned = sum(m.planned for m in months)
    attended = sum(m.attended for m in months)
    assert (attended, planned) == (7, 10)


def test_attendance_distribution(app, dataset):
    scope = services.scope_for(dataset.admin, dataset.args)
    counts = metrics.attendance_distribution(scope)
    # e3 0%, e2 50%, e1, e6, e7 100%
    assert counts[0] == 1 and counts[5] == 1 and counts[9] == 3 and sum(counts) == 5


def test_trainer_hours(app, dataset):
    scope = services.scope_for(dataset.admin, dataset.args)
    hours = {f.trainer.id: f.hours for f in metrics.trainer_hours(scope)}
    assert hours[dataset.trainer1.id] == pytest.approx(6.0)  # run1: 2 meetings of 3 h; run3 not held
    assert hours[dataset.trainer2.id] == pytest.approx(4.0)


def test_the_figures_take_a_fixed_number_of_queries(app, dataset, factory):
    from tests.toolkit import count_queries

    with count_queries() as before:
        services.dashboard(dataset.admin, dataset.args)
    for _ in range(5):  # more runs and enrolments: the same number of queries
        run = factory.run(dataset.course_a, start=dataset.run1.meetings[0].starts_at + timedelta(days=1))
        factory.enrolment(run)
    with count_queries() as after:
        services.dashboard(dataset.admin, dataset.args)
    assert after.count == before.count


def test_cancelled_meetings_and_open_registers(app, dataset):
    from training.extensions import db
    from training.types import utcnow

    m2 = dataset.run1.meetings[1]
    m2.cancelled_at, m2.cancel_reason = utcnow(), "Power cut"
    dataset.run2.meetings[1].finalised_at = None
    db.session.commit()
    got = services.summary(dataset.admin, dataset.args).as_dict()
    # run1 now has one meeting: e1 present, e2 late, e3 absent -> 2 of 3; run2 still 4 of 4
    assert got["attendance_rate"] == pytest.approx(6 / 7)
    # run2's register is open again: only run1 counts for no-shows and completion
    assert got["no_show_rate"] == pytest.approx(1 / 3)
    assert got["completion_rate"] == pytest.approx(1 / 3)
