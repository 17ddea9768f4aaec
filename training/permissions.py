"""can(user, action, obj): the one answer to "may this person do this?".

Pages, the API and the CLI all ask here; nothing else decides access.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, get_args

from flask import current_app

from .types import utcnow

if TYPE_CHECKING:
    from flask_login import AnonymousUserMixin

    from .accounts.models import User
    from .catalogue.models import Run

# Who is asking: a signed-in User, Flask-Login's anonymous user (``current_user`` of a visitor) or None (no
# request: the CLI, a job). Flask-Login has no types, so its part of the union is Any to the checker; the
# None part still makes a caller check before reading ``.id``.
Viewer: TypeAlias = "User | AnonymousUserMixin | None"


def _is(user: Any, role: str) -> bool:
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "active", False)
        and user.role == role
    )


def is_admin(user: Any) -> bool:
    return _is(user, "admin")


def is_trainer(user: Any) -> bool:
    return _is(user, "trainer")


def is_coordinator(user: Any) -> bool:
    return _is(user, "coordinator")


def coordinates(user: Any, company_id: int | None) -> bool:
    """A coordinator of this company (a coordinator is scoped to one company:
    nothing of another company is theirs to see)."""
    return company_id is not None and is_coordinator(user) and user.company_id == company_id


def not_found_when_refused(user: Any) -> bool:
    """Whether a refusal is told to ``user`` as "not found" (404) rather than "forbidden" (403): a
    coordinator is scoped to one company, and another company's people and enrolments answer as what does
    not exist, so that an id tells them nothing."""
    return is_coordinator(user)


def teaches(user: Any, run: Run) -> bool:
    return is_trainer(user) and run.is_taught_by(user)


def report_limits(user: Any) -> dict[str, int] | None:
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


def is_assessor(user: Any) -> bool:
    return _is(user, "assessor")


def teaches_person(user: Any, person_id: int) -> bool:
    """A trainer teaches a run in which the person holds (or held) a confirmed place."""
    if not is_trainer(user):
        return False
    from sqlalchemy import select

    from .catalogue.models import run_trainers
    from .enrolment.models import Enrolment
    from .extensions import db

    return (
        db.session.scalar(
            select(Enrolment.id)
            .join(run_trainers, run_trainers.c.run_id == Enrolment.run_id)
            .where(run_trainers.c.user_id == user.id, Enrolment.user_id == person_id, Enrolment.status == "confirmed")
            .limit(1)
        )
        is not None
    )


# Every action a person may be allowed, by name. Callers name them as literals: mypy (``make lint``) refuses a
# name that is not here, and the rules below must cover exactly these names or this module fails to import.
Action = Literal[
    "manage",
    "manage_catalogue",
    "manage_users",
    "issue_certificates",
    "revoke_certificate",
    "import_enrolments",
    "view_audit_log",
    "manage_reports",
    "enrol_self",
    "view_enrolment",
    "cancel_enrolment",
    "manage_companies",
    "view_company",
    "manage_company_people",
    "manage_person",
    "offer_seat",
    "answer_offer",
    "view_roster",
    "mark_attendance",
    "view_meeting_roster",
    "finalise_register",
    "reopen_register",
    "cancel_meeting",
    "move_meeting",
    "view_checkin_code",
    "edit_trainer_profile",
    "manage_qualifications",
    "grant_qualification",
    "view_matrix",
    "view_qualifications",
    "enrol_for_gap",
    "download_certificate",
    "view_reports",
    "view_feedback",
    "answer_feedback",
    "view_course",
    "view_run",
    "view_teaching_day",
]
ACTIONS: frozenset[str] = frozenset(get_args(Action))

# A rule: (user, obj, authenticated) -> allowed. ``authenticated``: signed in and active.
Rule = Callable[[Any, Any, bool], bool]
_RULES: dict[str, Rule] = {}


def _rule(*actions: Action) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for action in actions:
            if action not in ACTIONS or action in _RULES:
                raise RuntimeError(f"permission rule for an unknown or already ruled action {action!r}")
            _RULES[action] = fn
        return fn

    return register


@_rule(
    "manage",
    "manage_catalogue",
    "manage_users",
    "issue_certificates",
    "revoke_certificate",
    "import_enrolments",
    "view_audit_log",
    "manage_reports",
    "manage_companies",  # create companies, name coordinators, reserve seats
    "offer_seat",  # obj: Enrolment (a waitlisted one; the rules are in enrolment.offers)
    "reopen_register",
    "cancel_meeting",
    "move_meeting",  # obj: Meeting
    "manage_qualifications",
)  # skills, positions, course skills, people on positions
def _admin_only(user: Any, obj: Any, authenticated: bool) -> bool:
    return is_admin(user)


@_rule("enrol_self")
def _enrol_self(user: Any, obj: Any, authenticated: bool) -> bool:
    return authenticated and user.role == "trainee"


@_rule("view_enrolment")  # obj: Enrolment
def _view_enrolment(user: Any, obj: Any, authenticated: bool) -> bool:
    return authenticated and (
        is_admin(user) or obj.user_id == user.id or teaches(user, obj.run) or coordinates(user, obj.company_id)
    )


@_rule("cancel_enrolment")  # obj: Enrolment; the cut-off is a rule in enrolment.services
def _cancel_enrolment(user: Any, obj: Any, authenticated: bool) -> bool:
    return authenticated and (is_admin(user) or obj.user_id == user.id or coordinates(user, obj.company_id))


# --- member companies (training.companies); obj: Company unless said otherwise
@_rule("view_company", "manage_company_people")
def _company(user: Any, obj: Any, authenticated: bool) -> bool:
    return is_admin(user) or coordinates(user, obj.id)


@_rule("manage_person")  # obj: User: enrol or change them on their behalf
def _manage_person(user: Any, obj: Any, authenticated: bool) -> bool:
    return is_admin(user) or coordinates(user, obj.company_id)


@_rule("answer_offer")  # obj: Enrolment: accept or decline a seat offered to it
def _answer_offer(user: Any, obj: Any, authenticated: bool) -> bool:
    return authenticated and (is_admin(user) or obj.user_id == user.id)


@_rule("view_course")  # obj: Course; the catalogue shows published courses that are not archived
def _view_course(user: Any, obj: Any, authenticated: bool) -> bool:
    return is_admin(user) or bool(obj.published and not obj.archived)


@_rule("view_run")  # obj: Run (course loaded): what the course page, calendar and API show
def _view_run(user: Any, obj: Any, authenticated: bool) -> bool:
    return is_admin(user) or bool(obj.status != "draft" and obj.course.published)


@_rule("view_teaching_day")  # the trainer's "Today" page: their meetings and open registers
def _view_teaching_day(user: Any, obj: Any, authenticated: bool) -> bool:
    return is_admin(user) or is_trainer(user)


@_rule("view_roster")  # obj: Run
def _view_roster(user: Any, obj: Any, authenticated: bool) -> bool:
    return is_admin(user) or teaches(user, obj)


@_rule("mark_attendance")  # obj: Meeting
def _mark_attendance(user: Any, obj: Any, authenticated: bool) -> bool:
    if is_admin(user):
        return True
    if not teaches(user, obj.run):
        return False
    lead = timedelta(minutes=current_app.config["TRAINER_MARK_LEAD_MINUTES"])
    return bool(utcnow() >= obj.starts_at - lead)


@_rule(
    "view_meeting_roster",  # obj: Meeting (trainers see it before they may mark)
    "finalise_register",  # obj: Meeting; from its start (a rule in attendance.registers)
    "view_checkin_code",
)  # obj: Meeting
def _meeting_of_own_run(user: Any, obj: Any, authenticated: bool) -> bool:
    return is_admin(user) or teaches(user, obj.run)


@_rule("edit_trainer_profile")  # obj: User (the trainer)
def _edit_trainer_profile(user: Any, obj: Any, authenticated: bool) -> bool:
    return is_admin(user) or (is_trainer(user) and obj.id == user.id)


# --- qualifications (issue 14)
@_rule("grant_qualification", "view_matrix")  # manual grants; the matrix, exports, "who is qualified"
def _assessor(user: Any, obj: Any, authenticated: bool) -> bool:
    return is_admin(user) or is_assessor(user)


@_rule("view_qualifications")  # obj: User (the person): themself, their trainers, assessors, admins
def _view_qualifications(user: Any, obj: Any, authenticated: bool) -> bool:
    return authenticated and (is_admin(user) or is_assessor(user) or obj.id == user.id or teaches_person(user, obj.id))


@_rule("enrol_for_gap")  # obj: User; the enrolment service applies its own rules on top
def _enrol_for_gap(user: Any, obj: Any, authenticated: bool) -> bool:
    return authenticated and (is_admin(user) or (obj.id == user.id and can(user, "enrol_self")))


@_rule("download_certificate")  # obj: Certificate
def _download_certificate(user: Any, obj: Any, authenticated: bool) -> bool:
    return is_admin(user) or (authenticated and obj.enrolment.user_id == user.id)


@_rule("view_reports")  # obj: None; what they cover is report_limits(user)
def _view_reports(user: Any, obj: Any, authenticated: bool) -> bool:
    return report_limits(user) is not None


@_rule("view_feedback")  # obj: feedback results of the viewer's own scope (answers, min_answers)
def _view_feedback(user: Any, obj: Any, authenticated: bool) -> bool:
    # Trainers see their runs' results only from a few answers on, so no answer points to a person.
    return is_admin(user) or (is_trainer(user) and obj.answers >= obj.min_answers)


@_rule("answer_feedback")  # obj: Enrolment
def _answer_feedback(user: Any, obj: Any, authenticated: bool) -> bool:
    return authenticated and bool(obj.user_id == user.id)


if set(_RULES) != ACTIONS:  # checked when the module is imported, not when a page first asks
    raise RuntimeError(f"actions without a permission rule: {sorted(ACTIONS - set(_RULES))}")


def can(user: Any, action: Action, obj: Any = None) -> bool:
    """May ``user`` (a User, an anonymous user or None) do ``action`` (on ``obj``)?"""
    rule = _RULES.get(action)
    if rule is None:  # a name from a template, or from code that bypassed the type check
        raise ValueError(f"unknown action {action!r}")
    authenticated = bool(
        user is not None and getattr(user, "is_authenticated", False) and getattr(user, "active", False)
    )
    return rule(user, obj, authenticated)
