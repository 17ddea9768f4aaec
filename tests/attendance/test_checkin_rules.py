"""Self check-in that cannot be forwarded: the API, one account per browser,
QR links redeemed once by the account that signs in on that browser, allowed
networks, and two check-ins of one trainee at once on PostgreSQL."""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from tests.conftest import login
from tests.factories import ApiClient
from tests.toolkit import BARRIER_SECONDS, join_all
from training.attendance import checkin, services
from training.attendance.checkin import CheckinRefused
from training.attendance.models import Attendance, AttendanceChange, CheckinDevice
from training.extensions import db

from .conftest import now


def api(client, user):
    return ApiClient(client, user)


def code_at(meeting, when, length=checkin.SHORT_LENGTH):
    checkin.ensure_secret(meeting)
    return checkin.code_at(meeting, checkin.step_at(when), length)


def status_of(meeting, enrolment):
    return dict((e.id, r.status if r else None) for e, r in services.roster(meeting))[enrolment.id]


def test_checkin_code_api_for_the_runs_trainers_and_admins(client, live, factory, app, checkin_clock):
    url = f"/api/v1/meetings/{live.meeting.id}/checkin-code"
    body = api(client, live.trainer).get(url).get_json()
    assert set(body) >= {"code", "expires_at", "period_seconds"}
    assert body["period_seconds"] == 30 and len(body["code"]) == 6
    step = checkin.step_at(checkin_clock)
    assert body["code"] == checkin.code_at(live.meeting, step, checkin.SHORT_LENGTH)
    assert body["expires_at"] == checkin.expires_at(step).isoformat()
    assert api(client, factory.admin()).get(url).status_code == 200
    for person in (live.enrolments[0].user, factory.trainer()):
        assert api(client, person).get(url).status_code == 403
    assert api(client, None).get(url).status_code == 401
    later = live.run.meetings[1]
    closed = api(client, live.trainer).get(f"/api/v1/meetings/{later.id}/checkin-code")
    assert closed.status_code == 409 and closed.get_json()["error"]["code"] == "checkin_closed"


def test_checkin_api_marks_the_signed_in_trainee_and_refuses_clearly(client, live, factory, checkin_clock):
    e = live.enrolments[0]
    code = api(client, live.trainer).get(f"/api/v1/meetings/{live.meeting.id}/checkin-code").get_json()["code"]
    url = f"/api/v1/meetings/{live.meeting.id}/checkin"
    ok = api(client, e.user).post(url, json={"code": code})
    assert ok.status_code == 200
    assert ok.get_json()["enrolment_id"] == e.id and ok.get_json()["status"] in ("present", "late")
    assert api(client, e.user).post(url, json={"code": code}).get_json()["already"] is True
    refusals = [
        (api(client, live.enrolments[1].user), {"code": "ZZZ-ZZZ"}, 422, "code_invalid"),
        (api(client, live.enrolments[1].user), {"code": 123456}, 422, "code_invalid"),
        (api(client, live.enrolments[1].user), {"code": ["K7Q", "M2X"]}, 422, "code_invalid"),
        (api(client, live.enrolments[1].user), {}, 422, "code_invalid"),
        (api(client, factory.trainee()), {"code": code}, 409, "not_enrolled"),
        (api(client, factory.enrolment(live.run, status="waitlisted").user), {"code": code}, 409, "not_enrolled"),
    ]
    for caller, body, status, error in refusals:
        response = caller.post(url, json=body)
        assert response.status_code == status, (body, response.get_json())
        assert response.get_json()["error"]["code"] == error
    assert api(client, None).post(url, json={"code": code}).status_code == 401
    assert status_of(live.meeting, live.enrolments[1]) is None
    # The roster says it was a self check-in.
    roster = api(client, live.trainer).get(f"/api/v1/meetings/{live.meeting.id}/attendance").get_json()
    item = next(i for i in roster["items"] if i["enrolment_id"] == e.id)
    assert item["self_checkin"] is True and item["source"] == "checkin"


def test_no_checkin_after_the_scheduled_end_not_even_late(client, live):
    end = live.meeting.ends_at
    for when in (end, end + timedelta(minutes=14)):
        with pytest.raises(CheckinRefused) as refused:
            checkin.check_in(live.enrolments[0].user, code=code_at(live.meeting, when), now=when)
        assert refused.value.code == "checkin_closed"
    assert status_of(live.meeting, live.enrolments[0]) is None


def test_one_browser_checks_in_one_account_per_meeting_and_the_attempt_is_flagged(client, live, checkin_clock):
    a, b = live.enrolments[0], live.enrolments[1]
    login(client, a.user)
    assert client.get("/checkin").status_code == 200  # the browser gets its device cookie
    assert client.post("/checkin", data={"code": code_at(live.meeting, checkin_clock)}).status_code == 200
    login(client, b.user)  # a friend signs in on the same phone
    refused = client.post("/checkin", data={"code": code_at(live.meeting, checkin_clock)})
    assert refused.status_code == 409 and b"from this device" in refused.data
    assert status_of(live.meeting, b) is None
    flags = db.session.scalars(select(CheckinDevice).where(CheckinDevice.meeting_id == live.meeting.id)).all()
    assert {(f.user_id, f.refused) for f in flags} == {(a.user_id, False), (b.user_id, True)}
    assert services.device_flags(live.meeting) == {a.user_id, b.user_id}
    login(client, live.trainer)
    page = client.get(f"/meetings/{live.meeting.id}/roster").get_data(as_text=True)
    assert page.count("device-flag") == 2 and "self check-in" in page
    roster = api(client, live.trainer).get(f"/api/v1/meetings/{live.meeting.id}/attendance").get_json()
    assert {i["enrolment_id"] for i in roster["items"] if i["device_flag"]} == {a.id, b.id}
    # The device cookie also counts on the API.
    client.set_cookie(checkin.DEVICE_COOKIE, "d" * 32)
    code = code_at(live.meeting, checkin_clock)
    url = f"/api/v1/meetings/{live.meeting.id}/checkin"
    assert api(client, b.user).post(url, json={"code": code}).status_code == 200
    third = api(client, live.enrolments[2].user).post(url, json={"code": code})
    assert third.status_code == 409 and third.get_json()["error"]["code"] == "device_used"


