"""API: attendance of a meeting, its register, self check-in, cancelling and moving.

``GET /api/v1/meetings/<id>/attendance`` -> the roster with statuses and ``finalised_at``.
``PUT /api/v1/meetings/<id>/attendance`` {records: [{enrolment_id, status, note?, idempotency_key?,
recorded_at?}]} -> 200, the roster after the change, how many records changed and the
``conflicts`` (older marks not applied). 409 ``register_finalised`` on a finalised register.
``POST /api/v1/meetings/<id>/attendance/finalise`` -> {finalised_at, finalised_by}.
``POST /api/v1/meetings/<id>/attendance/reopen`` {reason} (admins).
``GET /api/v1/meetings/<id>/checkin-code`` -> {code, expires_at, period_seconds} (trainers, admins).
``POST /api/v1/meetings/<id>/checkin`` {code} (the signed-in confirmed trainee) -> {enrolment_id, status}.
``POST /api/v1/meetings/<id>/cancel`` {reason}; ``POST /api/v1/meetings/<id>/move`` {starts_at, ends_at} (admins).
"""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _
from flask_login import current_user

from ..attendance import checkin, meetings, registers, services
from ..errors import Forbidden
from ..extensions import limiter
from ..permissions import can
from . import bp
from .helpers import body, caller
from .serializers import iso


def _person(user) -> dict | None:
    return {"id": user.id, "name": user.display_name} if user is not None else None


def _meeting_body(meeting) -> dict:
    return {
        "id": meeting.id,
        "run_id": meeting.run_id,
        "starts_at": iso(meeting.starts_at),
        "ends_at": iso(meeting.ends_at),
        "title": meeting.title,
        "course_code": meeting.run.course.code,
        "course_title": meeting.run.course.title,
        "cancelled_at": iso(meeting.cancelled_at),
        "cancel_reason": meeting.cancel_reason or "",
        "sequence": meeting.sequence or 0,
        "finalised_at": iso(meeting.finalised_at),
        "finalised_by": _person(meeting.finalised_by),
    }


def _roster_body(meeting) -> dict:
    rows = services.roster(meeting)
    flagged = services.device_flags(meeting)
    return {
        "meeting": _meeting_body(meeting),
        "finalised_at": iso(meeting.finalised_at),
        "finalised_by": _person(meeting.finalised_by),
        "cancelled": meeting.cancelled_at is not None,
        "counts": services.roster_counts(rows),
        "items": [
            {
                "enrolment_id": e.id,
                "user_id": e.user_id,
                "name": e.user.display_name,
                "status": r.status if r else None,
                "note": r.note if r else "",
                "marked_by": _person(r.marked_by) if r else None,
                "marked_at": iso(r.marked_at) if r else None,
                "recorded_at": iso(services.recorded_time(r)) if r else None,
                "source": r.source if r else None,
                "self_checkin": bool(r and r.source == "checkin"),
                "device_flag": e.user_id in flagged,
            }
            for e, r in rows
        ],
    }


@bp.get("/meetings/<int:meeting_id>/attendance")
def meeting_attendance(meeting_id):
    actor = caller()
    meeting = services.get_meeting(meeting_id)
    if not can(actor, "view_meeting_roster", meeting):
        raise Forbidden(_("Only the run's trainers and admins can see this roster."))
    return _roster_body(meeting)


@bp.put("/meetings/<int:meeting_id>/attendance")
def mark_attendance(meeting_id):
    actor = caller()
    data = body()
    changed = services.mark(actor, meeting_id, data.get("records"), source="api")
    result = _roster_body(services.get_meeting(meeting_id))
    result["changed"] = len(changed)
    result["conflicts"] = changed.conflicts
    return result


@bp.post("/meetings/<int:meeting_id>/attendance/finalise")
def finalise_register(meeting_id):
    actor = caller()
    body()  # no fields, but a malformed body is still a 400
    meeting = registers.finalise(actor, meeting_id)
    return {"finalised_at": iso(meeting.finalised_at), "finalised_by": _person(meeting.finalised_by)}


@bp.post("/meetings/<int:meeting_id>/attendance/reopen")
def reopen_register(meeting_id):
    actor = caller()
    meeting = registers.reopen(actor, meeting_id, body().get("reason"))
    return {"finalised_at": None, "finalised_by": None, "meeting": _meeting_body(meeting)}


@bp.get("/meetings/<int:meeting_id>/checkin-code")
def checkin_code(meeting_id):
    actor = caller()
    current = checkin.current_code(actor, meeting_id)
    return (
        {
            "code": current.code,
            "expires_at": iso(current.expires_at),
            "period_seconds": current.period_seconds,
            "url": current.url,
        },
        200,
        {"Cache-Control": "no-store"},
    )


def _checkin_key():
    # Per account: a whole class checks in from behind one address.
    return f"api-checkin:{current_user.get_id() if current_user.is_authenticated else request.remote_addr}"


@bp.post("/meetings/<int:meeting_id>/checkin")
@limiter.limit("12/minute", key_func=_checkin_key)
def self_checkin(meeting_id):
    actor = caller()
    data = body()
    result = checkin.check_in(
        actor,
        code=data.get("code"),
        meeting_id=meeting_id,
        device=request.cookies.get(checkin.DEVICE_COOKIE),
        ip=request.remote_addr,
    )
    return {
        "enrolment_id": result.attendance.enrolment_id,
        "status": result.attendance.status,
        "already": result.already,
    }


@bp.post("/meetings/<int:meeting_id>/cancel")
def cancel_meeting(meeting_id):
    meeting = meetings.cancel(caller(), meeting_id, body().get("reason"))
    return _meeting_body(meeting)


@bp.post("/meetings/<int:meeting_id>/move")
def move_meeting(meeting_id):
    data = body()
    meeting = meetings.move(caller(), meeting_id, data.get("starts_at"), data.get("ends_at"))
    return _meeting_body(meeting)
