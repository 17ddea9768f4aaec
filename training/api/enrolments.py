"""API: enrolments."""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..catalogue.seats import waitlist_position
from ..catalogue.services import get_run
from ..enrolment import offers, queries, services
from ..enrolment.models import Enrolment
from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..permissions import can, is_admin, is_coordinator, not_found_when_refused
from . import bp
from .helpers import body, caller, page_args, page_body
from .serializers import enrolment_to_dict


@bp.post("/runs/<int:run_id>/enrolments")
def enrol(run_id):
    """A trainee with {} enrols themself; an admin with {email, name} enrols that person."""
    actor = caller()
    data = body()
    if (data.get("email") is not None or data.get("name") is not None) and is_coordinator(actor):
        from .companies import enrol_for_company

        enrolment = enrol_for_company(actor, run_id, data)
    elif data.get("email") is not None or data.get("name") is not None:
        if not is_admin(actor):
            raise Forbidden(_("Only an admin can enrol someone else."))
        email, name = data.get("email"), data.get("name")
        if not isinstance(email, str) or not email.strip():
            raise ValidationFailed(_("email is required to enrol someone else."), fields={"email": "required"})
        if not isinstance(name, str):
            raise ValidationFailed(_("name is required to enrol someone else."), fields={"name": "required"})
        get_run(run_id)
        enrolment, _created = services.enrol_person(actor, run_id, email, name, source="api")
    else:
        enrolment = services.enrol(actor, run_id, source="api")
    result = {
        "id": enrolment.id,
        "run_id": enrolment.run_id,
        "status": enrolment.status,
        "company_id": enrolment.company_id,
    }
    position = waitlist_position(enrolment)
    if position is not None:
        result["waitlist_position"] = position
    return result, 201, {"Location": url_for("api.get_enrolment", enrolment_id=enrolment.id)}


@bp.get("/enrolments/<int:enrolment_id>")
def get_enrolment(enrolment_id):
    actor = caller()
    enrolment = queries.get_enrolment(enrolment_id)
    if not can(actor, "view_enrolment", enrolment):
        if not_found_when_refused(actor):
            raise NotFound(_("No such enrolment."))
        raise Forbidden(_("You cannot see this enrolment."))
    return enrolment_to_dict(enrolment, position=waitlist_position(enrolment))


@bp.delete("/enrolments/<int:enrolment_id>")
def cancel_enrolment(enrolment_id):
    actor = caller()
    data = body()
    reason = data.get("reason")
    enrolment = services.cancel(actor, enrolment_id, reason if isinstance(reason, str) else "")
    return enrolment_to_dict(enrolment)


@bp.post("/enrolments/<int:enrolment_id>/offer")
def offer_seat(enrolment_id):
    """Admins: offer a free seat (after the enrolment deadline) to the next on the waitlist."""
    enrolment = offers.offer_seat(caller(), enrolment_id)
    return enrolment_to_dict(enrolment)


@bp.post("/enrolments/<int:enrolment_id>/accept-offer")
def accept_offer(enrolment_id):
    """The trainee takes the seat offered to them: confirmed."""
    enrolment = offers.accept_offer(caller(), enrolment_id)
    return enrolment_to_dict(enrolment)


@bp.post("/enrolments/<int:enrolment_id>/decline-offer")
def decline_offer(enrolment_id):
    """The trainee declines the seat: it is offered to the next in line."""
    enrolment = offers.decline_offer(caller(), enrolment_id)
    return enrolment_to_dict(enrolment)


@bp.get("/runs/<int:run_id>/enrolments")
def list_enrolments(run_id):
    actor = caller()
    run = get_run(run_id)
    if not can(actor, "view_roster", run):
        raise Forbidden(_("Only the run's trainers and admins can see its enrolments."))
    page, per_page = page_args(50, 500)
    stmt = select(Enrolment).where(Enrolment.run_id == run.id)
    from flask import request

    status = request.args.get("status")
    if status:
        if status not in set(queries.STATUS_LABELS):
            raise ValidationFailed(_("Unknown status filter."), fields={"status": "unknown"})
        stmt = stmt.where(Enrolment.status == status)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(
        db.session.scalars(
            stmt.options(selectinload(Enrolment.user))
            .order_by(Enrolment.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    # Waitlist positions for the page in one pass over the ordered waitlist.
    order = (
        [e.id for e in db.session.scalars(queries.waitlist_query(run.id))]
        if any(e.status == "waitlisted" for e in rows)
        else []
    )
    positions = {eid: i + 1 for i, eid in enumerate(order)}
    return page_body([enrolment_to_dict(e, position=positions.get(e.id)) for e in rows], page, per_page, total)
