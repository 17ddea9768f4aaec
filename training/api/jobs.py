"""API: jobs."""
from . import bp  # noqa: F401
