"""Qualification worlds: a course that grants a skill, a finished run with a certificate to issue."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from training.extensions import db


@dataclass
class Plant:
    admin: object
    assessor: object
    trainer: object
    trainee: object
    course: object
    past_run: object
    enrolment: object
    skill: object
    position: object


def attend_all(run, enrolment):
    from training.attendance.models import Attendance

    for meeting in run.meetings:
        db.session.add(Attendance(enrolment_id=enrolment.id, meeting_id=meeting.id, status="present"))
    db.session.commit()


@pytest.fixture
def plant(factory) -> Plant:
    from training.qualifications.models import CourseSkill, Position, PositionPerson, PositionRequirement, Skill

    admin, assessor = factory.admin(name="Admin Wang"), factory.user("assessor", name="Assessor Zhao")
    trainer, trainee = factory.trainer(name="Trainer Li"), factory.trainee(name="欧阳晓燕")
    course = factory.course(code="SMT-201", title="SMT line operation", validity_months=24)
    past_run = factory.past_run(course, trainers=[trainer])
    enrolment = factory.enrolment(past_run, trainee)
    attend_all(past_run, enrolment)
    skill = Skill(code="SMT-OP", name="SMT line operation", name_zh="SMT 产线操作", validity_months=12)
    db.session.add(skill)
    db.session.flush()
    db.session.add(CourseSkill(course_id=course.id, skill_id=skill.id, level=2))
    position = Position(
        code="L3-PP", name="Line 3 pick and place", name_zh="三号线贴片机", site="Suzhou", department="SMT"
    )
    position.requirements.append(PositionRequirement(skill_id=skill.id, level=2, min_people=2))
    db.session.add(position)
    db.session.flush()
    db.session.add(PositionPerson(position_id=position.id, user_id=trainee.id))
    db.session.commit()
    return Plant(admin, assessor, trainer, trainee, course, past_run, enrolment, skill, position)
