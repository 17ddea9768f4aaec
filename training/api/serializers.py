"""How models look in the JSON API (the v1 contract)."""

from __future__ import annotations

from datetime import UTC, datetime

from .. import content_i18n
from ..catalogue.models import Course, Meeting, Run
from ..catalogue.services import cancel_cutoff, enrol_deadline
from ..enrolment.models import Enrolment


def iso(value):
    """ISO 8601; aware date-times in UTC (the API's promise), dates as they are."""
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat()


def course_to_dict(course: Course, *, upcoming_runs=None, seats=None) -> dict:
    data = {
        "id": course.id,
        "code": course.code,
        "title": course.title,
        "summary": course.summary,
        "description": course.description,
        "category": course.category.slug if course.category else None,
        "category_name": course.category.name if course.category else None,
        "category_name_i18n": content_i18n.texts(course.category, "name") if course.category else None,
        "level": course.level,
        "hours": course.hours,
        "language": course.language,
        "min_attendance_pct": course.min_attendance_pct,
        "published": course.published,
        "archived": course.archived,
        "prerequisite_course_id": course.prerequisite_course_id,
        "validity_months": course.validity_months,
        # Bilingual texts: "title" etc. above are the original; *_i18n hold both languages.
        **content_i18n.as_json(course),
    }
    if upcoming_runs is not None:
        data["upcoming_runs"] = [run_summary(r, (seats or {}).get(r.id)) for r in upcoming_runs]
    return data


def meeting_to_dict(meeting: Meeting) -> dict:
    return {
        "id": meeting.id,
        "starts_at": iso(meeting.starts_at),
        "ends_at": iso(meeting.ends_at),
        "title": meeting.title,
        "cancelled_at": iso(meeting.cancelled_at),
        "finalised_at": iso(meeting.finalised_at),
    }


def run_summary(run: Run, seats_left: int | None) -> dict:
    return {
        "id": run.id,
        "starts_on": iso(run.starts_on),
        "ends_on": iso(run.ends_on),
        "mode": run.mode,
        "city": run.city,
        "status": run.status,
        "seats_left": seats_left,
    }


def run_to_dict(run: Run, seats_left: int, *, confirmed: int | None = None, waitlisted: int | None = None) -> dict:

    data = {
        "id": run.id,
        "course_id": run.course_id,
        "course_code": run.course.code,
        "course_title": run.course.title,
        "course_title_i18n": content_i18n.texts(run.course, "title"),
        "starts_on": iso(run.starts_on),
        "ends_on": iso(run.ends_on),
        "timezone": run.timezone,
        "mode": run.mode,
        "location": run.location,
        "city": run.city,
        "capacity": run.capacity,
        "seats_left": seats_left,
        "status": run.status,
        "requires_approval": run.requires_approval,
        "enrol_deadline": iso(enrol_deadline(run)),
        "cancel_cutoff": iso(cancel_cutoff(run)),
        "trainers": [{"id": t.id, "name": t.display_name} for t in run.trainers],
        "meetings": [meeting_to_dict(m) for m in run.meetings],
        "original_language": content_i18n.original_language(run),
        "location_i18n": content_i18n.texts(run, "location"),
    }
    if confirmed is not None:
        data["confirmed"] = confirmed
    if waitlisted is not None:
        data["waitlisted"] = waitlisted
    return data


def enrolment_to_dict(enrolment: Enrolment, *, position: int | None = None, with_user: bool = True) -> dict:
    data = {
        "id": enrolment.id,
        "run_id": enrolment.run_id,
        "user_id": enrolment.user_id,
        "status": enrolment.status,
        "created_at": iso(enrolment.created_at),
        "confirmed_at": iso(enrolment.confirmed_at),
        "cancelled_at": iso(enrolment.cancelled_at),
        "source": enrolment.source,
        "company_id": enrolment.company_id,
    }
    if enrolment.reason:
        data["reason"] = enrolment.reason
    if enrolment.offered_at is not None:
        data["offered_at"] = iso(enrolment.offered_at)
        data["offer_expires_at"] = iso(enrolment.offer_expires_at)
    if position is not None:
        data["waitlist_position"] = position
    if with_user:
        data["trainee"] = {
            "id": enrolment.user.id,
            "name": enrolment.user.display_name,
            "email": enrolment.user.email,
            "company": enrolment.company,
        }
    return data
