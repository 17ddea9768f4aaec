"""API: attendance of a meeting (the run's trainers and admins).

``GET /api/v1/meetings/<id>/attendance`` -> the roster with statuses.
``PUT /api/v1/meetings/<id>/attendance`` {records: [{enrolment_id, status, note?, idempotency_key?}]}
-> 200, the roster after the change and how many records changed. A record
whose idempotency key was already received is skipped (safe retries).
"""
from __future__ import annotations

from flask_babel import gettext as _

from ..attendance import services
from ..errors import Forbidden
from ..permissions import can
from . import bp
from .helpers import body, caller
from .serializers import iso


def _roster_body(meeting) -> dict:
    rows = services.roster(meeting)
    return {
        "meeting": {"id": meeting.id, "run_id": meeting.run_id, "starts_at": iso(meeting.starts_at),
                    "ends_at": iso(meeting.ends_at), "title": meeting.title,
                    "course_code": meeting.run.course.code, "course_title": meeting.run.course.title},
        "counts": services.roster_counts(rows),
        "items": [{
            "enrolment_id": e.id, "user_id": e.user_id, "name": e.user.display_name,
            "status": r.status if r else None, "note": r.note if r else "",
            "marked_by": ({"id": r.marked_by.id, "name": r.marked_by.display_name} if r and r.marked_by else None),
            "marked_at": iso(r.marked_at) if r else None, "source": r.source if r else None,
        } for e, r in rows],
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
    return result
