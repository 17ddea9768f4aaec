from flask import Blueprint

bp = Blueprint("trainers", __name__)


@bp.get("/trainers")
def directory():
    return "trainers"


@bp.get("/trainers/<int:user_id>/edit")
def edit_profile(user_id):
    return "edit"
