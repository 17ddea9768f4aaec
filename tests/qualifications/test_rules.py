"""The rules of issue 14: grants follow certificates in their transaction, states on a date,
coverage counts, reminders once, refusals for the wrong person and bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import api, login
from training.certificates import services as certificates
from training.extensions import db
from training.qualifications import services
from training.qualifications.models import Grant, QualificationReminder, QualificationState, grant_state
from training.types import org_today


def _issue(plant):
    code = certificates.issue_for_run(plant.admin, plant.past_run.id)["issued"][0]["code"]
    return certificates.get_by_code(code)


def _grants(user_id=None):
    stmt = select(Grant).order_by(Grant.id)
    if user_id:
        stmt = stmt.where(Grant.user_id == user_id)
    return list(db.session.scalars(stmt))


def test_issuing_a_certificate_grants_its_skills_in_the_same_transaction(plant):
    cert = _issue(plant)
    [g] = _grants(plant.trainee.id)
    assert (g.skill_id, g.level, g.source, g.certificate_id) == (plant.skill.id, 2, "certificate", cert.id)
    assert g.valid_from == cert.completed_on
    # The skill lapses after 12 months, the certificate after 24: the earlier end wins.
    assert g.valid_until == date(cert.completed_on.year + 1, cert.completed_on.month, cert.completed_on.day)


def test_a_failing_subscriber_leaves_no_certificate(plant, monkeypatch):
    from training import signals

    def boom(sender, **kw):
        raise RuntimeError("subscriber failed")

    signals.certificate_issued.connect(boom)
    try:
        with pytest.raises(RuntimeError):
            certificates.issue_for_run(plant.admin, plant.past_run.id)
    finally:
        signals.certificate_issued.disconnect(boom)
    db.session.rollback()
    from training.certificates.models import Certificate

    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0
    assert _grants() == []


def test_revoking_the_certificate_revokes_its_grants(plant):
    cert = _issue(plant)
    certificates.revoke(plant.admin, cert.code, "Wrong person")
    [g] = _grants(plant.trainee.id)
    assert g.revoked_at is not None and "Wrong person" in g.revoked_reason
    assert g.state_on(org_today()) is QualificationState.revoked
    cov = services.position_coverage(plant.admin, plant.position.id, org_today())[1][0]
    assert cov.qualified == [] and cov.gap == 2


def test_a_reissue_replaces_the_grants(plant, client):
    cert = _issue(plant)
    new = certificates.reissue(plant.admin, cert.code, "欧阳 晓燕")
    old_grant, new_grant = _grants(plant.trainee.id)
    assert old_grant.replaced_by_id == new_grant.id and old_grant.revoked_at is not None
    assert new_grant.certificate_id == new.id and new_grant.valid_until == old_grant.valid_until
    items = api(client, plant.trainee).get(f"/api/v1/people/{plant.trainee.id}/qualifications").json["items"]
    assert [(i["certificate_code"], i["state"]) for i in items] == [(new.code, "valid")]


def test_state_on_a_date_valid_expiring_expired_revoked(app):
    until = date(2027, 3, 31)
    assert grant_state(date(2026, 1, 1), until, None, date(2026, 12, 30), 90) is QualificationState.valid
    assert grant_state(date(2026, 1, 1), until, None, date(2026, 12, 31), 90) is QualificationState.expiring
    assert (
        grant_state(date(2026, 1, 1), until, None, until, 90) is QualificationState.expiring
    )  # valid through its last day
    assert grant_state(date(2026, 1, 1), until, None, until + timedelta(days=1), 90) is QualificationState.expired
    assert grant_state(date(2026, 1, 1), None, None, date(2200, 1, 1), 90) is QualificationState.valid
    assert grant_state(date(2026, 1, 1), until, None, date(2025, 12, 31), 90) is None  # not yet
    # Revoked at 23:30 UTC on 31 March is 1 April in Shanghai: still valid on 31 March there.
    revoked = datetime(2027, 3, 31, 23, 30, tzinfo=UTC)
    assert grant_state(date(2026, 1, 1), None, revoked, date(2027, 3, 31), 90) is QualificationState.valid
    assert grant_state(date(2026, 1, 1), None, revoked, date(2027, 4, 1), 90) is QualificationState.revoked


def test_expiry_on_the_date_through_the_api(plant, client):
    _issue(plant)
    [g] = _grants(plant.trainee.id)
    person = api(client, plant.admin)
    url = f"/api/v1/people/{plant.trainee.id}/qualifications?on="
    assert person.get(url + g.valid_until.isoformat()).json["items"][0]["state"] == "expiring"
    assert person.get(url + (g.valid_until + timedelta(days=1)).isoformat()).json["items"][0]["state"] == "expired"
    assert person.get(url + (g.valid_until - timedelta(days=91)).isoformat()).json["items"][0]["state"] == "valid"


def test_coverage_counts_qualified_expiring_and_gap(plant, factory, client):
    others = [factory.trainee(name=f"Operator {i}") for i in range(3)]
    today = org_today()
    caller = api(client, plant.admin)
    assert (
        caller.put(
            f"/api/v1/positions/{plant.position.id}/people",
            json={"user_ids": [plant.trainee.id] + [o.id for o in others]},
        ).status_code
        == 200
    )

    def grant(who, **kw):
        return caller.post(
            f"/api/v1/people/{who.id}/qualifications",
            json=dict(skill_id=plant.skill.id, evidence="Observed on line 3", **kw),
        )

    assert grant(others[0], level=3).status_code == 201  # valid
    assert grant(others[1], level=2, valid_until=(today + timedelta(days=10)).isoformat()).status_code == 201
    assert grant(others[2], level=1).status_code == 201  # too low
    body = caller.get(f"/api/v1/positions/{plant.position.id}/coverage?on={today.isoformat()}").json
    [req] = body["requirements"]
    assert body["position_id"] == plant.position.id and body["on"] == today.isoformat()
    assert sorted(req["qualified"]) == sorted([others[0].id, others[1].id]) and req["expiring"] == [others[1].id]
    assert (req["min_people"], req["level"], req["gap"]) == (2, 2, 0)
    later = (today + timedelta(days=11)).isoformat()
    assert caller.get(f"/api/v1/positions/{plant.position.id}/coverage?on={later}").json["requirements"][0]["gap"] == 1
    who = caller.get(f"/api/v1/qualified?skill=SMT-OP&level=2&on={today.isoformat()}").json["items"]
    assert {i["user_id"] for i in who} == {others[0].id, others[1].id}
    assert caller.get("/api/v1/qualified?skill=SMT-OP&level=3").json["items"][0]["user_id"] == others[0].id


def test_api_create_skill_course_skills_and_position(plant, client):
    caller = api(client, plant.admin)
    r = caller.post(
        "/api/v1/skills", json={"code": "AOI-1", "name": "AOI inspection", "name_zh": "AOI 检测", "validity_months": 18}
    )
    assert r.status_code == 201 and [lv["code"] for lv in r.json["levels"]] == ["I", "L", "U", "O"]
    custom = caller.post("/api/v1/skills", json={"code": "X-2", "name": "Two levels", "levels": ["basic", "expert"]})
    assert custom.status_code == 201 and len(custom.json["levels"]) == 2
    assert caller.post("/api/v1/skills", json={"code": "AOI-1", "name": "again"}).status_code == 409
    r2 = caller.put(
        f"/api/v1/courses/{plant.course.id}/skills",
        json={"grants": [{"skill_id": r.json["id"], "level": 1}, {"skill_id": plant.skill.id, "level": 2}]},
    )
    assert r2.status_code == 200 and len(r2.json["grants"]) == 2
    assert (
        caller.put(
            f"/api/v1/courses/{plant.course.id}/skills", json={"grants": [{"skill_id": custom.json["id"], "level": 3}]}
        ).status_code
        == 422
    )
    p = caller.post(
        "/api/v1/positions",
        json={
            "code": "L3-AOI",
            "name": "AOI",
            "site": "Wuxi",
            "requirements": [{"skill_id": r.json["id"], "level": 2, "min_people": 3}],
        },
    )
    assert p.status_code == 201 and p.json["requirements"] == [{"skill_id": r.json["id"], "level": 2, "min_people": 3}]
    assert len(caller.get("/api/v1/skills").json["items"]) == 3


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"skill_id": "x", "level": 1, "evidence": "e"},
        {"skill_id": 1, "level": 0, "evidence": "e"},
        {"skill_id": 1, "level": 5, "evidence": "e"},
        {"skill_id": 1, "level": 2, "evidence": ""},
        {"skill_id": 1, "level": 2, "evidence": "e", "valid_until": "2026-02-30"},
        {"skill_id": 1, "level": 2, "evidence": "e", "valid_until": "1900-01-01"},
        {"skill_id": 1, "level": True, "evidence": "e"},
        {"skill_id": 1, "level": 2, "evidence": ["e"]},
        {"skill_id": 1, "level": 2, "evidence": "e", "source": "certificate"},
        {"skill_id": 999999, "level": 2, "evidence": "e"},
    ],
)
def test_bad_grants_are_refused_and_change_nothing(plant, client, body):
    if body.get("skill_id") == 1:
        body = dict(body, skill_id=plant.skill.id)
    response = api(client, plant.assessor).post(f"/api/v1/people/{plant.trainee.id}/qualifications", json=body)
    assert response.status_code == 422, response.json
    assert set(response.json["error"]) == {"code", "message", "fields"}
    assert _grants() == []


def test_roles_for_grants_and_views(plant, factory, client):
    url = f"/api/v1/people/{plant.trainee.id}/qualifications"
    body = {"skill_id": plant.skill.id, "level": 3, "evidence": "Assessed at station 3"}
    for user in (plant.trainee, plant.trainer):
        assert api(client, user).post(url, json=body).status_code == 403
    assert api(client).post(url, json=body).status_code == 401
    assert api(client, plant.assessor).post(url, json=body).status_code == 201
    # Nobody grants to themself, not even an admin.
    own = api(client, plant.admin).post(f"/api/v1/people/{plant.admin.id}/qualifications", json=body)
    assert own.status_code == 403
    # Trainees see their own; the trainer of their run sees them; another trainer and trainee do not.
    assert api(client, plant.trainee).get(url).status_code == 200
    assert api(client, plant.trainer).get(url).status_code == 200
    assert api(client, factory.trainer()).get(url).status_code == 403
    assert api(client, factory.trainee()).get(url).status_code == 403
    assert api(client, plant.assessor).get(f"/api/v1/positions/{plant.position.id}/coverage").status_code == 200
    assert api(client, plant.trainer).get(f"/api/v1/positions/{plant.position.id}/coverage").status_code == 403
    assert api(client, plant.assessor).post("/api/v1/skills", json={"code": "Z", "name": "z"}).status_code == 403
    from training.audit import AuditEntry

    assert (
        db.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "qualification.grant")
        )
        == 1
    )


@pytest.mark.parametrize("query", ["on=yesterday", "on=2026-13-01", "on=99999-01-01", "on=1969-12-31"])
def test_bad_dates_are_422(plant, client, query):
    r = api(client, plant.admin).get(f"/api/v1/people/{plant.trainee.id}/qualifications?{query}")
    assert r.status_code == 422 and "on" in r.json["error"]["fields"]


def test_reminders_go_once_per_stage_to_person_and_admins_in_their_language(plant, factory, mailbox):
    plant.trainee.locale = "zh"
    db.session.commit()
    _issue(plant)
    [g] = _grants(plant.trainee.id)

    def day(n):
        return g.valid_until - timedelta(days=n)

    assert services.send_renewal_reminders(today=day(100)) == 0
    assert services.send_renewal_reminders(today=day(90)) == 1
    assert services.send_renewal_reminders(today=day(89)) == 0  # once
    assert services.send_renewal_reminders(today=day(30)) == 1
    assert services.send_renewal_reminders(today=day(7)) == 1
    assert services.send_renewal_reminders(today=day(3)) == 0
    assert services.send_renewal_reminders(today=g.valid_until + timedelta(days=1)) == 0
    stages = sorted(db.session.scalars(select(QualificationReminder.days_before)))
    assert stages == [7, 30, 90]
    messages = mailbox()
    assert len(messages) == 6  # 3 stages x (the person + one admin)
    to_person = [m for m in messages if m["To"] == plant.trainee.email]
    assert len(to_person) == 3 and all("资质" in m["Subject"] for m in to_person)
    assert all("Qualification expiring" in m["Subject"] for m in messages if m["To"] == plant.admin.email)


def test_a_late_grant_gets_only_the_nearest_reminder(plant, client, mailbox):
    today = org_today()
    api(client, plant.assessor).post(
        f"/api/v1/people/{plant.trainee.id}/qualifications",
        json={
            "skill_id": plant.skill.id,
            "level": 2,
            "evidence": "e",
            "valid_until": (today + timedelta(days=20)).isoformat(),
        },
    )
    assert services.send_renewal_reminders(today=today) == 1
    assert services.send_renewal_reminders(today=today + timedelta(days=5)) == 0
    assert services.send_renewal_reminders(today=today + timedelta(days=13)) == 1  # the 7-day stage
    assert len(mailbox()) == 4


def test_cli_remind_expiring(plant, runner):
    _issue(plant)
    [g] = _grants(plant.trainee.id)
    out = runner.invoke(
        args=["qualifications", "remind-expiring", "--today", (g.valid_until - timedelta(days=30)).isoformat()]
    )
    assert out.exit_code == 0 and "Sent 1" in out.output
    again = runner.invoke(
        args=["qualifications", "remind-expiring", "--today", (g.valid_until - timedelta(days=29)).isoformat()]
    )
    assert "No qualification" in again.output
    assert runner.invoke(args=["qualifications", "remind-expiring", "--today", "nope"]).exit_code != 0


def test_renewals_list_shows_expiring_grants(plant, client):
    today = org_today()
    api(client, plant.assessor).post(
        f"/api/v1/people/{plant.trainee.id}/qualifications",
        json={
            "skill_id": plant.skill.id,
            "level": 2,
            "evidence": "e",
            "valid_until": (today + timedelta(days=20)).isoformat(),
        },
    )
    login(client, plant.admin)
    page = client.get("/admin/certificates/renewals").get_data(as_text=True)
    assert "SMT-OP" in page and plant.trainee.display_name in page


def test_open_badges_credential_names_the_skills_it_grants(plant, client):
    cert = _issue(plant)
    body = client.get(f"/verify/{cert.code}/badge.json").get_json()
    [alignment] = body["credentialSubject"]["achievement"]["alignment"]
    assert alignment["targetCode"] == "SMT-OP" and alignment["type"] == ["Alignment"]
    assert "SMT 产线操作" in alignment["targetName"] and alignment["targetDescription"].startswith("Level L")
    page = client.get(alignment["targetUrl"].replace("http://localhost", ""))
    assert page.status_code == 200 and "SMT-OP" in page.get_data(as_text=True)
    assert client.get("/qualifications/skills/NOPE").status_code == 404


def test_the_expiring_window_is_configurable(plant, client, app):
    today = org_today()
    caller = api(client, plant.assessor)
    assert (
        caller.post(
            f"/api/v1/people/{plant.trainee.id}/qualifications",
            json={
                "skill_id": plant.skill.id,
                "level": 2,
                "evidence": "e",
                "valid_until": (today + timedelta(days=40)).isoformat(),
            },
        ).status_code
        == 201
    )
    url = f"/api/v1/people/{plant.trainee.id}/qualifications"
    assert api(client, plant.admin).get(url).json["items"][0]["state"] == "expiring"  # default: 90 days
    app.config["QUALIFICATION_EXPIRING_DAYS"] = 30
    assert api(client, plant.admin).get(url).json["items"][0]["state"] == "valid"
    cov = services.position_coverage(plant.admin, plant.position.id, today)[1][0]
    assert cov.qualified == [plant.trainee.id] and cov.expiring == []
    app.config["QUALIFICATION_EXPIRING_DAYS"] = 45
    cov = services.position_coverage(plant.admin, plant.position.id, today)[1][0]
    assert cov.expiring == [plant.trainee.id]


def test_today_is_the_organisations_date_not_the_servers(plant, client, monkeypatch):
    """A grant valid until 31 March: at 20:00 UTC on 31 March it is already 1 April in Shanghai,
    so the default date of every answer finds it expired; at 15:59 UTC it is still valid there."""
    from training import types

    api(client, plant.assessor).post(
        f"/api/v1/people/{plant.trainee.id}/qualifications",
        json={
            "skill_id": plant.skill.id,
            "level": 2,
            "evidence": "e",
            "valid_from": "2027-01-01",
            "valid_until": "2027-03-31",
        },
    )
    url = f"/api/v1/people/{plant.trainee.id}/qualifications"
    monkeypatch.setattr(types, "utcnow", lambda: datetime(2027, 3, 31, 15, 59, tzinfo=UTC))
    body = api(client, plant.admin).get(url).json
    assert body["on"] == "2027-03-31" and body["items"][0]["state"] == "expiring"
    monkeypatch.setattr(types, "utcnow", lambda: datetime(2027, 3, 31, 20, 0, tzinfo=UTC))
    body = api(client, plant.admin).get(url).json
    assert body["on"] == "2027-04-01" and body["items"][0]["state"] == "expired"
    coverage = api(client, plant.admin).get(f"/api/v1/positions/{plant.position.id}/coverage").json
    assert coverage["on"] == "2027-04-01" and coverage["requirements"][0]["qualified"] == []


def test_revoked_and_renewed_grants_get_no_reminder(plant, client, mailbox):
    today = org_today()
    caller = api(client, plant.assessor)

    def grant(until, level=2):
        r = caller.post(
            f"/api/v1/people/{plant.trainee.id}/qualifications",
            json={"skill_id": plant.skill.id, "level": level, "evidence": "e", "valid_until": until.isoformat()},
        )
        assert r.status_code == 201
        return db.session.get(Grant, r.json["id"])

    old = grant(today + timedelta(days=30))
    grant(today + timedelta(days=400), level=3)  # renewed (higher level, later end): nothing to remind
    assert services.send_renewal_reminders(today=today) == 0
    lapsing = grant(today + timedelta(days=7))  # covered by the 30-day one: no reminder of its own yet
    later = db.session.scalar(select(Grant).where(Grant.level == 3))
    later.revoke(plant.admin.id, "wrong skill")  # the renewal is gone: the 30-day grant is due
    db.session.commit()
    assert services.send_renewal_reminders(today=today) == 1
    old.revoke(plant.admin.id, "wrong station")  # now nothing covers the 7-day one
    db.session.commit()
    assert services.send_renewal_reminders(today=today + timedelta(days=1)) == 1
    lapsing.revoke(plant.admin.id, "assessment annulled")  # a revoked grant is never reminded
    db.session.commit()
    assert services.send_renewal_reminders(today=today + timedelta(days=2)) == 0
    assert {r.grant_id for r in db.session.scalars(select(QualificationReminder))} == {old.id, lapsing.id}
    assert len(mailbox()) == 4


def test_reminders_to_admins_are_in_the_admins_language(plant, mailbox):
    plant.admin.locale = "zh"
    db.session.commit()
    _issue(plant)
    [g] = _grants(plant.trainee.id)
    assert services.send_renewal_reminders(today=g.valid_until - timedelta(days=7)) == 1
    to_admin = [m for m in mailbox() if m["To"] == plant.admin.email]
    assert len(to_admin) == 1 and "资质即将到期" in to_admin[0]["Subject"]
