"""Admin catalogue pages: forms with validation, and refusals."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import login
from training.catalogue.models import Category, Course, Meeting, Run
from training.extensions import db


@pytest.fixture
def admin_client(client, factory):
    login(client, factory.admin())
    return client


def _course_form(**overrides):
    data = {
        "code": "MV-100",
        "title_en": "Machine vision basics",
        "summary_en": "Cameras and light.",
        "category": "",
        "level": "beginner",
        "language": "en",
        "hours": "16",
        "min_attendance_pct": "80",
        "published": "y",
    }
    data.update(overrides)
    return data


def _run_form(start: date, end: date, **overrides):
    data = {
        "starts_on": start.isoformat(),
        "ends_on": end.isoformat(),
        "timezone": "Asia/Shanghai",
        "mode": "in_person",
        "city": "Suzhou",
        "location_en": "Room 2",
        "capacity": "12",
        "status": "open",
        "daily_sessions": "y",
        "skip_weekends": "y",
        "day_starts": "09:00",
        "day_ends": "17:00",
    }
    data.update(overrides)
    return data


def test_pages_refuse_non_admins(client, factory):
    course = factory.course()
    run = factory.run(course)
    for user in (None, factory.trainee(), factory.trainer()):
        if user:
            login(client, user)
        for url in (
            "/admin/courses",
            "/admin/categories",
            "/admin/runs",
            f"/admin/courses/{course.id}/edit",
            f"/admin/runs/{run.id}/edit",
            "/admin/courses/new",
        ):
            assert client.get(url).status_code in (302, 403), (user, url)
        assert client.post(f"/admin/courses/{course.id}/archive").status_code in (302, 403)
        if user:
            assert client.post(f"/admin/courses/{course.id}/archive").status_code == 403
    assert db.session.get(Course, course.id).archived is False


def test_category_create_edit_and_delete_rules(admin_client, factory):
    response = admin_client.post(
        "/admin/categories", data={"name": "Machine vision", "name_zh": "机器视觉", "slug": ""}
    )
    assert response.status_code == 302
    category = db.session.scalar(select(Category).where(Category.slug == "machine-vision"))
    assert category.name_zh == "机器视觉"
    response = admin_client.post("/admin/categories", data={"name": "Again", "slug": "machine-vision"})
    assert response.status_code == 422 and "already exists" in response.get_data(as_text=True)
    factory.course(category=category)
    admin_client.post(f"/admin/categories/{category.id}/delete")
    assert db.session.get(Category, category.id) is not None


def test_create_course_then_keep_typed_values_on_error(admin_client, factory):
    response = admin_client.post("/admin/courses/new", data=_course_form(category="vision"))
    assert response.status_code == 302
    course = db.session.scalar(select(Course).where(Course.code == "MV-100"))
    assert course.category.slug == "vision"
    response = admin_client.post("/admin/courses/new", data=_course_form(title_en="Duplicate title kept"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "already exists" in html and "Duplicate title kept" in html
    response = admin_client.post("/admin/courses/new", data=_course_form(code="X-2", prerequisite_code="NOPE"))
    assert response.status_code == 422 and "No course with code NOPE" in response.get_data(as_text=True)


def test_course_with_history_is_archived_not_deleted(admin_client, factory):
    course = factory.course()
    factory.past_run(course)
    response = admin_client.post(f"/admin/courses/{course.id}/delete", follow_redirects=True)
    assert "archive it instead" in response.get_data(as_text=True)
    assert db.session.get(Course, course.id) is not None
    admin_client.post(f"/admin/courses/{course.id}/archive")
    db.session.expire_all()
    course = db.session.get(Course, course.id)
    assert course.archived and not course.published
    assert admin_client.get(f"/courses/{course.id}").status_code == 200  # admins still see it
    fresh = factory.course()
    admin_client.post(f"/admin/courses/{fresh.id}/delete")
    db.session.expire_all()
    assert db.session.get(Course, fresh.id) is None


def test_create_run_with_daily_sessions_and_trainers(admin_client, factory):
    course = factory.course()
    trainer = factory.trainer()
    start = date.today() + timedelta(days=30)
    while start.weekday() != 0:
        start += timedelta(days=1)
    response = admin_client.post(
        f"/admin/courses/{course.id}/runs/new",
        data=_run_form(start, start + timedelta(days=6), trainers=str(trainer.id)),
    )
    assert response.status_code == 302
    run = db.session.scalar(select(Run).where(Run.course_id == course.id))
    assert len(run.meetings) == 5  # Monday to Friday
    assert run.meetings[0].starts_at.astimezone(run.tz).hour == 9
    assert [t.id for t in run.trainers] == [trainer.id]


def test_run_dates_must_be_in_order(admin_client, factory):
    course = factory.course()
    start = date.today() + timedelta(days=30)
    response = admin_client.post(
        f"/admin/courses/{course.id}/runs/new", data=_run_form(start, start - timedelta(days=2))
    )
    assert response.status_code == 422 and "ends before it starts" in response.get_data(as_text=True)
    assert db.session.scalar(select(Run).where(Run.course_id == course.id)) is None


def test_capacity_cannot_drop_below_confirmed(admin_client, factory):
    run = factory.run(capacity=5)
    for _ in range(3):
        factory.enrolment(run)
    data = _run_form(run.starts_on, run.ends_on, capacity="2")
    response = admin_client.post(f"/admin/runs/{run.id}/edit", data=data)
    assert response.status_code == 422 and "below the 3 confirmed" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Run, run.id).capacity == 5


def test_meetings_must_lie_inside_the_run(admin_client, factory):
    run = factory.run(meetings=1)
    outside = run.ends_on + timedelta(days=3)
    response = admin_client.post(
        f"/admin/runs/{run.id}/meetings", data={"day": outside.isoformat(), "starts": "09:00", "ends": "12:00"}
    )
    assert response.status_code == 422 and "outside the run" in response.get_data(as_text=True)
    response = admin_client.post(
        f"/admin/runs/{run.id}/meetings", data={"day": run.ends_on.isoformat(), "starts": "13:00", "ends": "12:00"}
    )
    assert response.status_code == 422
    response = admin_client.post(
        f"/admin/runs/{run.id}/meetings",
        data={"day": run.ends_on.isoformat(), "starts": "09:00", "ends": "12:00", "title": "Lab"},
    )
    assert response.status_code == 302
    assert len(db.session.scalars(select(Meeting).where(Meeting.run_id == run.id)).all()) == 2
    # shrinking the run so that a meeting falls outside is refused
    response = admin_client.post(
        f"/admin/runs/{run.id}/edit", data=_run_form(run.starts_on, run.starts_on, capacity="10")
    )
    assert response.status_code == 422 and "outside the run" in response.get_data(as_text=True)


def test_delete_meeting_and_cancel_run(admin_client, factory):
    run = factory.run(meetings=2)
    enrolment = factory.enrolment(run)
    meeting_id = run.meetings[0].id
    admin_client.post(f"/admin/meetings/{meeting_id}/delete")
    db.session.expire_all()
    assert db.session.get(Meeting, meeting_id) is None
    response = admin_client.post(f"/admin/runs/{run.id}/cancel", data={"reason": ""})
    assert response.status_code == 422
    response = admin_client.post(f"/admin/runs/{run.id}/cancel", data={"reason": "Trainer ill"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Run, run.id).status == "cancelled"
    assert enrolment.status == "cancelled"


def test_admin_course_list_searches_unpublished(admin_client, factory):
    factory.course(code="SEC-1", title="Secret draft course", published=False)
    html = admin_client.get("/admin/courses?q=secret").get_data(as_text=True)
    assert "Secret draft course" in html and "Unpublished" in html


def test_a_local_time_the_clocks_skip_is_refused_and_one_they_repeat_is_kept(admin_client, factory):
    """Berlin's clocks go from 02:00 to 03:00 on 28 March 2027: a session typed as 02:30-04:00 that day was
    stored as 03:30-04:00 (half an hour, not ninety minutes) without a word. It is refused, saying why; on
    31 October 2027 (03:00 back to 02:00) 01:30-02:30 is the first 02:30, and lasts two hours. Over
    midnight and over the change, a meeting's times are kept as typed, in the run's zone."""
    from datetime import UTC, datetime

    from training.catalogue import services
    from training.errors import ValidationFailed

    run = factory.run(meetings=0, timezone_name="Europe/Berlin", starts_on=date(2027, 3, 1), ends_on=date(2027, 11, 30))
    skipped = admin_client.post(
        f"/admin/runs/{run.id}/meetings", data={"day": "2027-03-28", "starts": "02:30", "ends": "04:00"}
    )
    assert skipped.status_code == 422
    assert "02:30" in skipped.get_data(as_text=True) and "Europe/Berlin" in skipped.get_data(as_text=True)
    assert db.session.scalars(select(Meeting).where(Meeting.run_id == run.id)).all() == []
    api_meetings = [{"starts_at": "2027-03-28T02:15:00", "ends_at": "2027-03-28T05:00:00"}]
    with pytest.raises(ValidationFailed):
        services.update_run(factory.admin(), run.id, {"meetings": api_meetings})
    repeated = admin_client.post(
        f"/admin/runs/{run.id}/meetings", data={"day": "2027-10-31", "starts": "01:30", "ends": "02:30"}
    )
    assert repeated.status_code == 302
    (meeting,) = db.session.scalars(select(Meeting).where(Meeting.run_id == run.id)).all()
    assert meeting.starts_at == datetime(2027, 10, 30, 23, 30, tzinfo=UTC)  # 01:30 CEST
    assert meeting.ends_at == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # the first 02:30, still CEST
