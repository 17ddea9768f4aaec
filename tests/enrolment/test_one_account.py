"""One address, one account, one enrolment: on-behalf enrolments, imports and
registration meeting the same address one after the other (the simultaneous
proof on PostgreSQL is test_one_account_pg.py)."""

from __future__ import annotations

import pytest

from tests.conftest import api
from training.accounts.models import User
from training.accounts.services import create_user, ensure_trainees
from training.audit import AuditEntry
from training.enrolment import imports, services
from training.enrolment.models import Enrolment
from training.errors import AlreadyEnrolled, Conflict
from training.extensions import db


def _users(email):
    return db.session.query(User).filter_by(email=email).all()


def test_ensure_trainees_creates_each_address_once(factory):
    admin = factory.admin()
    people = [
        {"email": "a@example.com", "name": "A"},
        {"email": "b@example.com", "name": "B", "locale": "zh"},
        {"email": "a@example.com", "name": "A again"},
    ]
    users, created = ensure_trainees(people, actor=admin)
    assert created == {"a@example.com", "b@example.com"}
    assert users["a@example.com"].display_name == "A" and users["b@example.com"].locale == "zh"
    assert users["a@example.com"].role == "trainee" and users["a@example.com"].password_hash is None
    again, created_again = ensure_trainees(people, actor=admin)
    assert created_again == set() and again["a@example.com"].id == users["a@example.com"].id
    assert db.session.query(AuditEntry).filter_by(action="user.create", target_type="User").count() == 2


def test_enrolling_a_new_person_twice_names_the_one_enrolment(factory):
    admin = factory.admin()
    run = factory.run()
    first, created = services.enrol_person(admin, run.id, "New.Person@Example.com", "New Person")
    assert created
    with pytest.raises(AlreadyEnrolled) as exc:
        services.enrol_person(admin, run.id, "new.person@example.com", "Someone Else")
    assert exc.value.extra["enrolment_id"] == first.id and exc.value.status == 409
    assert len(_users("new.person@example.com")) == 1
    assert _users("new.person@example.com")[0].display_name == "New Person"


def test_import_then_on_behalf_and_back_share_the_account(factory):
    admin = factory.admin()
    run, other = factory.run(), factory.run()
    result = imports.commit(admin, run.id, [{"row": 1, "email": "x@example.com", "name": "X"}])
    assert result.enrolled == 1 and result.accounts_created == 1
    with pytest.raises(AlreadyEnrolled):
        services.enrol_person(admin, run.id, "x@example.com", "X")
    enrolment, created = services.enrol_person(admin, other.id, "y@example.com", "Y")
    again = imports.commit(
        admin,
        other.id,
        [{"row": 1, "email": "Y@example.com", "name": "Y"}, {"row": 2, "email": "z@example.com", "name": "Z"}],
    )
    assert again.enrolled == 1 and again.existing == 1 and again.accounts_created == 1
    assert db.session.query(Enrolment).filter_by(run_id=other.id, user_id=enrolment.user_id).count() == 1
    assert len(_users("x@example.com")) == len(_users("y@example.com")) == 1


def test_import_refusals_save_no_account(factory):
    admin = factory.admin()
    run = factory.run()
    rows = [
        {"row": 1, "email": "ok@example.com", "name": "Ok"},
        {"row": 2, "email": "bad", "name": "Bad"},
        {"row": 3, "email": "nameless@example.com", "name": ""},
    ]
    with pytest.raises(Exception) as exc:
        imports.commit(admin, run.id, rows)
    assert getattr(exc.value, "code", "") == "import_invalid"
    assert _users("ok@example.com") == [] and _users("nameless@example.com") == []
    # the JSON import saves the valid rows and reports the others, the nameless one included
    result = imports.commit(admin, run.id, rows, all_or_nothing=False)
    assert result.enrolled == 1 and sorted(e["row"] for e in result.errors) == [2, 3]
    assert _users("nameless@example.com") == []


def test_registering_a_taken_address_is_a_clear_refusal(factory):
    factory.trainee(email="taken@example.com")
    with pytest.raises(Conflict) as exc:
        create_user(email="TAKEN@example.com", name="Other", password="a long enough passphrase")
    assert exc.value.code == "email_taken"
    assert len(_users("taken@example.com")) == 1


def test_api_on_behalf_twice_gives_the_enrolment_then_a_409_naming_it(client, factory):
    admin = factory.admin()
    run = factory.run()
    caller = api(client, admin)
    first = caller.post(f"/api/v1/runs/{run.id}/enrolments", json={"email": "p@example.com", "name": "P"})
    assert first.status_code == 201
    second = caller.post(f"/api/v1/runs/{run.id}/enrolments", json={"email": "P@example.com", "name": "P"})
    assert second.status_code == 409
    assert second.json["error"]["code"] == "already_enrolled"
    assert second.json["error"]["enrolment_id"] == first.json["id"]
