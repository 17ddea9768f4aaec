"""API: background job progress."""

from __future__ import annotations

from ..errors import Forbidden, NotFound
from ..extensions import db
from ..jobs import Job
from ..permissions import is_admin
from . import bp
from .helpers import caller


@bp.get("/jobs/<job_id>")
def get_job(job_id):
    actor = caller()
    job = db.session.get(Job, job_id[:36])
    if job is None:
        raise NotFound("No such job.")
    if not is_admin(actor) and job.created_by_id != actor.id:
        raise Forbidden("You cannot see this job.")
    return job.to_dict()
