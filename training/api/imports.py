"""API: bulk enrolment of trainees into a run (admins)."""

from __future__ import annotations

from ..enrolment import imports
from . import bp
from .helpers import body, require


@bp.post("/runs/<int:run_id>/enrolments/import")
def import_enrolments(run_id):
    """{trainees: [{email, name, company?, phone?}]} (at most 5,000) ->
    {enrolled, waitlisted, existing, accounts_created, errors: [{row, email, message}]}.

    Valid rows are enrolled in one transaction (seats first, then the waitlist
    in the given order); invalid rows are reported by their position (from 1)
    and change nothing. Sending the same list again changes nothing."""
    actor = require("import_enrolments")
    rows = imports.rows_from_json(body().get("trainees"))
    result = imports.commit(actor, run_id, rows, all_or_nothing=False, source="api")
    return {
        "run_id": run_id,
        "enrolled": result.enrolled,
        "waitlisted": result.waitlisted,
        "existing": result.existing,
        "accounts_created": result.accounts_created,
        "errors": result.errors,
    }, 200
