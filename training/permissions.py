"""can(user, action, obj): the one answer to "may this person do this?".

Pages, the API and the CLI all ask here; nothing else decides access.
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app

from .types import utcnow


def _is(user, role: str) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False)
                and getattr(user, "active", False) and user.role == role)


def is_admin(user) -> bool:
    return _is(user, "admin")


def is_trainer(user) -> bool:
    return _is(user, "trainer")


def is_coordinator(user) -> bool:
    return _is(user, "coordinator")


def coordinates(user, company_id) -> bool:
    """A coordinator of this company (a coordinator is scoped to one company:
    nothing of another company is theirs to see)."""
    return company_id is not None and is_coordinator(user) and user.company_id == company_id


def teaches(user, run) -> bool:
    return is_trainer(user) and run.is_taught_by(user)


def report_limits(user) -> dict | None:
    """What a person's reports may cover: ``{}`` everything (admins),
    ``{"trainer_id": id}`` the runs they teach (trainers), ``{"company_id": id}``
    their company's enrolments (coordinators); None: no reports at all."""
    if is_admin(user):
        return {}
    if is_trainer(user):
        return {"trainer_id": user.id}
    if is_coordinator(user) and user.company_id is not None:
        return {"company_id": user.company_id}
    return None


def is_assessor(user) -> bool:
    return _is(user, "assessor")


def teaches_person(user, person_id: int) -> bool:
    """A trainer teaches a run in which the person holds (or held) a confirmed place."""
    if not is_trainer(user):
        return False
    from sqlalchemy import select

    from .catalogue.models import run_trainers
    from .enrolment.models import Enrolment
    from .extensions import db
    return db.session.scalar(select(Enrolment.id).join(run_trainers, run_trainers.c.run_id == Enrolment.run_id).where(
        run_trainers.c.user_id == user.id, Enrolment.user_id == person_id,
        Enrolment.status == "confirmed").limit(1)) is not None


def can(user, action: str, obj=None) -> bool:
    authenticated = bool(user is not None and getattr(user, "is_authenticated", False)
                         and getattr(user, "active", False))
    if action in {"manage", "manage_catalogue", "manage_users", "issue_certificates",
                  "revoke_certificate", "import_enrolments", "view_audit_log", "manage_reports"}:
        return is_admin(user)
    if action == "view_course":  # obj: Course; the catalogue shows published courses that are not archived
        return is_admin(user) or (obj.published and not obj.archived)
    if action == "view_run":  # obj: Run (course loaded): what the course page, calendar and API show
        return is_admin(user) or (obj.status != "draft" and obj.course.published)
    if action == "enrol_self":
        return authenticated and user.role == "trainee"
    if action == "view_enrolment":  # obj: Enrolment
        return authenticated and (is_admin(user) or obj.user_id == user.id or teaches(user, obj.run)
                                  or coordinates(user, obj.company_id))
    if action == "cancel_enrolment":  # obj: Enrolment; the cut-off is a rule in enrolment.services
        return authenticated and (is_admin(user) or obj.user_id == user.id or coordinates(user, obj.company_id))
    # --- member companies (training.companies); obj: Company unless said otherwise
    if action == "manage_companies":  # create companies, name coordinators, reserve seats
        return is_admin(user)
    if action in {"view_company", "manage_company_people"}:
        return is_admin(user) or coordinates(user, obj.id)
    if action == "manage_person":  # obj: User: enrol or change them on their behalf
        return is_admin(user) or coordinates(user, obj.company_id)
    if action == "offer_seat":  # obj: Enrolment (a waitlisted one; the rules are in enrolment.offers)
        return is_admin(user)
    if action == "answer_offer":  # obj: Enrolment: accept or decline a seat offered to it
        return authenticated and (is_admin(user) or obj.user_id == user.id)
    if action == "view_roster":  # obj: Run
        return is_admin(user) or teaches(user, obj)
    if action == "mark_attendance":  # obj: Meeting
        if is_admin(user):
            return True
        if not teaches(user, obj.run):
            return False
        lead = timedelta(minutes=current_app.config["TRAINER_MARK_LEAD_MINUTES"])
        return utcnow() >= obj.starts_at - lead
    if action == "view_meeting_roster":  # obj: Meeting (trainers see it before they may mark)
        return is_admin(user) or teaches(user, obj.run)
    if action == "finalise_register":  # obj: Meeting; from its start (a rule in attendance.registers)
        return is_admin(user) or teaches(user, obj.run)
    if action in {"reopen_register", "cancel_meeting", "move_meeting"}:  # obj: Meeting
        return is_admin(user)
    if action == "view_checkin_code":  # obj: Meeting
        return is_admin(user) or teaches(user, obj.run)
    if action == "edit_trainer_profile":  # obj: User (the trainer)
        return is_admin(user) or (is_trainer(user) and obj.id == user.id)
    # --- qualifications (issue 14)
    if action == "manage_qualifications":  # skills, positions, course skills, people on positions
        return is_admin(user)
    if action in ("grant_qualification", "view_matrix"):  # manual grants; the matrix, exports, "who is qualified"
        return is_admin(user) or is_assessor(user)
    if action == "view_qualifications":  # obj: User (the person): themself, their trainers, assessors, admins
        return authenticated and (is_admin(user) or is_assessor(user) or obj.id == user.id
                                  or teaches_person(user, obj.id))
    if action == "enrol_for_gap":  # obj: User; the enrolment service applies its own rules on top
        return authenticated and (is_admin(user) or (obj.id == user.id and can(user, "enrol_self")))
    if action == "download_certificate":  # obj: Certificate
        return is_admin(user) or (authenticated and obj.enrolment.user_id == user.id)
    if action == "view_reports":  # obj: None; what they cover is report_limits(user)
        return report_limits(user) is not None
    if action == "view_feedback":  # obj: feedback results of the viewer's own scope (answers, min_answers)
        # Trainers see their runs' results only from a few answers on, so no answer points to a person.
        return is_admin(user) or (is_trainer(user) and obj.answers >= obj.min_answers)
    if action == "answer_feedback":  # obj: Enrolment
        return authenticated and obj.user_id == user.id
    raise ValueError(f"unknown action {action!r}")

