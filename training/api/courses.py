"""API: courses."""
from . import bp  # noqa: F401
