"""Glue every page route shares: where to go next, which page of a list, and
where a service's refusal is shown on a form.

Routes parse the request, call one service and render; these helpers are the
parsing and rendering half that would otherwise be written once per blueprint.
Nothing here decides a rule: rules live in the services.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from flask import flash, request
from flask_wtf import FlaskForm

from .errors import DomainError

MAX_PAGE = 100_000


def safe_next(target: str | None) -> str | None:
    """Only a local path: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target or not isinstance(target, str) or len(target) > 2000:
        return None
    if any(c in target for c in "\\\r\n\t") or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def page_arg(name: str = "page") -> int:
    """The 1-based page number in the query string; anything else is page 1."""
    try:
        return min(max(int(request.args.get(name, 1)), 1), MAX_PAGE)
    except (TypeError, ValueError):
        return 1


def show_form_error(form: FlaskForm, exc: DomainError, aliases: Mapping[str, str] | None = None) -> None:
    """A service's refusal beside the first field it names that the form has
    (``aliases`` maps service field names to form field names where they
    differ), else as a flash message at the top of the page."""
    for name in exc.fields or {}:
        field = getattr(form, (aliases or {}).get(name, name), None)
        if field is None or not hasattr(field, "errors"):
            continue
        if isinstance(field.errors, list):
            field.errors.append(exc.message)
        else:  # WTForms keeps a tuple until the form is validated
            field.errors = [*field.errors, exc.message]
        return
    flash(exc.message, "danger")
