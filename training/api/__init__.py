"""JSON API v1: thin adapters over the services, one error format."""
from flask import Blueprint

bp = Blueprint("api", __name__)

from . import routes  # noqa: E402,F401
