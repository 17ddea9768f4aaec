"""Enrolment rules: capacity, waitlist order, promotion, deadlines, cut-off,
approvals, prerequisites and cancelled runs (services, on SQLite or PostgreSQL)."""

from datetime import date, timedelta

import pytest

from training.catalogue import seats
from training.catalogue.services import update_run
from training.certificates.models import Certificate
from training.enrolment import services
from training.errors import AlreadyEnrolled, Conflict, EnrolmentClosed, Forbidden, NotEligible, ValidationFailed
from training.extensions import db
from training.types import utcnow


def _enrol_many(run, n, factory):
    return [services.enrol(t, run.id) for t in [factory.trainee() for _ in range(n)]]


def test_capacity_then_waitlist_in_order(factory):
    run = factory.run(capacity=2)
    got = _enrol_many(run, 5, factory)
    assert [e.status for e in got] == ["confirmed", "confirmed", "waitlisted", "waitlisted", "waitlisted"]
    assert [seats.waitlist_position(e) for e in got[2:]] == [1, 2, 3]
    assert seats.waitlist_positions([run.id]) == {got[2].id: 1, got[3].id: 2, got[4].id: 3}


def test_enrolling_twice_is_a_conflict_naming_the_enrolment(factory):
    run, trainee = factory.run(), factory.trainee()
    first = services.enrol(trainee, run.id)
    with pytest.raises(AlreadyEnrolled) as err:
        services.enrol(trainee, run.id)
    assert err.value.status == 409 and err.value.extra["enrolment_id"] == first.id


def test_cancellation_promotes_first_waitlisted(factory, mailbox):
    run = factory.run(capacity=1)
    a, b, c = _enrol_many(run, 3, factory)
    services.cancel(a.user, a.id)
    db.session.expire_all()
    assert (a.status, b.status, c.status) == ("cancelled", "confirmed", "waitlisted")
    assert seats.waitlist_position(c) == 1
    promoted = [m for m in mailbox() if m["To"] == b.user.email and "became free" in m["Subject"]]
    assert promoted and any(p.get_filename() == "course.ics" for p in promoted[0].iter_attachments())


def test_capacity_increase_promotes_in_order(factory):
    admin = factory.admin()
    run = factory.run(capacity=1)
    got = _enrol_many(run, 4, factory)
    update_run(admin, run.id, {"capacity": 3})
    db.session.expire_all()
    assert [e.status for e in got] == ["confirmed", "confirmed", "confirmed", "waitlisted"]
    with pytest.raises(ValidationFailed):
        update_run(admin, run.id, {"capacity": 2})


def test_newcomer_never_jumps_the_waitlist(factory):
    """A seat that is free while people wait goes to the waitlist, not to the newcomer."""
    run = factory.run(capacity=1)
    first = factory.enrolment(run, status="confirmed")
    waiting = factory.enrolment(run, status="waitlisted")
    first.status = "cancelled"  # freed behind the service's back (e.g. a manual data fix)
    db.session.commit()
    late = services.enrol(factory.trainee(), run.id)
    db.session.refresh(waiting)
    assert waiting.status == "confirmed" and late.status == "waitlisted"


def test_reenrol_after_cancel_reuses_row_and_goes_to_end(factory):
    run = factory.run(capacity=1)
    a, b = _enrol_many(run, 2, factory)
    services.cancel(b.user, b.id)
    again = services.enrol(b.user, run.id)
    assert again.id == b.id and again.status == "waitlisted"


def test_deadline_refuses_trainees_not_admins(factory):
    admin = factory.admin()
    run = factory.run(enrol_deadline=utcnow() - timedelta(minutes=1))
    with pytest.raises(EnrolmentClosed) as err:
        services.enrol(factory.trainee(), run.id)
    assert err.value.code == "deadline_passed"
    enrolment, created = services.enrol_person(admin, run.id, "late@example.com", "Late Comer")
    assert created and enrolment.status == "confirmed"


def test_late_enrolment_until_deadline(factory):
    start = utcnow() - timedelta(hours=1)
    run = factory.run(start=start, meetings=3, enrol_deadline=start + timedelta(days=1))
    assert services.enrol(factory.trainee(), run.id).status == "confirmed"
    past = factory.run(start=start, meetings=3)  # default deadline: the first meeting's start
    with pytest.raises(EnrolmentClosed):
        services.enrol(factory.trainee(), past.id)


