"""Seats after the enrolment deadline: offered by an admin, accepted, declined
or expired and passed on in order; nothing moves after the run's end; a
deactivated account frees its seats in runs to come."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import api, login
from training.catalogue.seats import waitlist_position
from training.enrolment import offers, services
from training.enrolment.models import Enrolment
from training.errors import Conflict, Forbidden, NotFound
from training.extensions import db
from training.types import utcnow


def _after_deadline_run(factory, *, capacity=1, waiting=2, start_in=timedelta(days=3), meetings=2):
    """A run whose enrolment deadline has passed: one confirmed trainee per
    seat and ``waiting`` trainees on the waitlist (in order)."""
    start = (utcnow() + start_in).replace(microsecond=0)
    run = factory.run(capacity=capacity, start=start, meetings=meetings)
    confirmed = [services.enrol(factory.trainee(), run.id) for _ in range(capacity)]
    waitlist = [services.enrol(factory.trainee(), run.id) for _ in range(waiting)]
    run.enrol_deadline = utcnow() - timedelta(hours=1)
    db.session.commit()
    return run, confirmed, waitlist


def _mails_to(mailbox, user, subject=""):
    return [m for m in mailbox() if m["To"] == user.email and subject in m["Subject"]]


def _refresh(*objs):
    db.session.expire_all()
    return objs


def test_before_the_deadline_a_freed_seat_still_goes_to_the_waitlist_at_once(factory):
    run = factory.run(capacity=1)
    a = services.enrol(factory.trainee(), run.id)
    b = services.enrol(factory.trainee(), run.id)
    services.cancel(a.user, a.id)
    _refresh()
    assert b.status == "confirmed"


def test_after_the_deadline_a_freed_seat_waits_for_an_offer(factory, mailbox):
    admin = factory.admin()
    run, (a,), (b, c) = _after_deadline_run(factory)
    before = len(_mails_to(mailbox, b.user))
    assert before == 1  # "you are on the waitlist"
    services.cancel(admin, a.id, "Ill")
    _refresh()
    assert (a.status, b.status, c.status) == ("cancelled", "waitlisted", "waitlisted")
    assert len(_mails_to(mailbox, b.user)) == before  # nobody told "a place became free"
    # an admin enrolling someone now joins the end of the waitlist: the waitlist comes first
    late, _created = services.enrol_person(admin, run.id, "late@example.com", "Late")
    assert late.status == "waitlisted" and waitlist_position(late) == 3


def test_an_offer_holds_the_seat_and_is_accepted(factory, mailbox, app):
    admin = factory.admin()
    run, (a,), (b, c) = _after_deadline_run(factory)
    services.cancel(admin, a.id, "Ill")
    offered = offers.offer_seat(admin, b.id)
    assert offered.status == "offered" and offered.offered_at is not None
    hours = app.config["SEAT_OFFER_HOURS"]
    assert abs((offered.offer_expires_at - offered.offered_at) - timedelta(hours=hours)) < timedelta(seconds=1)
    (mail,) = _mails_to(mailbox, b.user, "offered to you")
    body = mail.get_body(("plain",)).get_content()
    assert f"/enrolments/{b.id}/offer" in body and run.timezone in body
    # the offered seat is held: no second offer, the course page shows no free seat
    from training.catalogue.seats import seats_left

    assert seats_left(run) == 0
    with pytest.raises(Conflict) as exc:
        offers.offer_seat(admin, c.id)
    assert exc.value.code == "run_full"
    accepted = offers.accept_offer(b.user, b.id)
    assert accepted.status == "confirmed" and accepted.confirmed_at is not None
    (confirmation,) = _mails_to(mailbox, b.user, "confirmed")
    assert any(p.get_filename() == "course.ics" for p in confirmation.iter_attachments())
    with pytest.raises(Conflict) as replay:  # a second tap, a replayed request
        offers.accept_offer(b.user, b.id)
    assert replay.value.code == "no_offer"


def test_a_declined_offer_passes_to_the_next_in_line(factory, mailbox):
    admin = factory.admin()
    run, (a,), (b, c) = _after_deadline_run(factory)
    services.cancel(admin, a.id)
    offers.offer_seat(admin, b.id)
    declined = offers.decline_offer(b.user, b.id)
    _refresh()
    assert declined.status == "offer_declined" and waitlist_position(b) is None
    assert c.status == "offered"
    assert len(_mails_to(mailbox, c.user, "offered to you")) == 1
    with pytest.raises(Conflict) as exc:
        offers.decline_offer(b.user, b.id)
    assert exc.value.code == "no_offer"


def test_cancelling_an_offered_place_passes_it_on(factory):
    admin = factory.admin()
    run, (a,), (b, c) = _after_deadline_run(factory)
    services.cancel(admin, a.id)
    offers.offer_seat(admin, b.id)
    services.cancel(b.user, b.id)
    _refresh()
    assert b.status == "cancelled" and c.status == "offered"


def test_unanswered_offers_expire_once_and_pass_on(factory, mailbox, runner):
    admin = factory.admin()
    run, (a,), (b, c) = _after_deadline_run(factory, waiting=2, start_in=timedelta(days=10))
    services.cancel(admin, a.id)
    offers.offer_seat(admin, b.id)
    _refresh()
    expires = b.offer_expires_at
    assert offers.expire_offers(now=expires - timedelta(seconds=1)) == 0
    with pytest.raises(Conflict) as exc:  # too late, even before the scheduler has run
        offers.accept_offer(b.user, b.id, now=expires + timedelta(seconds=1))
    assert exc.value.code == "offer_expired"
    _refresh()
    assert b.status == "offered"  # a refusal changes nothing
    assert offers.expire_offers(now=expires + timedelta(seconds=1)) == 1
    assert offers.expire_offers(now=expires + timedelta(seconds=2)) == 0  # idempotent
    _refresh()
    assert b.status == "offer_expired" and c.status == "offered"
    assert len(_mails_to(mailbox, b.user, "passed on")) == 1
    assert len(_mails_to(mailbox, c.user, "offered to you")) == 1
    # the CLI command runs the same (nothing more to expire yet)
    result = runner.invoke(args=["enrolment", "expire-offers"])
    assert result.exit_code == 0 and "No offer has expired" in result.output


def test_an_offer_never_outlives_the_run(factory):
    admin = factory.admin()
    run, (a,), (b,) = _after_deadline_run(factory, waiting=1, start_in=timedelta(hours=2), meetings=1)
    services.cancel(admin, a.id)
    offered = offers.offer_seat(admin, b.id)
    from training.catalogue.services import run_end

    assert offered.offer_expires_at == run_end(run)


def test_offer_refusals(factory):
    admin = factory.admin()
    # before the deadline the waitlist moves by itself
    early = factory.run(capacity=1)
    x = services.enrol(factory.trainee(), early.id)
    y = services.enrol(factory.trainee(), early.id)
    services.change_status(admin, x.id, "waitlisted", "swap")
    _refresh()
    with pytest.raises(Conflict) as exc:
        offers.offer_seat(admin, x.id)
    assert exc.value.code in ("before_deadline", "run_full")
    # after the deadline
    run, (a,), (b, c) = _after_deadline_run(factory)
    with pytest.raises(Conflict) as exc:
        offers.offer_seat(admin, a.id)
    assert exc.value.code == "not_waitlisted"
    with pytest.raises(Conflict) as exc:
        offers.offer_seat(admin, b.id)
    assert exc.value.code == "run_full"
    services.cancel(admin, a.id)
    with pytest.raises(Conflict) as exc:
        offers.offer_seat(admin, c.id)
    assert exc.value.code == "not_next_in_line"
    with pytest.raises(Forbidden):
        offers.offer_seat(b.user, b.id)
    offers.offer_seat(admin, b.id)
    with pytest.raises(Conflict) as exc:
        offers.offer_seat(admin, b.id)
    assert exc.value.code == "already_offered"
    with pytest.raises(Forbidden):
        offers.accept_offer(c.user, b.id)
    with pytest.raises(Forbidden):
        offers.decline_offer(c.user, b.id)
    with pytest.raises(NotFound):
        offers.accept_offer(b.user, 10**9)
    _refresh()
    assert b.status == "offered" and c.status == "waitlisted"
    assert y.id  # untouched


def test_cancelling_on_a_run_that_ended_yesterday_moves_nobody_and_tells_nobody(factory, mailbox):
    """The reported bug: the next waitlisted trainee was confirmed and e-mailed
    "a place became free" with a calendar file for a run already over."""
    admin = factory.admin()
    start = (utcnow() - timedelta(days=2)).replace(microsecond=0)
    run = factory.run(capacity=1, start=start, meetings=1, enrol_deadline=start + timedelta(hours=1))
    a = Enrolment(run_id=run.id, user_id=factory.trainee().id, status="confirmed", confirmed_at=start)
    b = Enrolment(run_id=run.id, user_id=factory.trainee().id, status="waitlisted", waitlisted_at=start)
    db.session.add_all([a, b])
    db.session.commit()
    services.cancel(admin, a.id, "Did not come")
    _refresh()
    assert a.status == "cancelled" and b.status == "waitlisted"
    assert _mails_to(mailbox, b.user) == []
    with pytest.raises(Conflict) as exc:
        offers.offer_seat(admin, b.id)
    assert exc.value.code == "run_ended"
    # raising the capacity of an ended run moves nobody either
    from training.catalogue.services import update_run

    update_run(admin, run.id, {"capacity": 3})
    _refresh()
    assert b.status == "waitlisted" and _mails_to(mailbox, b.user) == []


def test_deactivating_an_account_frees_its_seats_in_runs_to_come(factory, mailbox, client):
    admin = factory.admin()
    leaver = factory.trainee()
    soon = factory.run(capacity=1)  # before the deadline: the waitlist moves up
    later, _c, (waiting_later,) = _after_deadline_run(factory, waiting=1)  # after it: an offer is due
    running = factory.run(capacity=1, start=(utcnow() - timedelta(hours=1)).replace(microsecond=0))
    mine_soon = services.enrol(leaver, soon.id)
    next_soon = services.enrol(factory.trainee(), soon.id)
    mine_running = Enrolment(run_id=running.id, user_id=leaver.id, status="confirmed", confirmed_at=utcnow())
    db.session.add(mine_running)
    # the leaver holds the seat of the run past its deadline
    held = services.change_status(admin, _c[0].id, "cancelled", "swap")
    mine_later = Enrolment(run_id=later.id, user_id=leaver.id, status="confirmed", confirmed_at=utcnow())
    db.session.add(mine_later)
    db.session.commit()
    assert held.status == "cancelled"
    login(client, admin)
    r = client.post(
        f"/admin/users/{leaver.id}", data={"name": leaver.display_name, "role": "trainee", "company": "", "phone": ""}
    )  # active unticked
    assert r.status_code == 302
    _refresh()
    assert leaver.active is False
    assert mine_soon.status == "cancelled" and next_soon.status == "confirmed"
    assert mine_later.status == "cancelled" and waiting_later.status == "waitlisted"  # an admin offers it
    assert mine_running.status == "confirmed"  # a run under way keeps its record
    assert _mails_to(mailbox, leaver, "cancelled") == []  # the closed account is not written to


def test_offer_pages_for_the_admin_and_the_trainee(client, factory, mailbox):
    admin = factory.admin()
    run, (a,), (b, c) = _after_deadline_run(factory)
    services.cancel(admin, a.id)
    login(client, admin)
    page = client.get(f"/admin/runs/{run.id}/enrolments").get_data(as_text=True)
    assert "Offer the seat" in page and f"/admin/enrolments/{b.id}/offer" in page
    assert f"/admin/enrolments/{c.id}/offer" not in page  # only the next in line
    r = client.post(f"/admin/enrolments/{b.id}/offer", data={"next": f"/admin/runs/{run.id}/enrolments"})
    assert r.status_code == 302
    page = client.get(f"/admin/runs/{run.id}/enrolments").get_data(as_text=True)
    assert "Seat offered" in page and "data-offer-until" in page and "Offer the seat" not in page
    r = client.post(f"/admin/enrolments/{b.id}/offer", data={}, follow_redirects=True)
    assert "already offered" in r.get_data(as_text=True)
    # the trainee: the link in the e-mail, then accept
    login(client, b.user)
    assert "Places offered to you" in client.get("/my/training").get_data(as_text=True)
    page = client.get(f"/enrolments/{b.id}/offer")
    assert page.status_code == 200 and "Accept the place" in page.get_data(as_text=True)
    login(client, c.user)
    assert client.get(f"/enrolments/{b.id}/offer").status_code == 403
    assert client.post(f"/enrolments/{b.id}/offer/accept").status_code in (302, 403)
    _refresh()
    assert b.status == "offered"
    login(client, b.user)
    r = client.post(f"/enrolments/{b.id}/offer/accept", data={"next": "/my/training"})
    assert r.status_code == 302
    _refresh()
    assert b.status == "confirmed"
    page = client.get(f"/enrolments/{b.id}/offer").get_data(as_text=True)
    assert "no open offer" in page


def test_offer_api(client, factory):
    admin = factory.admin()
    run, (a,), (b, c) = _after_deadline_run(factory)
    services.cancel(admin, a.id)
    as_admin, as_b, as_c = api(client, admin), api(client, b.user), api(client, c.user)
    assert as_b.post(f"/api/v1/enrolments/{b.id}/offer").status_code == 403
    r = as_admin.post(f"/api/v1/enrolments/{c.id}/offer")
    assert r.status_code == 409 and r.json["error"]["code"] == "not_next_in_line"
    r = as_admin.post(f"/api/v1/enrolments/{b.id}/offer")
    assert r.status_code == 200 and r.json["status"] == "offered" and r.json["offer_expires_at"]
    assert as_admin.post("/api/v1/enrolments/999999/offer").status_code == 404
    assert as_c.post(f"/api/v1/enrolments/{b.id}/accept-offer").status_code == 403
    assert as_c.post(f"/api/v1/enrolments/{c.id}/accept-offer").status_code == 409
    r = as_b.post(f"/api/v1/enrolments/{b.id}/decline-offer")
    assert r.status_code == 200 and r.json["status"] == "offer_declined"
    r = as_c.post(f"/api/v1/enrolments/{c.id}/accept-offer")
    assert r.status_code == 200 and r.json["status"] == "confirmed"
    r = as_c.post(f"/api/v1/enrolments/{c.id}/accept-offer")
    assert r.status_code == 409 and r.json["error"]["code"] == "no_offer"
    listed = as_admin.get(f"/api/v1/runs/{run.id}/enrolments?status=offer_declined")
    assert listed.status_code == 200 and [e["id"] for e in listed.json["items"]] == [b.id]


def test_the_scheduler_expires_offers_every_quarter_hour(factory):
    from datetime import timedelta as td

    from training import scheduler

    task = scheduler._tasks["enrolment.expire_offers"]
    assert task.every == td(minutes=15)
    admin = factory.admin()
    run, (a,), (b, c) = _after_deadline_run(factory)
    services.cancel(admin, a.id)
    offers.offer_seat(admin, b.id)
    assert task.fn() == {"expired": 0}  # nothing due yet; idempotent
    _refresh()
    assert b.status == "offered"
