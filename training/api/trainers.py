"""API: trainers (see the issue for this area)."""
from . import bp  # noqa: F401