def test_a_qr_link_opened_signed_out_is_redeemed_once_by_who_signs_in_on_that_browser(app, live, checkin_clock):
    a, b = live.enrolments[0], live.enrolments[1]
    phone = app.test_client()
    scanned = phone.get(f"/checkin/{live.meeting.id}?c={code_at(live.meeting, checkin_clock, checkin.LONG_LENGTH)}")
    assert scanned.status_code == 302
    ticket = parse_qs(urlsplit(scanned.location).query)["t"][0]
    # Forwarded to a friend's phone: refused there, even signed in as a trainee of the run.
    friend = app.test_client()
    login(friend, b.user)
    friend.get("/checkin")
    forwarded = friend.post("/checkin/confirm", data={"ticket": ticket})
    assert forwarded.status_code == 409 and status_of(live.meeting, b) is None
    # The account that signs in on the phone redeems it.
    login(phone, a.user)
    assert phone.post("/checkin/confirm", data={"ticket": ticket}).status_code == 200
    assert status_of(live.meeting, a) == "present"
    # Once: another account signing in on the phone cannot use it again.
    login(phone, b.user)
    again = phone.post("/checkin/confirm", data={"ticket": ticket})
    assert again.status_code == 409 and status_of(live.meeting, b) is None


def test_a_ticket_lives_only_as_long_as_its_code(live, app):
    a = live.enrolments[0]
    step = checkin.step_at(now())
    ticket = checkin.make_ticket(live.meeting, step, None, None)
    with pytest.raises(CheckinRefused) as refused:
        checkin.check_in(a.user, ticket=ticket, now=checkin.expires_at(step) + timedelta(seconds=1))
    assert refused.value.code == "code_invalid"
    assert checkin.check_in(a.user, ticket=ticket, now=checkin.expires_at(step) - timedelta(seconds=1)).attendance


def test_allowed_networks_per_location(live, app):
    app.config["CHECKIN_NETWORKS"] = {live.run.location: ["10.20.0.0/16", "2001:db8::/32"]}
    t = now()
    for ip in ("192.0.2.7", None, "not an address"):
        with pytest.raises(CheckinRefused) as refused:
            checkin.check_in(live.enrolments[0].user, code=code_at(live.meeting, t), now=t, ip=ip)
        assert refused.value.code == "network_not_allowed"
    checkin.check_in(live.enrolments[0].user, code=code_at(live.meeting, t), now=t, ip="10.20.3.4")
    checkin.check_in(live.enrolments[1].user, code=code_at(live.meeting, t), now=t, ip="2001:db8::1")
    app.config["CHECKIN_NETWORKS"] = {"Elsewhere": ["10.0.0.0/8"]}
    checkin.check_in(live.enrolments[2].user, code=code_at(live.meeting, t), now=t, ip="192.0.2.7")
    assert status_of(live.meeting, live.enrolments[2]) == "present"


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="needs PostgreSQL (set TEST_DATABASE_URL) for truly concurrent transactions",
)
def test_two_simultaneous_checkins_of_one_trainee_give_one_mark(app, live, checkin_clock):
    e = live.enrolments[0]
    user_id, meeting_id = e.user_id, live.meeting.id
    code = code_at(live.meeting, checkin_clock)
    barrier, results, errors = threading.Barrier(4), [], []

    def attempt():
        with app.app_context():
            try:
                from training.accounts.models import User

                user = db.session.get(User, user_id)
                barrier.wait(timeout=BARRIER_SECONDS)
                results.append(checkin.check_in(user, code=code, meeting_id=meeting_id).already)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    join_all(threads)
    assert not errors, errors
    assert sorted(results) == [False, True, True, True]
    assert (
        db.session.scalar(select(func.count()).select_from(Attendance).where(Attendance.meeting_id == meeting_id)) == 1
    )
    assert (
        db.session.scalar(
            select(func.count()).select_from(AttendanceChange).where(AttendanceChange.meeting_id == meeting_id)
        )
        == 1
    )


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="needs PostgreSQL (set TEST_DATABASE_URL) for truly concurrent transactions",
)
def test_two_accounts_on_one_browser_at_once_give_one_checkin(app, live, checkin_clock):
    ids = [e.user_id for e in live.enrolments[:2]]
    meeting_id = live.meeting.id
    code = code_at(live.meeting, checkin_clock)
    barrier, outcomes = threading.Barrier(2), []

    def attempt(user_id):
        with app.app_context():
            try:
                from training.accounts.models import User

                user = db.session.get(User, user_id)
                barrier.wait(timeout=BARRIER_SECONDS)
                checkin.check_in(user, code=code, meeting_id=meeting_id, device="shared-phone-cookie-0001")
                outcomes.append("ok")
            except CheckinRefused as exc:
                outcomes.append(exc.code)
            except Exception as exc:  # noqa: BLE001 - reported below
                outcomes.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    join_all(threads)
    assert sorted(outcomes) == ["device_used", "ok"]
    assert (
        db.session.scalar(select(func.count()).select_from(Attendance).where(Attendance.meeting_id == meeting_id)) == 1
    )
