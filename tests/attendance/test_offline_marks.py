"""Offline marks that never overwrite newer facts: the newest recorded mark
wins whatever the arrival order, older replays come back as conflicts, the
server decides the source, and bad input in any field is a 4xx."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import login
from tests.factories import ApiClient
from training.attendance import checkin, services
from training.attendance.models import Attendance, AttendanceChange
from training.extensions import db

from .conftest import now


def api(client, user):
    return ApiClient(client, user)


def row(meeting, enrolment):
    return db.session.scalar(
        select(Attendance)
        .where(Attendance.meeting_id == meeting.id, Attendance.enrolment_id == enrolment.id)
        .execution_options(populate_existing=True)
    )


def test_an_older_offline_absent_never_replaces_a_newer_self_checkin(client, live):
    e = live.enrolments[0]
    t_checkin = now() - timedelta(minutes=1)
    checkin.ensure_secret(live.meeting)
    code = checkin.code_at(live.meeting, checkin.step_at(t_checkin), checkin.SHORT_LENGTH)
    checkin.check_in(e.user, code=code, now=t_checkin)
    # The trainer's phone marked "absent" a minute earlier, offline; it arrives now.
    offline = {
        "records": [
            {
                "enrolment_id": e.id,
                "status": "absent",
                "idempotency_key": "offline-0001",
                "recorded_at": (t_checkin - timedelta(minutes=1)).isoformat(),
            }
        ]
    }
    response = api(client, live.trainer).put(f"/api/v1/meetings/{live.meeting.id}/attendance", json=offline)
    assert response.status_code == 200
    body = response.get_json()
    assert body["changed"] == 0
    (conflict,) = body["conflicts"]
    assert conflict["enrolment_id"] == e.id
    assert conflict["kept"]["status"] == "present" and conflict["kept"]["source"] == "checkin"
    assert conflict["offered"]["status"] == "absent"
    assert row(live.meeting, e).status == "present"
    # The replay of the same queued mark is recognised and skipped, without a second conflict.
    again = api(client, live.trainer).put(f"/api/v1/meetings/{live.meeting.id}/attendance", json=offline).get_json()
    assert again["conflicts"] == [] and row(live.meeting, e).status == "present"
    # The trainer decides now: the newest fact, applied.
    decided = {"records": [{"enrolment_id": e.id, "status": "absent", "note": "left after 10 minutes"}]}
    assert (
        api(client, live.trainer)
        .put(f"/api/v1/meetings/{live.meeting.id}/attendance", json=decided)
        .get_json()["changed"]
        == 1
    )
    assert row(live.meeting, e).status == "absent"


def test_newest_recorded_mark_wins_whatever_the_arrival_order(live):
    e = live.enrolments[1]
    t = now() - timedelta(minutes=10)
    later = services.mark(
        live.trainer,
        live.meeting.id,
        [{"enrolment_id": e.id, "status": "late", "recorded_at": (t + timedelta(minutes=5)).isoformat()}],
    )
    assert len(later) == 1 and later.conflicts == []
    earlier = services.mark(
        live.trainer, live.meeting.id, [{"enrolment_id": e.id, "status": "present", "recorded_at": t.isoformat()}]
    )
    assert len(earlier) == 0 and earlier.conflicts[0]["kept"]["status"] == "late"
    assert row(live.meeting, e).status == "late"
    # Within one batch, the newest recorded mark wins too, not the last in the list.
    batch = services.mark(
        live.trainer,
        live.meeting.id,
        [
            {"enrolment_id": e.id, "status": "excused", "recorded_at": (t + timedelta(minutes=7)).isoformat()},
            {"enrolment_id": e.id, "status": "absent", "recorded_at": (t + timedelta(minutes=6)).isoformat()},
        ],
    )
    assert row(live.meeting, e).status == "excused" and batch.conflicts == []
    # A device whose clock runs ahead cannot win beyond the moment its mark arrives.
    services.mark(
        live.trainer,
        live.meeting.id,
        [{"enrolment_id": e.id, "status": "present", "recorded_at": (now() + timedelta(days=1)).isoformat()}],
    )
    services.mark(live.trainer, live.meeting.id, [{"enrolment_id": e.id, "status": "absent"}])
    assert row(live.meeting, e).status == "absent"


def test_clients_without_recorded_at_keep_working(client, live):
    e = live.enrolments[2]
    body = {"records": [{"enrolment_id": e.id, "status": "present"}]}
    response = api(client, live.trainer).put(f"/api/v1/meetings/{live.meeting.id}/attendance", json=body)
    assert response.status_code == 200 and response.get_json()["changed"] == 1
    item = next(i for i in response.get_json()["items"] if i["enrolment_id"] == e.id)
    assert item["recorded_at"] and item["source"] == "api"


def test_the_server_decides_the_source_whatever_the_client_says(app, client, live, factory):
    a, b, c = live.enrolments
    login(client, live.trainer)
    url = f"/meetings/{live.meeting.id}/attendance.json"
    sent = client.post(
        url, json={"source": "checkin", "records": [{"enrolment_id": a.id, "status": "present", "source": "checkin"}]}
    )
    assert sent.status_code == 200
    assert row(live.meeting, a).source == "roster"
    replay = client.post(
        url,
        json={
            "records": [
                {
                    "enrolment_id": b.id,
                    "status": "late",
                    "idempotency_key": "k-000001",
                    "recorded_at": (now() - timedelta(minutes=5)).isoformat(),
                }
            ]
        },
    )
    assert replay.status_code == 200 and row(live.meeting, b).source == "offline"
    admin = factory.admin()
    services.mark(admin, live.meeting.id, [{"enrolment_id": c.id, "status": "excused"}])
    assert row(live.meeting, c).source == "admin"
    services.mark(live.trainer, live.meeting.id, [{"enrolment_id": c.id, "status": "present"}], source="checkin")
    assert row(live.meeting, c).source == "roster"  # a caller cannot claim a self check-in either
    sources = [ch.source for ch in db.session.scalars(select(AttendanceChange).order_by(AttendanceChange.id))]
    assert sources == ["roster", "offline", "admin", "roster"]
    for bad in (
        {"source": 5, "records": [{"enrolment_id": a.id, "status": "absent"}]},
        {"source": ["x"], "records": [{"enrolment_id": a.id, "status": "absent"}]},
    ):
        assert client.post(url, json=bad).status_code == 200  # ignored, never a 500


BAD_RECORDS = [
    "records",
    {},
    [],
    [1],
    [None],
    [{"enrolment_id": "1", "status": "present"}],
    [{"enrolment_id": 1.5, "status": "present"}],
    [{"enrolment_id": True, "status": "present"}],
    [{"enrolment_id": None, "status": "present"}],
    [{"enrolment_id": 2**70, "status": "present"}],
    [{"status": ["present"]}],
    [{"status": {"a": 1}}],
    [{"status": None}],
    [{"status": "PRESENT"}],
    [{"note": 5}],
    [{"note": ["a"]}],
    [{"note": "x" * 1001}],
    [{"idempotency_key": 5}],
    [{"idempotency_key": "short"}],
    [{"idempotency_key": ["k" * 10]}],
    [{"recorded_at": 5}],
    [{"recorded_at": []}],
    [{"recorded_at": {}}],
    [{"recorded_at": True}],
    [{"recorded_at": "yesterday"}],
    [{"recorded_at": "2026-11-30T09:00:00"}],
    [{"recorded_at": "2026-13-40T09:00:00+08:00"}],
    [{"recorded_at": "9" * 5000}],
    [{"recorded_at": "0001-01-01T00:00:00+14:00"}],
]


@pytest.mark.parametrize("records", BAD_RECORDS)
def test_bad_types_in_any_field_are_a_4xx_that_changes_nothing(client, live, records):
    e = live.enrolments[0]
    if isinstance(records, list):
        records = [({"enrolment_id": e.id, "status": "present", **r} if isinstance(r, dict) else r) for r in records]
    for response in (
        api(client, live.trainer).put(f"/api/v1/meetings/{live.meeting.id}/attendance", json={"records": records}),
    ):
        assert 400 <= response.status_code < 500, response.get_json()
        assert response.get_json()["error"]["code"]
    login(client, live.trainer)
    page = client.post(f"/meetings/{live.meeting.id}/attendance.json", json={"records": records})
    assert 400 <= page.status_code < 500
    assert db.session.scalar(select(Attendance).where(Attendance.meeting_id == live.meeting.id)) is None


def test_roster_page_has_the_offline_worker_and_the_conflict_panel(client, live):
    login(client, live.trainer)
    page = client.get(f"/meetings/{live.meeting.id}/roster").get_data(as_text=True)
    assert 'data-sw="/meetings/roster-sw.js"' in page and 'id="roster-conflicts"' in page
    worker = client.get("/meetings/roster-sw.js")
    assert worker.status_code == 200 and worker.headers["Content-Type"].startswith("text/javascript")
    assert worker.headers["Service-Worker-Allowed"] == "/meetings/"
    assert "caches.open" in worker.get_data(as_text=True)


@pytest.mark.parametrize(
    "extra",
    [{"note": "late\x00bus"}, {"idempotency_key": "offline-\x00-0001"}],
    ids=["nul-in-note", "nul-in-key"],
)
def test_a_nul_in_a_roster_json_mark_is_a_422_that_changes_nothing(client, live, extra):
    """The roster's script posts its own JSON (not through the API's body check); PostgreSQL stores no NUL,
    so the mark is refused in words instead of failing at the INSERT."""
    e = live.enrolments[0]
    login(client, live.trainer)
    response = client.post(
        f"/meetings/{live.meeting.id}/attendance.json",
        json={"records": [{"enrolment_id": e.id, "status": "present", **extra}]},
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "nul_character"
    assert db.session.scalar(select(Attendance).where(Attendance.meeting_id == live.meeting.id)) is None
    assert db.session.scalar(select(AttendanceChange).where(AttendanceChange.meeting_id == live.meeting.id)) is None


def test_a_lone_surrogate_escape_in_a_mark_is_a_400_on_the_roster_and_the_api(client, live):
    """``"\\ud800"`` is valid JSON syntax but no character: no driver can store it, so the body is refused."""
    e = live.enrolments[0]
    body = json.dumps({"records": [{"enrolment_id": e.id, "status": "present", "note": "NOTE"}]})
    body = body.replace("NOTE", "\\ud800").encode()  # the escape as a client sends it
    response = api(client, live.trainer).put(
        f"/api/v1/meetings/{live.meeting.id}/attendance", data=body, content_type="application/json"
    )
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_json"
    login(client, live.trainer)
    page = client.post(f"/meetings/{live.meeting.id}/attendance.json", data=body, content_type="application/json")
    assert page.status_code == 400 and page.get_json()["error"]["code"] == "bad_json"
    assert db.session.scalar(select(Attendance).where(Attendance.meeting_id == live.meeting.id)) is None
