"""Helpers for the certificate tests: a finished run with attendance taken."""

from __future__ import annotations

import pytest

from training.attendance.models import Attendance
from training.extensions import db


def completed_run(factory, names=("Anna Müller",), *, absent=(), course=None, **kw):
    """A run that has ended, with every trainee present at every meeting
    except those named in ``absent`` (absent at all). Returns (run, enrolments)."""
    run = factory.past_run(course, meetings=2, **kw)
    enrolments = []
    for name in names:
        enrolment = factory.enrolment(run, factory.trainee(name=name))
        enrolments.append(enrolment)
        for meeting in run.meetings:
            db.session.add(
                Attendance(
                    enrolment_id=enrolment.id, meeting_id=meeting.id, status="absent" if name in absent else "present"
                )
            )
    db.session.commit()
    return run, enrolments


@pytest.fixture
def admin(factory):
    return factory.admin(name="Admin Zhang")
