"""Self check-in: rotating codes, their window, and every refusal."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import login
from training.attendance import checkin, services
from training.attendance.checkin import CheckinRefused


def code_now(meeting, when, length=checkin.SHORT_LENGTH):
    checkin.ensure_secret(meeting)
    return checkin.code_at(meeting, checkin.step_at(when), length)


def status_of(meeting, enrolment):
    return dict((e.id, r.status if r else None) for e, r in services.roster(meeting))[enrolment.id]


def test_typed_code_marks_present_within_grace(live):
    e = live.enrolments[0]
    t = live.meeting.starts_at + timedelta(minutes=5)
    result = checkin.check_in(e.user, code=code_now(live.meeting, t), now=t)
    assert result.meeting.id == live.meeting.id and not result.already
    assert status_of(live.meeting, e) == "present"
    assert services.history(live.meeting)[0].source == "checkin"


def test_after_the_late_threshold_the_trainee_is_late(live, app):
    e = live.enrolments[0]
    t = live.meeting.starts_at + timedelta(minutes=app.config["CHECKIN_LATE_AFTER_MINUTES"] + 1)
    checkin.check_in(e.user, code=code_now(live.meeting, t), now=t)
    assert status_of(live.meeting, e) == "late"


def test_code_is_forgiving_about_case_dashes_and_look_alikes(live):
    t = live.meeting.starts_at
    code = code_now(live.meeting, t)
    typed = (code[:3] + "-" + code[3:]).lower().replace("0", "o").replace("1", "l")
    checkin.check_in(live.enrolments[0].user, code=typed, now=t)
    assert status_of(live.meeting, live.enrolments[0]) == "present"


def test_a_code_lives_its_period_plus_the_grace_then_is_refused(live, app):
    period, grace = checkin._seconds(), app.config["CHECKIN_GRACE_SECONDS"]
    step = checkin.step_at(live.meeting.starts_at + timedelta(minutes=2))
    begin = datetime.fromtimestamp(step * period, UTC)  # the code's period starts
    checkin.ensure_secret(live.meeting)
    code = checkin.code_at(live.meeting, step, checkin.SHORT_LENGTH)
    assert checkin.expires_at(step) == begin + timedelta(seconds=period + grace)
    # Typed a few seconds after the screen changed to the next code: still accepted.
    checkin.check_in(live.enrolments[0].user, code=code, now=begin + timedelta(seconds=period + grace - 1))
    with pytest.raises(CheckinRefused) as refused:
        checkin.check_in(live.enrolments[1].user, code=code, now=begin + timedelta(seconds=period + grace + 1))
    assert refused.value.code == "code_invalid" and refused.value.status == 422
    assert "expired" in refused.value.message
    assert status_of(live.meeting, live.enrolments[1]) is None


def test_a_friend_texting_the_code_minutes_later_is_refused(live):
    t = live.meeting.starts_at
    code = code_now(live.meeting, t)
    with pytest.raises(CheckinRefused) as refused:
        checkin.check_in(live.enrolments[1].user, code=code, now=t + timedelta(minutes=3))
    assert refused.value.code == "code_invalid"


def test_wrong_and_malformed_codes_are_refused(live):
    t = live.meeting.starts_at
    real = code_now(live.meeting, t)
    wrong = "".join("0" if c != "0" else "1" for c in real)
    for bad, code in (
        (wrong, "code_invalid"),
        ("12", "code_invalid"),
        ("ABC-DE!", "code_invalid"),
        (None, "code_invalid"),
    ):
        with pytest.raises(CheckinRefused) as refused:
            checkin.check_in(live.enrolments[0].user, code=bad, now=t)
        assert refused.value.code == code
    assert status_of(live.meeting, live.enrolments[0]) is None


def test_code_of_another_meeting_is_refused_on_this_meetings_link(live, factory):
    other = factory.run(start=live.meeting.starts_at, meetings=1)
    t = live.meeting.starts_at
    code = code_now(other.meetings[0], t, checkin.LONG_LENGTH)
    code_now(live.meeting, t)
    with pytest.raises(CheckinRefused) as refused:
        checkin.check_in(live.enrolments[0].user, code=code, meeting_id=live.meeting.id, now=t)
    assert refused.value.code == "other_meeting"


def test_check_in_opens_before_the_start_and_closes_at_the_scheduled_end(live, app):
    margin = timedelta(minutes=app.config["CHECKIN_MARGIN_MINUTES"])
    early = live.meeting.starts_at - margin - timedelta(minutes=1)
    with pytest.raises(CheckinRefused) as refused:
        checkin.check_in(live.enrolments[0].user, code=code_now(live.meeting, early), now=early)
    assert refused.value.code == "checkin_closed" and refused.value.status == 409
    just_open = live.meeting.starts_at - margin + timedelta(minutes=1)
    checkin.check_in(live.enrolments[0].user, code=code_now(live.meeting, just_open), now=just_open)
    last_minute = live.meeting.ends_at - timedelta(seconds=30)
    assert (
        checkin.check_in(
            live.enrolments[1].user, code=code_now(live.meeting, last_minute), now=last_minute
        ).attendance.status
        == "late"
    )
    for after in (live.meeting.ends_at, live.meeting.ends_at + timedelta(minutes=1)):
        with pytest.raises(CheckinRefused) as refused:
            checkin.check_in(live.enrolments[2].user, code=code_now(live.meeting, after), now=after)
        assert refused.value.code == "checkin_closed"
    assert status_of(live.meeting, live.enrolments[2]) is None


def test_someone_not_enrolled_is_refused(live, factory):
    t = live.meeting.starts_at
    outsider = factory.trainee()
    waitlisted = factory.enrolment(live.run, status="waitlisted")
    for user in (outsider, waitlisted.user):
        with pytest.raises(CheckinRefused) as refused:
            checkin.check_in(user, code=code_now(live.meeting, t), now=t)
        assert refused.value.code == "not_enrolled"
        assert refused.value.status == 409


def test_check_in_never_downgrades_a_trainers_mark(live):
    e = live.enrolments[0]
    services.mark(live.trainer, live.meeting.id, [{"enrolment_id": e.id, "status": "excused", "note": "sick"}])
    t = live.meeting.starts_at + timedelta(minutes=20)
    result = checkin.check_in(e.user, code=code_now(live.meeting, t), now=t)
    assert result.already and status_of(live.meeting, e) == "excused"
    assert checkin.check_in(e.user, code=code_now(live.meeting, t), now=t).already


def test_codes_differ_between_meetings_and_steps_and_have_enough_entropy(live, factory):
    other = factory.run(meetings=1).meetings[0]
    checkin.ensure_secret(live.meeting)
    checkin.ensure_secret(other)
    assert len(live.meeting.checkin_secret) == 64
    codes = {checkin.code_at(live.meeting, s) for s in range(200)}
    assert len(codes) == 200
    assert checkin.code_at(live.meeting, 7) != checkin.code_at(other, 7)
    assert len(checkin.ALPHABET) ** checkin.LONG_LENGTH >= 2**80


# --- through the pages -----------------------------------------------------------


def test_screen_shows_a_qr_url_without_the_secret_and_only_to_trainers(client, live, checkin_clock):
    login(client, live.trainer)
    data = client.get(f"/meetings/{live.meeting.id}/checkin/code.json").get_json()
    assert data["state"] == "open" and re.fullmatch(r"[0-9A-Z]{3}-[0-9A-Z]{3}", data["code"])
    assert data["qr"].startswith("data:image/svg+xml;base64,")
    url = urlsplit(data["url"])
    assert url.path == f"/checkin/{live.meeting.id}"
    assert parse_qs(url.query)["c"][0][:6] == data["code"].replace("-", "")
    assert live.meeting.checkin_secret not in data["url"]
    page = client.get(f"/meetings/{live.meeting.id}/checkin/screen")
    assert page.status_code == 200 and data["code"].encode() in page.data
    login(client, live.enrolments[0].user)
    assert client.get(f"/meetings/{live.meeting.id}/checkin/code.json").status_code == 403
    assert client.get(f"/meetings/{live.meeting.id}/checkin/screen").status_code == 403


def test_scan_then_log_in_then_one_tap(client, live, checkin_clock):
    e = live.enrolments[1]
    login(client, live.trainer)
    url = client.get(f"/meetings/{live.meeting.id}/checkin/code.json").get_json()["url"]
    client.post("/logout")
    anonymous = client.get(urlsplit(url).path + "?" + urlsplit(url).query)
    assert anonymous.status_code == 302 and "/checkin/confirm?t=" in anonymous.location
    confirm = client.get(anonymous.location)
    assert confirm.status_code == 302 and "/login" in confirm.location  # log in first, the ticket waits
    login(client, e.user)
    page = client.get(anonymous.location)
    assert page.status_code == 200 and e.run.course.title.encode() in page.data
    ticket = parse_qs(urlsplit(anonymous.location).query)["t"][0]
    done = client.post("/checkin/confirm", data={"ticket": ticket})
    assert done.status_code == 200 and b"Checked in" in done.data
    assert status_of(live.meeting, e) == "present"


def test_ticket_opened_by_one_trainee_cannot_be_used_by_another(client, live, checkin_clock):
    a, b = live.enrolments[0], live.enrolments[1]
    checkin.ensure_secret(live.meeting)
    code = code_now(live.meeting, checkin_clock, checkin.LONG_LENGTH)
    login(client, a.user)
    scanned = client.get(f"/checkin/{live.meeting.id}?c={code}")
    ticket = parse_qs(urlsplit(scanned.location).query)["t"][0]
    login(client, b.user)
    refused = client.post("/checkin/confirm", data={"ticket": ticket})
    assert refused.status_code == 409
    assert status_of(live.meeting, b) is None


def test_typed_code_page(client, live, checkin_clock):
    e = live.enrolments[2]
    login(client, e.user)
    assert client.get("/checkin").status_code == 200
    wrong = client.post("/checkin", data={"code": "ZZZ-ZZZ"})
    assert wrong.status_code == 422 and b"not right" in wrong.data
    ok = client.post("/checkin", data={"code": code_now(live.meeting, checkin_clock)})
    assert ok.status_code == 200
    assert status_of(live.meeting, e) == "present"


def test_bad_scan_link_says_why(client, live):
    login(client, live.enrolments[0].user)
    response = client.get(f"/checkin/{live.meeting.id}?c=nonsense")
    assert response.status_code == 422 and b"6 letters" in response.data
    assert client.get(f"/checkin/{live.meeting.id}").status_code == 422
