"""Admin pages: enrolments."""
from .routes import bp  # noqa: F401
