"""Dates in the right zone: completion in the run's zone, issue and expiry on
the organisation's calendar (ORG_TIMEZONE), badge dates with their real
offsets, and nothing that depends on the server's own time zone."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import login
from training.attendance.models import Attendance
from training.catalogue.models import Meeting, Run
from training.certificates import badges
from training.certificates.models import Certificate
from training.certificates.services import issue_for_run, public_view
from training.extensions import db

UTC = UTC
# 2026-11-29 21:00 to 2026-11-30 00:30 in Shanghai: the evening class ends after midnight there,
# while it is still the afternoon of the 29th in UTC.
START = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)
END = datetime(2026, 11, 29, 16, 30, tzinfo=UTC)


@pytest.fixture
def server_in_honolulu(monkeypatch):
    """The server's own clock in another zone (UTC-10): a date taken from it
    would be the 29th while Shanghai is already on the 30th."""
    monkeypatch.setenv("TZ", "Pacific/Honolulu")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def _evening_run(factory, timezone_name="Asia/Shanghai", **course):
    admin = factory.admin()
    run = Run(
        course=factory.course(**course),
        capacity=5,
        timezone=timezone_name,
        status="open",
        starts_on=date(2026, 11, 29),
        ends_on=date(2026, 11, 30),
        location="Room 1",
        city="Shanghai",
        meetings=[Meeting(starts_at=START, ends_at=END, finalised_at=END)],
    )
    db.session.add(run)
    db.session.commit()
    enrolment = factory.enrolment(run, factory.trainee(name="王小明"))
    db.session.add(Attendance(enrolment_id=enrolment.id, meeting_id=run.meetings[0].id, status="present"))
    db.session.commit()
    return admin, run, enrolment


def _issue(admin, run, at: datetime) -> Certificate:
    issue_for_run(admin, run.id)
    certificate = db.session.query(Certificate).one()
    certificate.issued_at = at  # as if issued at that moment
    db.session.commit()
    return certificate


def test_completion_in_the_runs_zone_and_issue_on_the_organisations_calendar(factory, server_in_honolulu):
    admin, run, _e = _evening_run(factory)
    certificate = _issue(admin, run, END + timedelta(minutes=30))  # 17:00 UTC on the 29th, 01:00 on the 30th
    assert certificate.completed_on == date(2026, 11, 30)  # the run's own calendar (Shanghai)
    assert certificate.issued_on == date(2026, 11, 30)  # not the UTC (29th) nor the server's date (29th)
    view = public_view(certificate)
    assert view["completed_on"] == "2026-11-30" and view["issued_on"] == "2026-11-30"


def test_issue_date_never_precedes_completion_when_the_organisation_is_behind_the_run(app, factory):
    app.config["ORG_TIMEZONE"] = "America/New_York"
    admin, run, _e = _evening_run(factory)
    certificate = _issue(admin, run, END + timedelta(minutes=30))  # 12:00 on the 29th in New York
    assert certificate.completed_on == date(2026, 11, 30)
    assert certificate.issued_on == date(2026, 11, 30)
    # issued a day later it is the New York date
    certificate.issued_at = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # 22:00 on Dec 1 in New York
    assert certificate.issued_on == date(2026, 12, 1)


def test_expiry_is_judged_on_the_organisations_calendar(app, factory, monkeypatch, server_in_honolulu, client):
    admin, run, _e = _evening_run(factory, validity_months=12)
    certificate = _issue(admin, run, END + timedelta(minutes=30))
    assert certificate.expires_on == date(2027, 11, 30)
    # 2027-11-30 17:00 UTC: still the 30th in UTC and in Honolulu, already Dec 1 in Shanghai
    monkeypatch.setattr("training.types.utcnow", lambda: datetime(2027, 11, 30, 17, 0, tzinfo=UTC))
    assert certificate.status == "expired"
    assert public_view(certificate)["status"] == "expired"
    page = client.get(f"/verify/{certificate.code}").get_data(as_text=True)
    assert "xpired" in page
    monkeypatch.setattr("training.types.utcnow", lambda: datetime(2027, 11, 30, 15, 0, tzinfo=UTC))  # 23:00
    assert certificate.status == "valid"
    app.config["ORG_TIMEZONE"] = "Europe/Berlin"  # 16:00 on the 30th in Berlin
    monkeypatch.setattr("training.types.utcnow", lambda: datetime(2027, 11, 30, 17, 0, tzinfo=UTC))
    assert certificate.status == "valid"


def test_badge_dates_carry_their_real_offsets(factory):
    admin, run, _e = _evening_run(factory, validity_months=12)
    certificate = _issue(admin, run, END + timedelta(minutes=30))
    body = badges.credential(certificate)
    subject = body["credentialSubject"]
    assert subject["activityStartDate"] == "2026-11-29T21:00:00+08:00"
    assert subject["activityEndDate"] == "2026-11-30T00:30:00+08:00"
    assert datetime.fromisoformat(subject["activityEndDate"]) == END  # the same instant, not a relabelled date
    assert body["validFrom"] == "2026-11-29T17:00:00Z"
    assert body["validUntil"] == "2027-11-30T23:59:59+08:00"  # the end of the expiry date in ORG_TIMEZONE


def test_badge_dates_follow_a_run_in_another_zone(app, factory):
    app.config["ORG_TIMEZONE"] = "Europe/Berlin"
    admin, run, _e = _evening_run(factory, timezone_name="America/Chicago", validity_months=1)
    certificate = _issue(admin, run, END + timedelta(hours=1))
    subject = badges.credential(certificate)["credentialSubject"]
    assert subject["activityStartDate"] == "2026-11-29T07:00:00-06:00"
    assert badges.credential(certificate)["validUntil"].endswith("+01:00")
    assert certificate.completed_on == date(2026, 11, 29)  # Chicago's date


def test_pages_show_the_organisations_today_not_the_servers(app, client, factory, monkeypatch, server_in_honolulu):
    """The admin's renewals list and the dashboard count from the
    organisation's today: at 17:00 UTC on 2027-11-30 it is Dec 1 in Shanghai."""
    admin, run, _e = _evening_run(factory, validity_months=12)
    certificate = _issue(admin, run, END + timedelta(minutes=30))
    monkeypatch.setattr("training.types.utcnow", lambda: datetime(2027, 11, 30, 17, 0, tzinfo=UTC))
    from training.types import org_today

    assert org_today() == date(2027, 12, 1) and date.today() != date(2027, 12, 1)
    login(client, admin)
    page = client.get("/admin/certificates/renewals").get_data(as_text=True)
    assert certificate.holder_name in page
    assert client.get("/admin/").status_code == 200


def test_no_code_reads_the_servers_local_date_or_clock():
    """date.today(), naive datetime.now()/utcnow() and time.localtime() take the
    server's zone (or none), and a moment's .date() is its UTC date; every date
    comes from training.types instead (org_today, local_date)."""
    root = Path(__file__).resolve().parents[2]
    banned = re.compile(
        r"date\.today\(\)|datetime\.now\(\)|datetime\.utcnow\(\)|time\.localtime\(|"
        r"utcnow\(\)\.date\(\)|\bnow\.date\(\)|_at\.date\(\)|fromtimestamp\([^,()]*\)"
    )
    offenders = []
    for folder in ("training", "templates"):
        for path in (root / folder).rglob("*"):
            if path.suffix not in (".py", ".html", ".txt") or "translations" in path.parts:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if banned.search(line) and "demo" not in path.name:
                    offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
