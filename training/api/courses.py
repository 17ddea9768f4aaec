"""API: courses and runs."""

from __future__ import annotations

from flask import request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from ..catalogue import queries, services
from ..catalogue.search import CatalogueQuery, search_courses
from ..catalogue.seats import seats_left
from ..enrolment.models import Enrolment
from ..enrolment.services import cancel_run as cancel_run_service
from ..extensions import db
from ..permissions import is_admin
from . import bp
from .helpers import body, require
from .serializers import course_to_dict, run_to_dict


@bp.post("/courses")
def create_course():
    actor = require("manage_catalogue")
    course = services.create_course(actor, body())
    return course_to_dict(course), 201, {"Location": url_for("api.get_course", course_id=course.id)}


@bp.get("/courses")
def list_courses():
    query = CatalogueQuery.from_args(request.args, strict=True)
    page = search_courses(query, include_unpublished=is_admin(current_user))
    return {
        "items": [
            course_to_dict(card.course, upcoming_runs=card.upcoming_runs, seats=card.seats) for card in page.items
        ],
        "page": page.page,
        "per_page": page.per_page,
        "pages": page.pages,
        "total": page.total,
    }


@bp.get("/courses/<int:course_id>")
def get_course(course_id):
    # The same course and the same upcoming runs as the course page shows this viewer.
    detail = queries.course_detail(course_id, current_user)
    return course_to_dict(detail.course, upcoming_runs=detail.runs, seats=detail.seats)


@bp.patch("/courses/<int:course_id>")
def update_course(course_id):
    actor = require("manage_catalogue")
    course = services.update_course(actor, services.get_course(course_id), body())
    return course_to_dict(course)


@bp.post("/courses/<int:course_id>/runs")
def create_run(course_id):
    actor = require("manage_catalogue")
    course = services.get_course(course_id)
    run = services.create_run(actor, course, body())
    return run_to_dict(run, run.capacity, confirmed=0), 201, {"Location": url_for("api.get_run", run_id=run.id)}


def _run_response(run):
    counts = dict(
        db.session.execute(
            select(Enrolment.status, func.count()).where(Enrolment.run_id == run.id).group_by(Enrolment.status)
        ).all()
    )
    confirmed = counts.get("confirmed", 0)
    return run_to_dict(run, seats_left(run, confirmed), confirmed=confirmed, waitlisted=counts.get("waitlisted", 0))


@bp.get("/runs/<int:run_id>")
def get_run(run_id):
    return _run_response(queries.visible_run(run_id, current_user))


@bp.patch("/runs/<int:run_id>")
def update_run(run_id):
    actor = require("manage_catalogue")
    run = services.update_run(actor, run_id, body())
    return _run_response(queries.load_run_for_page(run.id))


@bp.post("/runs/<int:run_id>/cancel")
def cancel_run(run_id):
    actor = require("manage_catalogue")
    data = body()
    reason = data.get("reason")
    count = cancel_run_service(actor, run_id, reason if isinstance(reason, str) else "")
    return {"run_id": run_id, "status": "cancelled", "enrolments_cancelled": count}
