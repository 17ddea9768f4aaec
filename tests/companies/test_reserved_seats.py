"""Reserved seats: the public sees only unreserved seats, a company's
people take its reserved seats first, releases return unused seats to the
public and the waitlist in order, and every refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import api
from training.attendance.models import Attendance
from training.catalogue.models import SeatAllocation
from training.catalogue.seats import seat_counts, seats_by_run, seats_left
from training.companies import services
from training.enrolment.models import Enrolment
from training.extensions import db
from training.types import utcnow


@pytest.fixture
def setup(factory):
    admin = factory.admin()
    company = factory.company(code="SZ-AUTO", name="Suzhou Auto Parts")
    coordinator = factory.coordinator(company, name="HR Zhang")
    run = factory.run(capacity=6)
    return admin, company, coordinator, run


def _enrol_as(client, user, run, email, name="Someone"):
    return api(client, user).post(f"/api/v1/runs/{run.id}/enrolments", json={"email": email, "name": name})


def test_admin_reserves_seats_and_the_public_sees_only_the_rest(client, setup):
    admin, company, _coordinator, run = setup
    r = api(client, admin).post(
        f"/api/v1/runs/{run.id}/allocations",
        json={"company_id": company.id, "seats": 4, "release_at": "2030-01-01T09:00:00"},
    )
    assert r.status_code == 201, r.json
    assert r.json["seats"] == 4 and r.json["used"] == 0 and r.json["release_at"] == "2030-01-01T01:00:00+00:00"
    assert client.get(f"/api/v1/runs/{run.id}").json["seats_left"] == 2
    assert seats_by_run([run]) == {run.id: 2} == {run.id: seats_left(run)}
    listed = api(client, admin).get(f"/api/v1/runs/{run.id}/allocations").json["items"]
    assert [a["company_id"] for a in listed] == [company.id]


def test_a_coordinator_enrols_into_reserved_seats_first_then_public_seats(client, factory, setup):
    _admin, company, coordinator, run = setup
    factory.allocation(run, company, 2)
    statuses = [_enrol_as(client, coordinator, run, f"p{i}@sz-auto.example") for i in range(5)]
    assert [r.status_code for r in statuses] == [201, 201, 201, 201, 201]
    assert all(r.json["status"] == "confirmed" and r.json["company_id"] == company.id for r in statuses)
    counts = seat_counts(run)
    assert counts.confirmed == 5 and counts.held == 0 and counts.public == 1
    # The public took nothing reserved: a trainee gets the last public seat, the next one waits.
    assert api(client, factory.trainee()).post(f"/api/v1/runs/{run.id}/enrolments").json["status"] == "confirmed"
    assert api(client, factory.trainee()).post(f"/api/v1/runs/{run.id}/enrolments").json["status"] == "waitlisted"
    late = _enrol_as(client, coordinator, run, "late@sz-auto.example")
    assert late.status_code == 409 and late.json["error"]["code"] == "no_company_seat"


def test_without_overflow_a_coordinator_only_uses_reserved_seats(client, factory, setup):
    _admin, company, coordinator, run = setup
    factory.allocation(run, company, 1, overflow=False)
    assert _enrol_as(client, coordinator, run, "a@sz-auto.example").json["status"] == "confirmed"
    before = db.session.scalar(select(func.count()).select_from(Enrolment))
    r = _enrol_as(client, coordinator, run, "b@sz-auto.example")
    assert r.status_code == 409 and r.json["error"]["code"] == "no_company_seat"
    assert db.session.scalar(select(func.count()).select_from(Enrolment)) == before


def test_the_public_waitlist_does_not_take_reserved_seats(client, factory, setup):
    _admin, company, coordinator, run = setup
    factory.allocation(run, company, 3)
    for _ in range(3):
        api(client, factory.trainee()).post(f"/api/v1/runs/{run.id}/enrolments")
    waiting = api(client, factory.trainee()).post(f"/api/v1/runs/{run.id}/enrolments").json
    assert waiting["status"] == "waitlisted"
    assert _enrol_as(client, coordinator, run, "c@sz-auto.example").json["status"] == "confirmed"


def test_reductions_below_confirmed_and_reservations_beyond_free_seats_are_refused(client, factory, setup):
    admin, company, coordinator, run = setup
    caller = api(client, admin)
    assert (
        caller.post(f"/api/v1/runs/{run.id}/allocations", json={"company_id": company.id, "seats": 3}).status_code
        == 201
    )
    for i in range(2):
        _enrol_as(client, coordinator, run, f"x{i}@sz-auto.example")
    low = caller.post(f"/api/v1/runs/{run.id}/allocations", json={"company_id": company.id, "seats": 1})
    assert low.status_code == 409 and low.json["error"]["code"] == "below_confirmed"
    high = caller.post(f"/api/v1/runs/{run.id}/allocations", json={"company_id": company.id, "seats": 8})
    assert high.status_code == 409 and high.json["error"]["code"] == "not_enough_seats"
    assert db.session.scalar(select(SeatAllocation.seats)) == 3
    ok = caller.post(f"/api/v1/runs/{run.id}/allocations", json={"company_id": company.id, "seats": 2})
    assert ok.status_code == 200 and ok.json["seats"] == 2 and ok.json["used"] == 2


@pytest.mark.parametrize(
    "data, field",
    [
        ({"seats": 2}, "company_id"),
        ({"company_id": "x", "seats": 2}, "company_id"),
        ({"company_id": True, "seats": 2}, "company_id"),
        ({"seats": -1}, "seats"),
        ({"seats": "2"}, "seats"),
        ({"seats": 2.5}, "seats"),
        ({"seats": 2, "release_at": "soon"}, "release_at"),
        ({"seats": 2, "release_at": "1800-01-01T00:00:00Z"}, "release_at"),
        ({"seats": 2, "overflow": "yes"}, "overflow"),
    ],
)
def test_bad_allocation_input_is_422_and_saves_nothing(client, setup, data, field):
    admin, company, _coordinator, run = setup
    data = dict(data)
    if field != "company_id":
        data["company_id"] = company.id
    r = api(client, admin).post(f"/api/v1/runs/{run.id}/allocations", json=data)
    assert r.status_code == 422, r.json
    assert field in r.json["error"]["fields"]
    assert db.session.scalar(select(func.count()).select_from(SeatAllocation)) == 0


def test_unknown_company_or_run_is_404(client, setup):
    admin, company, _coordinator, run = setup
    caller = api(client, admin)
    assert caller.post(f"/api/v1/runs/{run.id}/allocations", json={"company_id": 9999, "seats": 1}).status_code == 404
    assert caller.post("/api/v1/runs/9999/allocations", json={"company_id": company.id, "seats": 1}).status_code == 404


def test_release_returns_unused_seats_to_the_waitlist_in_order_once(client, factory, setup):
    _admin, company, coordinator, run = setup
    allocation = factory.allocation(run, company, 4, release_at=utcnow() + timedelta(hours=1))
    _enrol_as(client, coordinator, run, "used@sz-auto.example")
    trainees = [factory.trainee() for _ in range(4)]
    statuses = [api(client, t).post(f"/api/v1/runs/{run.id}/enrolments").json["status"] for t in trainees]
    assert statuses == ["confirmed", "confirmed", "waitlisted", "waitlisted"]
    assert services.release_due(utcnow()) == {}  # not yet
    released = services.release_due(utcnow() + timedelta(hours=2))
    assert released == {allocation.id: 3}
    db.session.expire_all()
    assert [db.session.scalar(select(Enrolment.status).where(Enrolment.user_id == t.id)) for t in trainees] == [
        "confirmed"
    ] * 4
    assert seat_counts(run).public == 1 and seat_counts(run).held == 0
    assert services.release_due(utcnow() + timedelta(hours=3)) == {}  # idempotent
    assert db.session.get(SeatAllocation, allocation.id).released_seats == 3


def test_release_cli_is_idempotent(runner, factory, setup):
    _admin, company, _coordinator, run = setup
    factory.allocation(run, company, 2, release_at=utcnow() - timedelta(minutes=1))
    first = runner.invoke(args=["companies", "release-seats"])
    assert first.exit_code == 0 and "2" in first.output
    second = runner.invoke(args=["companies", "release-seats"])
    assert second.exit_code == 0 and "0 allocations" in second.output


def test_coordinators_are_warned_once_before_unused_seats_are_released(factory, setup, mailbox):
    _admin, company, coordinator, run = setup
    factory.allocation(run, company, 2, release_at=utcnow() + timedelta(hours=24))
    assert list(services.warn_before_release(utcnow()).values()) == [1]
    assert services.warn_before_release(utcnow()) == {}
    mails = [m for m in mailbox() if m["To"] == coordinator.email]
    assert len(mails) == 1 and "released" in mails[0]["Subject"]


def test_a_seat_with_attendance_marked_is_not_given_back(client, factory, setup):
    _admin, company, coordinator, run = setup
    factory.allocation(run, company, 2)
    enrolment_id = _enrol_as(client, coordinator, run, "att@sz-auto.example").json["id"]
    db.session.add(Attendance(enrolment_id=enrolment_id, meeting_id=run.meetings[0].id, status="present"))
    db.session.commit()
    r = api(client, coordinator).delete(f"/api/v1/enrolments/{enrolment_id}", json={"reason": "changed plan"})
    assert r.status_code == 409 and r.json["error"]["code"] == "attendance_marked"
    db.session.expire_all()
    assert db.session.get(Enrolment, enrolment_id).status == "confirmed"


def test_a_coordinator_cancels_within_the_usual_rules_and_the_seat_returns_to_the_company(client, factory, setup):
    _admin, company, coordinator, run = setup
    factory.allocation(run, company, 1, overflow=False)
    first = _enrol_as(client, coordinator, run, "first@sz-auto.example").json
    assert api(client, coordinator).delete(f"/api/v1/enrolments/{first['id']}").status_code == 200
    assert _enrol_as(client, coordinator, run, "second@sz-auto.example").json["status"] == "confirmed"


def test_moving_a_person_keeps_their_enrolment_with_the_old_company(client, factory, setup):
    admin, company, coordinator, run = setup
    other = factory.company(code="WEBER-SZ")
    enrolment_id = _enrol_as(client, coordinator, run, "mover@sz-auto.example").json["id"]
    person = db.session.get(Enrolment, enrolment_id).user
    services.move_person(admin, person.id, other.id)
    assert db.session.get(Enrolment, enrolment_id).company_id == company.id
    assert api(client, coordinator).get(f"/api/v1/enrolments/{enrolment_id}").json["company_id"] == company.id
    assert _enrol_as(client, coordinator, factory.run(), "mover@sz-auto.example").status_code == 404


def test_a_coordinator_cannot_enrol_a_person_of_another_company(client, factory, setup):
    _admin, _company, coordinator, run = setup
    other = factory.company(code="OTHER")
    stranger = factory.member(other, email="stranger@other.example")
    r = _enrol_as(client, coordinator, run, stranger.email)
    assert r.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 0


def test_a_run_without_held_allocations_reads_its_seats_in_one_statement(client, factory, setup):
    """Whether a run has allocations is read with its enrolment counts: without any held (none
    made, or all released) no statement reads allocations; with one held they are read and kept."""
    from tests.toolkit import count_queries

    admin, company, _coordinator, run = setup
    api(client, factory.trainee()).post(f"/api/v1/runs/{run.id}/enrolments")  # the run has enrolments now
    allocation = factory.allocation(run, company, 4)
    db.session.commit()

    def enrol_one():
        with count_queries() as queries:
            answer = api(client, factory.trainee()).post(f"/api/v1/runs/{run.id}/enrolments").json
        return answer["status"], sum("seat_allocations" in q and "EXISTS" not in q.upper() for q in queries)

    assert enrol_one() == ("confirmed", 1)  # 1 + 1 of 6 taken, 4 reserved
    assert enrol_one() == ("waitlisted", 1)  # the reserved seats stay held back
    allocation.released_at = utcnow()
    db.session.commit()
    # Released: the public may take those seats, the waiting trainee first (promoted), then newcomers.
    assert enrol_one()[0] == "confirmed"
    assert enrol_one() == ("confirmed", 0)
    statuses = db.session.scalars(select(Enrolment.status).where(Enrolment.run_id == run.id)).all()
    assert sorted(statuses) == ["confirmed"] * 5


def test_another_companys_enrolment_is_not_found_for_a_coordinator_and_stays(client, factory, setup):
    """A coordinator is scoped to one company (README: another company's enrolments answer 404): reading or
    cancelling another company's enrolment is a 404, as for an id that does not exist, and changes nothing;
    an admin cancelling through another company's page gets a 404 too."""
    from tests.conftest import login

    admin, company, coordinator, run = setup
    other = factory.company(code="WEBER-SZ")
    stranger = factory.coordinator(other, name="HR Weber")
    enrolment_id = _enrol_as(client, coordinator, run, "kept@sz-auto.example").json["id"]
    missing = api(client, stranger).get("/api/v1/enrolments/999999")
    assert missing.status_code == 404
    seen = api(client, stranger).get(f"/api/v1/enrolments/{enrolment_id}")
    assert seen.status_code == 404 and seen.json["error"]["code"] == missing.json["error"]["code"]
    assert api(client, stranger).delete(f"/api/v1/enrolments/{enrolment_id}", json={"reason": "x"}).status_code == 404
    page = login(client, admin).post(f"/companies/{other.id}/enrolments/{enrolment_id}/cancel", data={"reason": "x"})
    assert page.status_code == 404
    db.session.expire_all()
    assert db.session.get(Enrolment, enrolment_id).status == "confirmed"
    trainee = factory.trainee()
    assert api(client, trainee).get(f"/api/v1/enrolments/{enrolment_id}").status_code == 403  # not scoped: as before