def test_cancel_cutoff_only_admin_after(factory):
    admin = factory.admin()
    run = factory.run(cancel_cutoff=utcnow() - timedelta(minutes=1))
    enrolment = services.enrol(factory.trainee(), run.id)
    assert not services.can_self_cancel(enrolment)
    with pytest.raises(EnrolmentClosed) as err:
        services.cancel(enrolment.user, enrolment.id)
    assert err.value.code == "cancel_cutoff_passed"
    assert services.cancel(admin, enrolment.id, "Illness").status == "cancelled"


def test_waitlisted_may_withdraw_after_cutoff(factory):
    run = factory.run(capacity=1, cancel_cutoff=utcnow() - timedelta(minutes=1))
    _a, b = _enrol_many(run, 2, factory)
    assert services.cancel(b.user, b.id).status == "cancelled"


def test_others_cannot_cancel(factory):
    run = factory.run()
    enrolment = services.enrol(factory.trainee(), run.id)
    with pytest.raises(Forbidden):
        services.cancel(factory.trainee(), enrolment.id)
    with pytest.raises(Forbidden):
        services.cancel(factory.trainer(), enrolment.id)


def test_only_trainees_enrol_themselves_and_only_admins_enrol_others(factory):
    run = factory.run()
    with pytest.raises(Forbidden):
        services.enrol(factory.trainer(), run.id)
    with pytest.raises(Forbidden):
        services.enrol(factory.trainee(), run.id, factory.trainee())


def test_closed_draft_and_cancelled_runs(factory):
    admin = factory.admin()
    for status in ("draft", "closed"):
        with pytest.raises(EnrolmentClosed):
            services.enrol(factory.trainee(), factory.run(status=status).id)
    run = factory.run()
    services.cancel_run(admin, run.id, "Trainer ill")
    with pytest.raises(EnrolmentClosed):
        services.enrol(factory.trainee(), run.id)
    with pytest.raises(EnrolmentClosed):
        services.enrol_person(admin, run.id, "x@example.com", "X")
    from training.accounts.services import find_user_by_email

    assert find_user_by_email("x@example.com") is None  # nothing saved on a refusal


def test_pending_holds_no_seat_and_approval_places(factory, mailbox):
    admin = factory.admin()
    run = factory.run(capacity=1, requires_approval=True)
    p1 = services.enrol(factory.trainee(), run.id)
    p2 = services.enrol(factory.trainee(), run.id)
    assert p1.status == p2.status == "pending"
    direct = services.enrol_person(admin, run.id, "boss@example.com", "Boss")[0]
    assert direct.status == "confirmed"  # the pending requests held no seat
    approved = services.decide(admin, p1.id, True)
    assert approved.status == "waitlisted" and seats.waitlist_position(approved) == 1
    with pytest.raises(ValidationFailed):
        services.decide(admin, p2.id, False, "  ")
    rejected = services.decide(admin, p2.id, False, "No budget code from your employer")
    assert rejected.status == "rejected" and rejected.reason == "No budget code from your employer"
    with pytest.raises(Conflict):
        services.decide(admin, p2.id, True)
    with pytest.raises(Forbidden):
        services.decide(p1.user, p1.id, True)
    mails = {m["To"]: m for m in mailbox() if "declined" in m["Subject"]}
    assert "No budget code" in mails[p2.user.email].get_content()


def test_approval_confirms_when_seat_free(factory):
    admin = factory.admin()
    run = factory.run(capacity=2, requires_approval=True)
    pending = services.enrol(factory.trainee(), run.id)
    assert services.decide(admin, pending.id, True).status == "confirmed"


def test_prerequisite_refusal_names_the_course(factory):
    basics = factory.course(code="PLC-101", title="PLC basics")
    advanced = factory.course(code="PLC-201", title="PLC advanced", prerequisite_course_id=basics.id)
    run = factory.run(advanced)
    trainee = factory.trainee()
    with pytest.raises(NotEligible) as err:
        services.enrol(trainee, run.id)
    assert "PLC-101" in err.value.message and err.value.code == "prerequisite_missing"
    past = factory.past_run(basics)
    done = factory.enrolment(past, trainee)
    today = date.today()
    cert = Certificate(
        code="ABCDEFGHJKLMNPQR",
        enrolment_id=done.id,
        current_for_enrolment_id=done.id,
        holder_name=trainee.display_name,
        course_code="PLC-101",
        course_title="PLC basics",
        hours=16,
        run_starts_on=today,
        run_ends_on=today,
        completed_on=today,
        issuer_name="X",
    )
    db.session.add(cert)
    db.session.commit()
    assert services.enrol(trainee, run.id).status == "confirmed"


