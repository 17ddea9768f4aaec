"""Admin pages: catalogue."""
from .routes import bp  # noqa: F401
