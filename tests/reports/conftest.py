"""A hand-built data set whose every figure is worked out by hand below
(see EXPECTED), shared by the metric, API, page and XLSX tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from training.attendance.models import Attendance
from training.certificates.models import Certificate
from training.enrolment.models import Enrolment
from training.extensions import db
from training.types import org_today, utcnow


def certificate(enrolment, *, issued_at=None, expires_on=None, revoked=False, reissue_of=None, code=None):
    run = enrolment.run
    cert = Certificate(
        code=code or f"C{enrolment.id:04d}{(reissue_of or '')[:4]}X",
        enrolment_id=enrolment.id,
        current_for_enrolment_id=enrolment.id,
        holder_name=enrolment.user.display_name,
        course_code=run.course.code,
        course_title=run.course.title,
        hours=run.course.hours,
        run_starts_on=run.starts_on,
        run_ends_on=run.ends_on,
        completed_on=run.ends_on,
        issuer_name="SMT",
        issued_at=issued_at or utcnow(),
        expires_on=expires_on,
        revoked_at=utcnow() if revoked else None,
        reissue_of_code=reissue_of,
    )
    db.session.add(cert)
    db.session.commit()
    return cert


def enrol(run, user, status="confirmed", *, confirmed_at=None, cancelled_at=None):
    e = Enrolment(
        run=run,
        user=user,
        status=status,
        confirmed_at=confirmed_at,
        cancelled_at=cancelled_at,
        waitlisted_at=utcnow() if status == "waitlisted" else None,
    )
    db.session.add(e)
    db.session.commit()
    return e


def mark(enrolment, meeting, status):
    db.session.add(Attendance(enrolment_id=enrolment.id, meeting_id=meeting.id, status=status))
    db.session.commit()


@dataclass
class DataSet:
    admin: object
    trainer1: object
    trainer2: object
    trainee: object
    run1: object
    run2: object
    run3: object
    course_a: object
    course_b: object
    enrolments: dict
    args: dict  # the period covering every run


# Worked out by hand from the data set:
#   run1 (course A, capacity 4, 2 meetings held): e1 present+present, e2 late+absent, e3 absent+absent,
#        e4 confirmed before the first meeting and cancelled after it, e5 waitlisted
#   run2 (course B counts excused, capacity 2, 2 meetings held): e6 excused+present, e7 excused+excused
#   run3 (course A, capacity 5, not started): e8 confirmed
#   runs 3, capacity 4+2+5 = 11, confirmed 3+2+1 = 6
#   attendance: attended (2+1+0) + (2+2) = 7 of planned 3*2 + 2*2 = 10 -> 0.7
#   no-show (runs 1 and 2 complete): e3 -> 1 / 5 = 0.2
#   fill: confirmed at first meeting 4 (e1-e4) + 2 + 1 (run3, now) = 7 / 11
#   completion: e1 (reissued, current valid), e6 valid, e7 revoked -> 2 / 5 = 0.4
#   certificates issued: e1, e6, e7 = 3 (e1's reissue not counted again)
#   expiring within 90 days: e6 (in 30 days) = 1; e1's expires in 200 days
EXPECTED = {
    "runs": 3,
    "capacity": 11,
    "confirmed": 6,
    "attendance_rate": 0.7,
    "no_show_rate": 0.2,
    "fill_rate": 7 / 11,
    "completion_rate": 0.4,
    "certificates_issued": 3,
}


@pytest.fixture
def dataset(factory) -> DataSet:
    admin = factory.admin(name="Admin Report")
    t1, t2 = factory.trainer(name="Trainer One"), factory.trainer(name="Trainer Two")
    course_a = factory.course(code="RPT-A", title="Reports A")
    course_b = factory.course(code="RPT-B", title="Reports B", excused_counts=True)
    start = (utcnow() - timedelta(days=12)).replace(microsecond=0)
    run1 = factory.run(course_a, capacity=4, start=start, trainers=[t1], hours=3)
    run2 = factory.run(course_b, capacity=2, start=start + timedelta(hours=4), trainers=[t2], hours=2, city="Wuxi")
    run3 = factory.run(course_a, capacity=5, trainers=[t1])
    before = start - timedelta(days=3)
    trainee = factory.trainee(name="Trainee Report")
    people = [trainee] + [factory.trainee() for _ in range(7)]
    e = {}
    e[1] = enrol(run1, people[0], confirmed_at=before)
    e[2] = enrol(run1, people[1], confirmed_at=before)
    e[3] = enrol(run1, people[2], confirmed_at=before)
    e[4] = enrol(run1, people[3], "cancelled", confirmed_at=before, cancelled_at=start + timedelta(days=1))
    e[5] = enrol(run1, people[4], "waitlisted")
    e[6] = enrol(run2, people[5], confirmed_at=before)
    e[7] = enrol(run2, people[6], confirmed_at=before)
    e[8] = enrol(run3, people[7], confirmed_at=utcnow() - timedelta(days=1))
    m1, m2 = run1.meetings
    for enrolment, statuses in (
        (e[1], ("present", "present")),
        (e[2], ("late", "absent")),
        (e[3], ("absent", "absent")),
    ):
        mark(enrolment, m1, statuses[0])
        mark(enrolment, m2, statuses[1])
    n1, n2 = run2.meetings
    for enrolment, statuses in ((e[6], ("excused", "present")), (e[7], ("excused", "excused"))):
        mark(enrolment, n1, statuses[0])
        mark(enrolment, n2, statuses[1])
    _finalise(run1, run2)
    today = org_today()
    old = certificate(e[1], expires_on=today + timedelta(days=200), code="OLDE1")
    old.current_for_enrolment_id = None
    db.session.commit()
    new = certificate(e[1], expires_on=today + timedelta(days=200), reissue_of="OLDE1", code="NEWE1")
    old.superseded_by_id = new.id
    db.session.commit()
    certificate(e[6], expires_on=today + timedelta(days=30), code="CERTE6")
    certificate(e[7], revoked=True, code="CERTE7")
    args = {"from": (before - timedelta(days=2)).date().isoformat(), "to": run3.starts_on.isoformat()}
    return DataSet(admin, t1, t2, trainee, run1, run2, run3, course_a, course_b, e, args)


def _finalise(*runs):
    """Sign off every register of these runs (issue 10)."""
    for run in runs:
        for meeting in run.meetings:
            meeting.finalised_at = utcnow()
    db.session.commit()