def test_revoked_prerequisite_does_not_count(factory):
    basics = factory.course(code="OPC-101")
    run = factory.run(factory.course(prerequisite_course_id=basics.id))
    trainee = factory.trainee()
    done = factory.enrolment(factory.past_run(basics), trainee)
    today = date.today()
    db.session.add(
        Certificate(
            code="ZXCVBNMASDFGHJKL",
            enrolment_id=done.id,
            holder_name="x",
            course_code="OPC-101",
            course_title="x",
            hours=1,
            run_starts_on=today,
            run_ends_on=today,
            completed_on=today,
            issuer_name="X",
            revoked_at=utcnow(),
            revoked_reason="fraud",
        )
    )
    db.session.commit()
    with pytest.raises(NotEligible):
        services.enrol(trainee, run.id)


def test_cancel_run_cancels_everyone_and_tells_them(factory, mailbox):
    admin = factory.admin()
    run = factory.run(capacity=2)
    got = _enrol_many(run, 3, factory)
    with pytest.raises(ValidationFailed):
        services.cancel_run(admin, run.id, "")
    with pytest.raises(Forbidden):
        services.cancel_run(got[0].user, run.id, "x")
    assert services.cancel_run(admin, run.id, "The hall is flooded") == 3
    db.session.expire_all()
    assert {e.status for e in got} == {"cancelled"}
    told = [m for m in mailbox() if "cancelled" in m["Subject"].lower() and "flooded" in m.get_content()]
    assert sorted(m["To"] for m in told) == sorted(e.user.email for e in got)
    with pytest.raises(Conflict):
        services.cancel_run(admin, run.id, "again")


def test_admin_status_changes_keep_seats_exact(factory):
    admin = factory.admin()
    run = factory.run(capacity=1)
    a, b, c = _enrol_many(run, 3, factory)
    with pytest.raises(Conflict) as err:
        services.change_status(admin, c.id, "confirmed", "VIP")
    assert err.value.code == "run_full"
    with pytest.raises(ValidationFailed):
        services.change_status(admin, a.id, "waitlisted", "")
    services.change_status(admin, a.id, "waitlisted", "Missing safety shoes")
    db.session.expire_all()
    # a's seat went to the first waiting (b); a goes to the end of the waitlist
    assert (a.status, b.status, c.status) == ("waitlisted", "confirmed", "waitlisted")
    assert seats.waitlist_position(c) == 1 and seats.waitlist_position(a) == 2
    services.change_status(admin, c.id, "cancelled", "Duplicate")
    db.session.expire_all()
    assert c.status == "cancelled" and c.reason == "Duplicate"
    with pytest.raises(Forbidden):
        services.change_status(b.user, a.id, "confirmed", "me")


def test_enrol_person_creates_account_once(factory):
    admin = factory.admin()
    run = factory.run()
    e1, created = services.enrol_person(admin, run.id, "Wang.Xiaoming@Example.com", "王小明", company="SAIC")
    assert created and e1.user.email == "wang.xiaoming@example.com" and e1.user.display_name == "王小明"
    with pytest.raises(AlreadyEnrolled):
        services.enrol_person(admin, run.id, "wang.xiaoming@example.com", "王小明")
    with pytest.raises(ValidationFailed):
        services.enrol_person(admin, run.id, "not-an-email", "X")
    with pytest.raises(ValidationFailed):
        services.enrol_person(admin, run.id, "long@example.com", "x" * 10_000)


def test_reminders_once_per_run(factory, mailbox):
    soon = factory.run(start=utcnow() + timedelta(hours=20))
    later = factory.run(start=utcnow() + timedelta(days=10))
    a = services.enrol(factory.trainee(locale="zh"), soon.id)
    services.enrol(factory.trainee(), later.id)
    before = {m["Message-ID"] for m in mailbox()}
    assert services.send_reminders(48) == {soon.id: 1}
    assert services.send_reminders(48) == {}
    reminders = [m for m in mailbox() if m["Message-ID"] not in before]
    assert len(reminders) == 1 and reminders[0]["To"] == a.user.email
