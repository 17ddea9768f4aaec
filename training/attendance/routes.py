from flask import Blueprint

bp = Blueprint("attendance", __name__)


@bp.get("/teaching")
def today():
    return "today"
