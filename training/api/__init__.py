"""JSON API v1: thin adapters over the services, one error format.

Errors: ``{"error": {"code", "message", "fields"}}`` with 400, 401, 403, 404,
409 or 422 (see training.__init__._json_error). Auth: ``Authorization: Bearer``.
"""

from flask import Blueprint

bp = Blueprint("api", __name__)


@bp.before_request
def _bearer_only():
    """The caller is the bearer token's user, never the browser session: the
    API has no CSRF tokens, so a session cookie must not count here (a page on
    another site could otherwise post to it in a logged-in user's name)."""
    from flask import g, request

    from ..accounts.services import user_for_token
    from ..extensions import login_manager

    header = request.headers.get("Authorization", "")
    user = user_for_token(header[7:].strip()) if header.startswith("Bearer ") else None
    g._login_user = user or login_manager.anonymous_user()


# One module per area; each adds its routes to bp.
from . import (  # noqa: E402,F401 - the routes register on the blueprint defined above
    attendance,
    certificates,
    companies,
    courses,
    docs,
    enrolments,
    imports,
    jobs,
    qualifications,
    reports,
    trainers,
)
