"""Companies, coordinators and people through the JSON API: who may do what,
and refusals that change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import api
from training.accounts.models import User
from training.companies.models import Company, CompanyInvitation
from training.extensions import db


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_admin_creates_a_company_and_reads_it(client, factory):
    admin = factory.admin()
    caller = api(client, admin)
    r = caller.post(
        "/api/v1/companies",
        json={
            "code": "sz-auto",
            "name": "Suzhou Auto Parts",
            "name_zh": "苏州汽车零部件",
            "credit_code": "91320500MA1XYZ1234",
        },
    )
    assert r.status_code == 201, r.json
    body = r.json
    assert body["id"] and body["code"] == "SZ-AUTO" and body["name_zh"] == "苏州汽车零部件"
    assert r.headers["Location"].endswith(f"/api/v1/companies/{body['id']}")
    assert caller.get(f"/api/v1/companies/{body['id']}").json["credit_code"] == "91320500MA1XYZ1234"


@pytest.mark.parametrize(
    "data, field",
    [
        ({"name": "No code"}, "code"),
        ({"code": "X1"}, "name"),
        ({"code": "a b!", "name": "Bad code"}, "code"),
        ({"code": 5, "name": "N"}, "code"),
        ({"code": "X2", "name": ["list"]}, "name"),
        ({"code": "X3", "name": "N", "credit_code": "91 32$"}, "credit_code"),
        ({"code": "X" * 40, "name": "Too long"}, "code"),
    ],
)
def test_bad_company_input_is_422_and_saves_nothing(client, factory, data, field):
    caller = api(client, factory.admin())
    r = caller.post("/api/v1/companies", json=data)
    assert r.status_code == 422
    assert field in r.json["error"]["fields"]
    assert _count(Company) == 0


def test_duplicate_code_is_409(client, factory):
    factory.company(code="DUP")
    r = api(client, factory.admin()).post("/api/v1/companies", json={"code": "dup", "name": "Again"})
    assert r.status_code == 409 and r.json["error"]["code"] == "company_exists"


def test_only_admins_create_companies(client, factory):
    company = factory.company()
    for user in (factory.trainee(), factory.trainer(), factory.coordinator(company)):
        assert api(client, user).post("/api/v1/companies", json={"code": "N1", "name": "N"}).status_code == 403
    assert api(client).post("/api/v1/companies", json={"code": "N1", "name": "N"}).status_code == 401
    assert _count(Company) == 1


def test_a_coordinator_sees_their_company_and_not_another(client, factory):
    mine, other = factory.company(), factory.company()
    coordinator = factory.coordinator(mine)
    caller = api(client, coordinator)
    assert caller.get(f"/api/v1/companies/{mine.id}").status_code == 200
    for path in (
        f"/api/v1/companies/{other.id}",
        f"/api/v1/companies/{other.id}/people",
        f"/api/v1/companies/{other.id}/report",
        "/api/v1/companies/999999",
    ):
        r = caller.get(path)
        assert r.status_code == 404, path
        assert r.json["error"]["code"] == "not_found"
    r = caller.post(f"/api/v1/companies/{other.id}/people", json={"email": "x@example.com", "name": "X"})
    assert r.status_code == 404
    assert factory and find("x@example.com") is None


def find(email):
    return db.session.scalar(select(User).where(User.email == email))


def test_admin_names_a_coordinator_who_sets_a_password_through_the_invitation(client, factory, mailbox):
    company = factory.company(name="Weber Maschinenbau Suzhou")
    r = api(client, factory.admin()).post(
        f"/api/v1/companies/{company.id}/coordinators", json={"email": "Hr@Weber.example", "name": "Anna Weber"}
    )
    assert r.status_code == 201, r.json
    assert r.json["role"] == "coordinator" and r.json["status"] == "member" and r.json["company_id"] == company.id
    user = find("hr@weber.example")
    assert user.role == "coordinator" and user.company_id == company.id and user.password_hash is None
    mails = [m for m in mailbox() if m["To"] == "hr@weber.example"]
    assert len(mails) == 1 and "coordinator" in mails[0]["Subject"]
    link = [w for w in mails[0].get_content().split() if "/invitations/" in w][0]
    path = link[link.index("/invitations/") :]
    page = client.get(path)
    assert page.status_code == 200
    done = client.post(
        path, data={"name": "Anna Weber", "password": "a long secret 2026", "confirm": "a long secret 2026"}
    )
    assert done.status_code == 302
    db.session.expire_all()
    assert find("hr@weber.example").password_hash


def test_coordinators_cannot_name_coordinators(client, factory):
    company = factory.company()
    caller = api(client, factory.coordinator(company))
    r = caller.post(f"/api/v1/companies/{company.id}/coordinators", json={"email": "c2@example.com", "name": "C"})
    assert r.status_code == 403
    assert find("c2@example.com") is None


def test_a_coordinator_adds_people_and_lists_them(client, factory):
    company = factory.company()
    caller = api(client, factory.coordinator(company))
    r = caller.post(f"/api/v1/companies/{company.id}/people", json={"email": "wang.fang@example.com", "name": "王芳"})
    assert r.status_code == 201 and r.json["status"] == "member"
    person = find("wang.fang@example.com")
    assert person.company_id == company.id and person.role == "trainee" and person.locale == "zh"
    again = caller.post(
        f"/api/v1/companies/{company.id}/people", json={"email": "wang.fang@example.com", "name": "王芳"}
    )
    assert again.status_code == 409 and again.json["error"]["code"] == "already_member"
    listed = caller.get(f"/api/v1/companies/{company.id}/people").json
    assert [p["email"] for p in listed["items"] if p["role"] == "trainee"] == ["wang.fang@example.com"]


def test_an_existing_account_is_invited_and_joins_when_signing_in(client, factory):
    company = factory.company()
    outsider = factory.trainee(email="li.lei@example.com")
    caller = api(client, factory.coordinator(company))
    r = caller.post(f"/api/v1/companies/{company.id}/people", json={"email": "li.lei@example.com", "name": "Li Lei"})
    assert r.status_code == 201 and r.json["status"] == "pending"
    db.session.expire_all()
    assert db.session.get(User, outsider.id).company_id is None
    assert [
        p["status"]
        for p in caller.get(f"/api/v1/companies/{company.id}/people").json["items"]
        if p["email"] == "li.lei@example.com"
    ] == ["pending"]
    login = client.post("/login", data={"email": "li.lei@example.com", "password": "correct horse battery staple"})
    assert login.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, outsider.id).company_id == company.id
    assert db.session.scalar(select(CompanyInvitation.status)) == "linked"


@pytest.mark.parametrize("role", ["trainee", "coordinator"])
def test_a_coordinators_invitation_does_not_take_a_person_out_of_another_company(client, factory, role):
    """Signing in joined the newest invited company whatever company the person was in: a coordinator of A
    took a trainee of B (their people, enrolments and qualifications then showed to A, no longer to B) by
    adding their address, and B's own coordinator, invited as a person, became a coordinator of A. Only an
    admin moves people between companies; such an invitation stays pending (A is told nothing more)."""
    a, b = factory.company(), factory.company()
    person = factory.coordinator(b) if role == "coordinator" else factory.member(b)
    caller = api(client, factory.coordinator(a))
    r = caller.post(f"/api/v1/companies/{a.id}/people", json={"email": person.email, "name": "Li Lei"})
    assert r.status_code == 201 and r.json["status"] == "pending"  # as for any existing account
    signed_in = client.post("/login", data={"email": person.email, "password": "correct horse battery staple"})
    assert signed_in.status_code == 302
    db.session.expire_all()
    stayed = db.session.get(User, person.id)
    assert (stayed.company_id, stayed.role) == (b.id, role)
    assert db.session.scalar(select(CompanyInvitation.status)) == "pending"
    assert caller.get(f"/api/v1/companies/{a.id}/people").json["items"][-1]["status"] == "pending"
    assert api(client, person).get(f"/api/v1/companies/{a.id}").status_code in (403, 404)
    # an admin's invitation is the admin moving them: it is taken up on sign-in
    client.post("/logout")
    api(client, factory.admin()).post(f"/api/v1/companies/{a.id}/people", json={"email": person.email, "name": "Li"})
    client.post("/login", data={"email": person.email, "password": "correct horse battery staple"})
    db.session.expire_all()
    moved = db.session.get(User, person.id)
    assert (moved.company_id, moved.role) == (a.id, "trainee")  # B's coordinator is not A's


def test_an_invited_address_without_account_joins_on_registration(client, factory):
    company = factory.company()
    from training.companies.services import add_person

    add_person(factory.admin(), company.id, "new.person@example.com", "New Person")
    # add_person made the account in the company already (no password yet)
    assert find("new.person@example.com").company_id == company.id


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"email": "x@example.com"},
        {"email": 3, "name": "N"},
        {"email": "not-an-address", "name": "N"},
        {"email": "a@example.com", "name": ""},
        {"email": "a@example.com", "name": "x" * 300},
    ],
)
def test_bad_people_input_is_422_and_saves_nothing(client, factory, data):
    company = factory.company()
    caller = api(client, factory.coordinator(company))
    before = _count(User)
    r = caller.post(f"/api/v1/companies/{company.id}/people", json=data)
    assert r.status_code == 422, r.json
    assert _count(User) == before and _count(CompanyInvitation) == 0


def test_the_cli_creates_a_coordinator_of_a_company(runner, factory):
    company = factory.company(code="EMS-KS")
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "hr@ems.example",
            "--name",
            "HR Chen",
            "--role",
            "coordinator",
            "--company",
            "ems-ks",
            "--password",
            "a long secret 2026",
        ]
    )
    assert result.exit_code == 0, result.output
    user = find("hr@ems.example")
    assert user.role == "coordinator" and user.company_id == company.id
    missing = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "x@ems.example",
            "--name",
            "X",
            "--role",
            "coordinator",
            "--password",
            "a long secret 2026",
        ]
    )
    assert missing.exit_code != 0 and find("x@ems.example") is None
