from flask import Blueprint

bp = Blueprint("enrolment", __name__)


@bp.get("/my/training")
def my_training():
    return "my training"
