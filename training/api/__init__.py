"""JSON API v1: thin adapters over the services, one error format.

Errors: ``{"error": {"code", "message", "fields"}}`` with 400, 401, 403, 404,
409 or 422 (see training.__init__._json_error). Auth: ``Authorization: Bearer``.
"""
from flask import Blueprint

bp = Blueprint("api", __name__)

# One module per area; each adds its routes to bp.
from . import attendance, certificates, courses, docs, enrolments, imports, jobs, trainers  # noqa: E402,F401
