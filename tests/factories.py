"""Factories: build realistic data in one line, committed."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from training.accounts import services as accounts
from training.accounts.models import TrainerProfile, User
from training.catalogue.models import Course, Meeting, Run
from training.enrolment.models import Enrolment
from training.extensions import db

_seq = itertools.count(1)
PASSWORD = "correct horse battery staple"


class Factory:
    def user(self, role="trainee", name=None, email=None, locale=None, **kw) -> User:
        n = next(_seq)
        user = accounts.create_user(
            email=email or f"{role}{n}@example.com",
            name=name or f"{role.title()} {n}",
            password=PASSWORD,
            role=role,
            locale=locale,
            check_strength=False,
            **kw,
        )
        if role == "trainer" and user.trainer_profile is None:
            user.trainer_profile = TrainerProfile(bio="", expertise="")
            db.session.commit()
        return user

    def trainee(self, **kw) -> User:
        return self.user("trainee", **kw)

    def trainer(self, **kw) -> User:
        return self.user("trainer", **kw)

    def admin(self, **kw) -> User:
        return self.user("admin", **kw)

    def course(self, **kw) -> Course:
        n = next(_seq)
        data = dict(
            code=f"C{n:04d}",
            title=f"Course {n}",
            hours=16.0,
            summary="A course.",
            language="en",
            level="beginner",
            min_attendance_pct=80,
            published=True,
        )
        data.update(kw)
        course = Course(**data)
        db.session.add(course)
        db.session.commit()
        return course

    def run(
        self,
        course=None,
        *,
        capacity=10,
        meetings=2,
        start=None,
        trainers=(),
        hours=3,
        timezone_name="Asia/Shanghai",
        **kw,
    ) -> Run:
        """A run whose meetings are one a day from ``start`` (default: in 7 days)."""
        course = course or self.course()
        start = start or (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
        run = Run(
            course=course,
            capacity=capacity,
            timezone=timezone_name,
            status=kw.pop("status", "open"),
            starts_on=kw.pop("starts_on", None) or (start - timedelta(days=1)).date(),
            ends_on=kw.pop("ends_on", None) or (start + timedelta(days=max(meetings, 1) + 1)).date(),
            location=kw.pop("location", "Training Centre, Room 2"),
            city=kw.pop("city", "Suzhou"),
            **kw,
        )
        run.trainers = list(trainers)
        run.meetings = [
            Meeting(starts_at=start + timedelta(days=i), ends_at=start + timedelta(days=i, hours=hours))
            for i in range(meetings)
        ]
        db.session.add(run)
        db.session.commit()
        return run

    def past_run(self, course=None, *, finalised=True, **kw) -> Run:
        """A run that has ended; its registers are finalised unless ``finalised=False``."""
        start = (datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0)
        run = self.run(course, start=start, **kw)
        if finalised:
            self.finalise(run)
        return run

    def finalise(self, run_or_meetings, by=None) -> None:
        """Sign registers off (as a trainer would at the end of each meeting)."""
        meetings = getattr(run_or_meetings, "meetings", run_or_meetings)
        for meeting in meetings:
            meeting.finalised_at = meeting.ends_at
            meeting.finalised_by_id = getattr(by, "id", None)
        db.session.commit()

    def enrolment(self, run, user=None, status="confirmed") -> Enrolment:
        user = user or self.trainee()
        now = datetime.now(UTC)
        enrolment = Enrolment(
            run=run,
            user=user,
            status=status,
            confirmed_at=now if status == "confirmed" else None,
            waitlisted_at=now if status == "waitlisted" else None,
        )
        db.session.add(enrolment)
        db.session.commit()
        return enrolment

    # --- member companies (training.companies)

    def company(self, code=None, name=None, **kw):
        from training.companies.models import Company

        n = next(_seq)
        data = dict(address="", contact_name="", contact_email="", contact_phone="", tier="member", reviewed=True)
        data.update(kw)
        company = Company(code=code or f"CO{n:04d}", name=name or f"Company {n}", **data)
        db.session.add(company)
        db.session.commit()
        return company

    def coordinator(self, company, **kw) -> User:
        user = self.user("coordinator", **kw)
        user.company_id = company.id
        db.session.commit()
        return user

    def member(self, company, **kw) -> User:
        """A trainee of the company."""
        user = self.user("trainee", **kw)
        user.company_id = company.id
        db.session.commit()
        return user

    def allocation(self, run, company, seats, **kw):
        from training.catalogue.models import SeatAllocation

        allocation = SeatAllocation(
            run_id=run.id, company_id=company.id, seats=seats, released_seats=0, overflow=kw.pop("overflow", True), **kw
        )
        db.session.add(allocation)
        db.session.commit()
        return allocation

    def company_enrolment(self, run, user, status="confirmed") -> Enrolment:
        """An enrolment made while ``user`` was in their current company."""
        enrolment = self.enrolment(run, user, status=status)
        enrolment.company_id = user.company_id
        db.session.commit()
        return enrolment


class ApiClient:
    """Calls the JSON API as a user (or anonymously) with a real bearer token."""

    def __init__(self, client, user=None):
        self.client = client
        self.headers = {}
        if user is not None:
            self.headers["Authorization"] = "Bearer " + accounts.create_token(user, "test")

    def _call(self, method, path, json=None, **kw):
        headers = dict(self.headers)
        headers.update(kw.pop("headers", {}))
        return self.client.open(path, method=method, json=json, headers=headers, **kw)

    def get(self, path, **kw):
        return self._call("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self._call("POST", path, json=json, **kw)

    def put(self, path, json=None, **kw):
        return self._call("PUT", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self._call("PATCH", path, json=json, **kw)

    def delete(self, path, **kw):
        return self._call("DELETE", path, **kw)
