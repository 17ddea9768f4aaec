"""Admin pages: certificates."""
from .routes import bp  # noqa: F401
