from flask import Blueprint, render_template

bp = Blueprint("catalogue", __name__)


@bp.get("/")
def index():
    return render_template("catalogue/index.html")
