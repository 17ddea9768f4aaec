"""API: enrolments."""
from . import bp  # noqa: F401
