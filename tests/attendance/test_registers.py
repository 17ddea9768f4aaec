"""Signed-off registers: finalising, reopening, what a finalised register
refuses, certificates that wait for every register, open registers on "Today"
and the morning reminder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import login
from tests.factories import ApiClient
from training.attendance import checkin, registers, services
from training.attendance.checkin import CheckinRefused
from training.audit import AuditEntry
from training.certificates import services as certificates
from training.extensions import db

from .conftest import now


def api(client, user):
    return ApiClient(client, user)


def present(actor, run, enrolment):
    for meeting in run.meetings:
        services.mark(actor, meeting.id, [{"enrolment_id": enrolment.id, "status": "present"}])


# --- finalise --------------------------------------------------------------------


def test_trainer_finalises_from_the_start_and_the_answer_says_who_and_when(client, live):
    response = api(client, live.trainer).post(f"/api/v1/meetings/{live.meeting.id}/attendance/finalise")
    assert response.status_code == 200
    body = response.get_json()
    assert body["finalised_by"] == {"id": live.trainer.id, "name": "Li Wei"}
    assert datetime.fromisoformat(body["finalised_at"]) <= datetime.now(UTC)
    roster = api(client, live.trainer).get(f"/api/v1/meetings/{live.meeting.id}/attendance").get_json()
    assert roster["finalised_at"] == body["finalised_at"]
    # A double tap changes nothing.
    again = api(client, live.trainer).post(f"/api/v1/meetings/{live.meeting.id}/attendance/finalise").get_json()
    assert again == body
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "register.finalise")) is not None


def test_finalising_before_the_start_or_by_the_wrong_person_is_refused(client, live, factory):
    later = live.run.meetings[1]  # tomorrow
    response = api(client, live.trainer).post(f"/api/v1/meetings/{later.id}/attendance/finalise")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "too_early"
    for person in (factory.trainer(), live.enrolments[0].user):
        response = api(client, person).post(f"/api/v1/meetings/{live.meeting.id}/attendance/finalise")
        assert response.status_code == 403
    assert api(client, None).post(f"/api/v1/meetings/{live.meeting.id}/attendance/finalise").status_code == 401
    assert api(client, live.trainer).post("/api/v1/meetings/999999/attendance/finalise").status_code == 404
    db.session.expire_all()
    assert later.finalised_at is None and live.meeting.finalised_at is None


def test_a_finalised_register_refuses_changes_and_self_checkins(client, live):
    e = live.enrolments[0]
    services.mark(live.trainer, live.meeting.id, [{"enrolment_id": e.id, "status": "absent"}])
    registers.finalise(live.trainer, live.meeting.id)
    records = {"records": [{"enrolment_id": e.id, "status": "present"}]}
    response = api(client, live.trainer).put(f"/api/v1/meetings/{live.meeting.id}/attendance", json=records)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "register_finalised"
    with pytest.raises(services.RegisterFinalised):
        services.mark(live.trainer, live.meeting.id, records["records"])
    t = now()
    checkin.ensure_secret(live.meeting)
    code = checkin.code_at(live.meeting, checkin.step_at(t), checkin.SHORT_LENGTH)
    with pytest.raises(CheckinRefused) as refused:
        checkin.check_in(e.user, code=code, now=t)
    assert refused.value.code == "checkin_closed"
    assert dict((x.id, r.status) for x, r in services.roster(live.meeting) if r)[e.id] == "absent"
    # The roster page shows it signed off and offers no marking.
    login(client, live.trainer)
    page = client.get(f"/meetings/{live.meeting.id}/roster").get_data(as_text=True)
    assert "Finalised by Li Wei" in page and 'id="finalise-register"' not in page


def test_admin_reopens_with_a_reason_that_is_audited(client, live, factory):
    admin = factory.admin()
    registers.finalise(live.trainer, live.meeting.id)
    url = f"/api/v1/meetings/{live.meeting.id}/attendance/reopen"
    assert api(client, live.trainer).post(url, json={"reason": "wrong mark"}).status_code == 403
    for bad in (
        {},
        {"reason": ""},
        {"reason": "x"},
        {"reason": 42},
        {"reason": ["a", "b", "c"]},
        {"reason": "x" * 501},
    ):
        response = api(client, admin).post(url, json=bad)
        assert response.status_code == 422, bad
        assert response.get_json()["error"]["fields"] == {"reason": "required"}
    db.session.expire_all()
    assert live.meeting.finalised_at is not None
    response = api(client, admin).post(url, json={"reason": "Anna was marked absent by mistake"})
    assert response.status_code == 200 and response.get_json()["finalised_at"] is None
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "register.reopen"))
    assert "Anna was marked absent by mistake" in entry.detail and entry.actor_id == admin.id
    again = api(client, admin).post(url, json={"reason": "again"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "register_open"
    # The trainer may change it and finalise it again.
    services.mark(live.trainer, live.meeting.id, [{"enrolment_id": live.enrolments[0].id, "status": "present"}])
    assert registers.finalise(live.trainer, live.meeting.id).finalised_at is not None


def test_reopen_page_for_admins(client, live, factory):
    admin = factory.admin()
    registers.finalise(live.trainer, live.meeting.id)
    login(client, admin)
    page = client.get(f"/meetings/{live.meeting.id}/roster").get_data(as_text=True)
    assert "Reopen the register" in page
    short = client.post(f"/meetings/{live.meeting.id}/attendance/reopen", data={"reason": ""})
    assert short.status_code == 422
    done = client.post(f"/meetings/{live.meeting.id}/attendance/reopen", data={"reason": "Correction"})
    assert done.status_code == 302
    db.session.expire_all()
    assert live.meeting.finalised_at is None


def test_one_tap_finalise_on_the_roster_page(client, live):
    login(client, live.trainer)
    page = client.get(f"/meetings/{live.meeting.id}/roster").get_data(as_text=True)
    assert 'id="finalise-register"' in page
    response = client.post(f"/meetings/{live.meeting.id}/attendance/finalise")
    assert response.status_code == 302
    db.session.expire_all()
    assert live.meeting.finalised_by_id == live.trainer.id


# --- certificates wait for every register ------------------------------------------------


def test_issue_skips_everyone_while_a_register_is_open(factory):
    admin, trainer = factory.admin(), factory.trainer()
    run = factory.past_run(meetings=3, trainers=[trainer], finalised=False)
    e = factory.enrolment(run)
    present(trainer, run, e)
    factory.finalise(run.meetings[:2], by=trainer)
    result = certificates.issue_for_run(admin, run.id)
    assert result["issued"] == []
    (skip,) = result["skipped"]
    assert skip["reason"] == "register_open"
    assert skip["message"] == "The registers of 1 of 3 meetings are not finalised yet."
    registers.finalise(trainer, run.meetings[2].id)
    assert [i["enrolment_id"] for i in certificates.issue_for_run(admin, run.id)["issued"]] == [e.id]


def test_auto_issue_waits_for_the_registers(factory):
    trainer = factory.trainer()
    run = factory.past_run(factory.course(auto_issue=True), meetings=2, trainers=[trainer], finalised=False)
    e = factory.enrolment(run)
    present(trainer, run, e)
    assert certificates.auto_issue_due() == {}
    registers.finalise(trainer, run.meetings[0].id)
    assert certificates.auto_issue_due() == {}
    registers.finalise(trainer, run.meetings[1].id)
    assert certificates.auto_issue_due() == {run.id: 1}


def test_one_trainees_check_in_does_not_complete_the_meeting_for_everyone(factory, live):
    """The final meeting counted as "taken" once anyone checked in: no longer."""
    a, b = live.enrolments[0], live.enrolments[1]
    for m in live.run.meetings[1:]:
        db.session.delete(m)
    db.session.commit()
    services.mark(live.trainer, live.meeting.id, [{"enrolment_id": a.id, "status": "present"}])
    verdicts = dict(services.eligibility_for_run(live.run.id))
    assert verdicts[a].code == verdicts[b].code == "register_open"


# --- open registers ------------------------------------------------------------------------


def test_today_lists_the_trainers_open_registers_and_admins_see_those_of_ended_runs(client, factory):
    trainer, other, admin = factory.trainer(name="Li Wei"), factory.trainer(), factory.admin()
    ended = factory.past_run(factory.course(title="Ended course"), meetings=2, trainers=[trainer], finalised=False)
    factory.finalise(ended.meetings[:1])
    running = factory.run(
        factory.course(title="Running course"), meetings=2, trainers=[trainer], start=now() - timedelta(hours=20)
    )  # the first meeting is over, the second starts in four hours
    assert [m.id for m in services.open_registers(trainer)] == [ended.meetings[1].id, running.meetings[0].id]
    assert services.open_registers(other) == []
    assert [m.id for m in services.open_registers(admin)] == [ended.meetings[1].id]  # ended runs only
    login(client, trainer)
    page = client.get("/teaching").get_data(as_text=True)
    assert "Registers to finalise" in page and "Ended course" in page
    login(client, admin)
    assert "Open registers of ended runs" in client.get("/teaching").get_data(as_text=True)


def test_trainers_are_reminded_the_next_morning_once(app, factory, mailbox, runner):
    trainer = factory.trainer(name="王老师", locale="zh")
    utc = UTC
    # Shanghai: 09:00-17:00 on 19 November, and 06:00-08:00 on 20 November.
    yesterday = factory.run(
        factory.course(title="Yesterday course"),
        meetings=1,
        trainers=[trainer],
        hours=8,
        start=datetime(2026, 11, 19, 1, 0, tzinfo=utc),
    )
    early = factory.run(
        factory.course(title="Early course"),
        meetings=1,
        trainers=[trainer],
        hours=2,
        start=datetime(2026, 11, 19, 22, 0, tzinfo=utc),
    )
    done = factory.past_run(meetings=1, trainers=[trainer])  # finalised: never reminded
    morning = datetime(2026, 11, 20, 1, 0, tzinfo=utc)  # 09:00 in Shanghai
    assert registers.remind_open_registers(now=morning - timedelta(hours=3)) == {}  # 06:00: not yet
    assert registers.remind_open_registers(now=morning) == {trainer.id: 1}
    (message,) = mailbox()
    assert message["To"] == trainer.email and message["Subject"] == "待签署的签到表：1 份"
    body = message.get_content()
    assert "Yesterday course" in body and "Early course" not in body
    assert f"/meetings/{yesterday.meetings[0].id}/roster" in body
    # Two schedulers, or the same one again: nothing more.
    assert registers.remind_open_registers(now=morning) == {}
    assert registers.remind_open_registers(now=morning + timedelta(hours=1)) == {}
    # The next morning the early meeting's register is reminded, once.
    assert registers.remind_open_registers(now=morning + timedelta(days=1)) == {trainer.id: 1}
    assert len(mailbox()) == 2 and sum("Early course" in m.get_content() for m in mailbox()) == 1
    assert done.meetings[0].register_reminded_at is None
    out = runner.invoke(args=["attendance", "remind-open-registers"])
    assert out.exit_code == 0 and "Reminded 0 trainers" in out.output
    assert early.meetings[0].register_reminded_at is not None
