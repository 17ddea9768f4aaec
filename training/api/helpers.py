"""Small helpers every API module uses: the caller, the body, pagination."""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _
from flask_login import current_user

from ..errors import DomainError, Forbidden, ValidationFailed
from ..permissions import Action, can


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


def caller():
    """The authenticated user, or a 401."""
    if not current_user.is_authenticated:
        raise Unauthorized(_("Authentication required: send Authorization: Bearer <token>."))
    return current_user._get_current_object()


def require(action: Action, obj=None):
    user = caller()
    if not can(user, action, obj):
        raise Forbidden(_("You are not allowed to do this."))
    return user


def body() -> dict:
    """The JSON object sent, or a 400/422 with a clear message."""
    if not request.data:
        return {}
    data = request.get_json(silent=True)
    if data is None:
        raise DomainError(_("The body must be JSON (Content-Type: application/json)."), code="bad_json", status=400)
    if not isinstance(data, dict):
        raise ValidationFailed(_("The body must be a JSON object."))
    if _has_nul(data):
        raise ValidationFailed(_("Text must not contain NUL characters."), code="nul_character")
    return data


def _has_nul(value, depth: int = 0) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if depth > 20:
        return False
    if isinstance(value, dict):
        return any(_has_nul(k, depth + 1) or _has_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v, depth + 1) for v in value)
    return False


def page_args(default_per_page: int = 20, max_per_page: int = 100) -> tuple[int, int]:
    def integer(name, default, hi):
        raw = request.args.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ValidationFailed(_("%(name)s must be a whole number.", name=name), fields={name: "invalid"}) from None
        if not 1 <= value <= hi:
            raise ValidationFailed(
                _("%(name)s must be between 1 and %(hi)s.", name=name, hi=hi), fields={name: "out of range"}
            )
        return value

    return integer("page", 1, 1_000_000), integer("per_page", default_per_page, max_per_page)


def page_body(items, page: int, per_page: int, total: int) -> dict:
    pages = max(1, -(-total // per_page))
    return {"items": items, "page": page, "per_page": per_page, "pages": pages, "total": total}
