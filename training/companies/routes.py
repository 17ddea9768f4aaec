"""Company pages: coordinators' people, enrolments, attendance, certificates and
report; admins' company pages. Routes parse, call one service, render."""
from __future__ import annotations

from flask import Blueprint
from flask_login import user_logged_in

bp = Blueprint("companies", __name__)


@user_logged_in.connect
def _join_invited_company(_app, user, **_extra):
    """An invited address joins its company when the person signs in or registers."""
    from .services import link_invitations
    link_invitations(user)
