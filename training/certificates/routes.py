from flask import Blueprint

bp = Blueprint("certificates", __name__)


@bp.get("/verify")
def verify_form():
    return "verify"


@bp.get("/my/certificates")
def mine():
    return "mine"
