"""A small world for the security tests: every role, a run with its trainer,
enrolments, a meeting that may be marked now, a finished run with a
certificate, and one of each other record a route may name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from training.extensions import db
from training.types import utcnow


@dataclass
class World:
    admin: object
    trainer: object  # teaches run and past_run
    other_trainer: object  # teaches nothing here
    trainee: object  # enrolled in run and past_run (holds the certificate)
    other_trainee: object  # enrolled in nothing of theirs
    course: object
    run: object
    past_run: object
    meeting: object  # of run, starting now: its trainer may mark it
    enrolment: object  # trainee in run
    other_enrolment: object  # a third trainee in run
    past_enrolment: object
    certificate: object
    category: object  # in use by course
    free_category: object  # used by nothing: may be deleted
    free_course: object  # no runs: may be deleted
    pending: object  # an enrolment waiting for approval (in run)
    template: object
    token_id: int  # an API token of trainee's
    job_id: str  # a background job started by admin
    company: object  # trainee's member company: enrolment and past_enrolment were made for it
    coordinator: object  # the company's coordinator
    other_company: object  # another member company, with its own coordinator and person
    other_coordinator: object
    spare_company: object  # made by the migration from free text, nothing attached: may be merged
    offered: object = None  # trainee's enrolment holding a seat offered after late_run's deadline
    offerable: object = None  # first on late_run's waitlist, with a free seat to offer them
    position_id: int = 0  # a position (issue 14) the trainee works on, requiring a skill the course grants
    grant_id: int = 0  # the trainee's manual grant (issue 14) with an attached evidence file
    skill_id: int = 0  # the skill of that position
    survey_token: str = ""  # trainee's feedback invitation for past_run
    question_id: int = 0  # a feedback question
    subscription_id: int = 0  # admin's weekly report subscription

    def ids(self) -> dict:
        """Values for every URL argument a route may take."""
        return {
            "course_id": self.course.id,
            "run_id": self.run.id,
            "meeting_id": self.meeting.id,
            "enrolment_id": self.enrolment.id,
            "user_id": self.trainer.id,
            "token_id": self.token_id,
            "category_id": self.category.id,
            "template_id": self.template.id,
            "code": self.certificate.code,
            "job_id": self.job_id,
            "token": self.trainee.calendar_token,
            "company_id": self.company.id,
            "name": "nothing-thumb.jpg",
            "filename": "css/app.css",
            "format": "json",
            "survey_token": self.survey_token,
            "question_id": self.question_id,
            "subscription_id": self.subscription_id,
            "position_id": self.position_id,
            "grant_id": self.grant_id,
            "skill_id": self.skill_id,
        }


def build_world(factory) -> World:
    from training.accounts.models import ApiToken
    from training.accounts.services import create_token
    from training.attendance.models import Attendance
    from training.catalogue.models import Category
    from training.certificates.services import issue_for_run
    from training.certificates.templates import default_template

    admin = factory.admin(name="Admin Wang")
    trainer = factory.trainer(name="Trainer Li")
    other_trainer = factory.trainer(name="Trainer Other")
    trainee = factory.trainee(name="欧阳晓燕")
    other_trainee = factory.trainee(name="Other Trainee")
    category = Category(slug="plc", name="PLC programming", name_zh="PLC 编程")
    db.session.add(category)
    course = factory.course(category=category, code="PLC-101")
    start = (utcnow() + timedelta(minutes=5)).replace(microsecond=0)
    run = factory.run(course, trainers=[trainer], start=start, capacity=5)
    enrolment = factory.enrolment(run, trainee)
    third = factory.enrolment(run, factory.trainee(name="Third Trainee"))
    pending = factory.enrolment(run, factory.trainee(name="Pending Trainee"), status="pending")
    # a run past its enrolment deadline: a seat on offer to trainee, one free seat for the next in line
    late_run = factory.run(
        course, start=start + timedelta(days=3), capacity=2, enrol_deadline=utcnow() - timedelta(hours=1)
    )
    offered = factory.enrolment(late_run, trainee, status="waitlisted")
    offered.status, offered.offered_at = "offered", utcnow()
    offered.offer_expires_at = utcnow() + timedelta(hours=48)
    offerable = factory.enrolment(late_run, factory.trainee(name="Waiting Trainee"), status="waitlisted")
    free_category = Category(slug="spare", name="Spare category")
    db.session.add(free_category)
    free_course = factory.course(code="EMPTY-1", title="A course without runs")
    past_run = factory.past_run(course, trainers=[trainer])
    past_enrolment = factory.enrolment(past_run, trainee)
    for meeting in past_run.meetings:
        db.session.add(Attendance(enrolment_id=past_enrolment.id, meeting_id=meeting.id, status="present"))
    db.session.commit()
    code = issue_for_run(admin, past_run.id)["issued"][0]["code"]
    from sqlalchemy import select

    from training.certificates.models import Certificate

    certificate = db.session.scalar(select(Certificate).where(Certificate.code == code))
    create_token(trainee, "phone")
    token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == trainee.id))
    template = default_template()
    import uuid

    from training.accounts.services import new_calendar_token
    from training.jobs import Job

    job = Job(id=str(uuid.uuid4()), kind="certificates.issue", state="finished", created_by_id=admin.id)
    db.session.add(job)
    db.session.commit()
    new_calendar_token(trainee)
    from training.reports import feedback, scheduled
    from training.reports.models import FeedbackInvitation

    feedback.send_due_surveys()
    survey_token = db.session.scalar(
        select(FeedbackInvitation.token).where(FeedbackInvitation.enrolment_id == past_enrolment.id)
    )
    question_id = feedback.question_set()[0].id
    subscription_id = scheduled.subscribe(admin, admin.email, "weekly").id
    position_id, skill_id, grant_id = _qualifications(course, trainee, admin)
    company = factory.company(code="SZ-AUTO", name="Suzhou Auto Parts")
    other_company = factory.company(code="WEBER-SZ", name="Weber Suzhou")
    trainee.company_id = company.id
    for e in (enrolment, past_enrolment):
        e.company_id = company.id
    db.session.commit()
    coordinator = factory.coordinator(company, name="Coordinator Zhang")
    other_coordinator = factory.coordinator(other_company, name="Coordinator Weber")
    factory.member(other_company, name="Weber Person")
    factory.allocation(run, company, 1)
    spare_company = factory.company(code="SUZHOU-AUTO", name="suzhou auto parts ", reviewed=False)
    factory.allocation(run, other_company, 1)
    return World(
        position_id=position_id,
        skill_id=skill_id,
        grant_id=grant_id,
        admin=admin,
        trainer=trainer,
        other_trainer=other_trainer,
        trainee=trainee,
        other_trainee=other_trainee,
        course=course,
        run=run,
        past_run=past_run,
        meeting=run.meetings[0],
        enrolment=enrolment,
        other_enrolment=third,
        past_enrolment=past_enrolment,
        certificate=certificate,
        category=category,
        free_category=free_category,
        free_course=free_course,
        pending=pending,
        template=template,
        token_id=token_id,
        job_id=job.id,
        company=company,
        coordinator=coordinator,
        other_company=other_company,
        other_coordinator=other_coordinator,
        spare_company=spare_company,
        survey_token=survey_token,
        question_id=question_id,
        subscription_id=subscription_id,
        offered=offered,
        offerable=offerable,
    )


def _qualifications(course, trainee, admin) -> tuple[int, int, int]:
    """A skill the course grants and a position that needs it, with the trainee on it, and a manual
    grant of it to the trainee with a PDF attached as evidence (issue 14)."""
    from training.qualifications import services
    from training.qualifications.evidence import Upload
    from training.qualifications.models import CourseSkill, Position, PositionPerson, PositionRequirement, Skill

    skill = Skill(code="PLC-BASICS", name="PLC basics", name_zh="PLC 基础")
    db.session.add(skill)
    db.session.flush()
    db.session.add(CourseSkill(course_id=course.id, skill_id=skill.id, level=2))
    position = Position(
        code="L1-ST10", name="Line 1 station 10", name_zh="一号线 10 工位", site="Suzhou", department="Assembly"
    )
    position.requirements.append(PositionRequirement(skill_id=skill.id, level=2, min_people=1))
    db.session.add(position)
    db.session.flush()
    db.session.add(PositionPerson(position_id=position.id, user_id=trainee.id))
    db.session.commit()
    from tests.qualifications.samples import pdf_bytes

    grant = services.grant(
        admin,
        trainee.id,
        {"skill_id": skill.id, "level": 3, "evidence": "Practical test"},
        Upload("signoff.pdf", pdf_bytes()),
    )
    return position.id, skill.id, grant.id


@pytest.fixture
def world(factory) -> World:
    return build_world(factory)


def snapshot() -> str:
    """Every row of every table, as the data export writes it: equal snapshots, no change."""
    from training.data import dumps, export_data

    archive = export_data()
    # Reading with a token stamps last_used_at; that is not a change a refusal may make, but not data either.
    archive["tables"].pop("api_tokens", None)
    # Sign-in bookkeeping, not data: a login (the tests' own login helper too) starts a session on the
    # server, and a refused login is recorded on purpose (throttling by account and source).
    archive["tables"].pop("login_sessions", None)
    archive["tables"].pop("login_failures", None)
    return dumps(archive)


class Clock:
    """A fixed "now" for the accounts services, moved on by hand (no sleeps)."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now = self.now + timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    from training.accounts import services

    fixed = Clock(utcnow().replace(microsecond=0))
    monkeypatch.setattr(services, "utcnow", fixed)
    return fixed
