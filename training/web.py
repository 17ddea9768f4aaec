"""Glue every page route shares: where to go next, which page of a list, and
where a service's refusal is shown on a form.

Routes parse the request, call one service and render; these helpers are the
parsing and rendering half that would otherwise be written once per blueprint.
Nothing here decides a rule: rules live in the services (``same_origin_only`` is the
request's own check, as CSRF is).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import flash, request
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from .errors import DomainError, Forbidden
from .urls import public_base_url

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


def same_origin_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """For a form that changes nothing and acts for no one (the verification pages' PDF check): it carries
    no CSRF token, so showing it creates no session and its page sets no cookie; a browser's post from
    another site is refused all the same (403, before the view runs).

    A CSRF token guards what a request may do with the visitor's cookies; such a form does nothing with
    them. The browser's own word decides: ``Sec-Fetch-Site`` (sent by every current browser) must be
    ``same-origin`` (or ``none``: typed by the user); without it, an ``Origin`` must name this site's host
    (the request's, already checked against TRUSTED_HOSTS, or PUBLIC_BASE_URL's). A client that sends
    neither (curl, a script) is no browser carrying someone's cookies and is served."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not _from_this_site():
            raise Forbidden(_("This form can only be sent from this site's own pages."))
        return view(*args, **kwargs)

    return guarded


def _from_this_site() -> bool:
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    host = urlsplit(origin).netloc.lower() if origin != "null" else ""
    return bool(host) and host in (request.host.lower(), urlsplit(public_base_url()).netloc.lower())
