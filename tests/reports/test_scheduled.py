"""Scheduled reports: delivered once per period with the XLSX, never when empty."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from training.extensions import db
from training.reports import scheduled
from training.reports.models import ReportDelivery


def test_last_period():
    assert scheduled.last_period("weekly", date(2026, 11, 30)) == ("2026-W48", date(2026, 11, 23), date(2026, 11, 29))
    assert scheduled.last_period("monthly", date(2026, 1, 5)) == ("2025-12", date(2025, 12, 1), date(2025, 12, 31))


def test_each_delivery_happens_once_with_the_xlsx(app, dataset, mailbox):
    scheduled.subscribe(dataset.admin, dataset.admin.email, "monthly")
    scheduled.subscribe(dataset.admin, dataset.trainer2.email, "weekly")
    # A moment in the month after the data set's runs and certificates: last month holds them.
    now = datetime.combine(
        dataset.run3.starts_on.replace(day=1) + timedelta(days=40), datetime.min.time(), UTC
    ).replace(day=2)
    first = scheduled.send_scheduled(now)
    second = scheduled.send_scheduled(now)
    assert second == {"sent": 0, "skipped": 0}
    assert db.session.scalar(select(func.count()).select_from(ReportDelivery)) == 2
    sent = [m for m in mailbox() if "report" in m["Subject"].lower()]
    assert first == {"sent": 1, "skipped": 1} and len(sent) == 1
    for message in sent:
        names = [part.get_filename() for part in message.iter_attachments()]
        assert names and names[0].endswith(".xlsx")


def test_an_empty_report_is_not_sent(app, factory, mailbox):
    admin = factory.admin()
    scheduled.subscribe(admin, admin.email, "weekly")
    result = scheduled.send_scheduled()
    assert result == {"sent": 0, "skipped": 1}
    assert not [m for m in mailbox() if "report" in m["Subject"].lower()]
    assert scheduled.send_scheduled() == {"sent": 0, "skipped": 0}


def test_only_people_who_may_see_reports_are_subscribed(app, client, factory):
    from tests.conftest import login

    admin, trainee = factory.admin(), factory.trainee()
    login(client, admin)
    response = client.post("/reports/subscriptions", data={"email": trainee.email, "frequency": "weekly"})
    assert response.status_code == 422
    response = client.post("/reports/subscriptions", data={"email": admin.email, "frequency": "daily"})
    assert response.status_code == 422
    assert client.post("/reports/subscriptions", data={"email": admin.email, "frequency": "weekly"}).status_code == 302
    assert client.post("/reports/subscriptions", data={"email": admin.email, "frequency": "weekly"}).status_code == 409
