from flask import Blueprint

bp = Blueprint("admin", __name__)


@bp.get("/")
def dashboard():
    return "admin"


# Each area adds its admin pages to bp in its own module.
from . import catalogue, certificates, enrolments  # noqa: E402,F401
