from flask import Blueprint

bp = Blueprint("admin", __name__)


@bp.get("/")
def dashboard():
    return "admin"
