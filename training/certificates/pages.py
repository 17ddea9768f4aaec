"""The public verification page, rendered once per content and language.

Rendering the page (layout, translations, links) costs several times more
than reading the certificate. The page an anonymous visitor gets is a pure
function of the certificate's row (every column), the code of its successor
(a code never changes), the organisation's date (ORG_TIMEZONE: the status),
the language, the link base and the path; so the rendered HTML is kept under
a key made of exactly those. There is nothing to invalidate: every request
reads the row first (``services.page_version``: one statement, one round
trip), and a revocation, a reissue, a stored document or an expiry date
passing changes the row or the date, hence the key, in the same transaction
that changes the row. Every worker and every server shows the change on its
next request. A hit renders nothing and loads no ORM object. On PostgreSQL
the row is stood for by its version (``services.page_version``: the xmin and
a SHA-256 of every column, two short values read through the driver), else by
its columns.

A signed-in visitor's layout shows their navigation, name and menu, and
nothing else on the page is about the viewer: for every signed-in visitor one
page is kept under the same key, rendered with those parts as stand-ins
(``rendering.viewer_slots``), and each response gets its visitor's own
(``rendering.with_viewer``, from the user read on this request).

What is not cached: pages with a query string or pending flash messages,
unknown codes (a 404 before any key is made; an attacker enumerating codes
fills nothing). The
cache holds at most ``VERIFY_PAGE_CACHE_SIZE`` pages per process (least
recently used dropped first; 0 turns it off), as UTF-8 (about 10 KB a page).
The page's PDF check form carries no CSRF token (it changes nothing and acts
for no one: ``web.same_origin_only``), so an anonymous visit creates no
session and sets no cookie; a signed-in visitor's logout form gets their own
token, and the script nonce is the response's own: the cached HTML holds
placeholders replaced on every response.
"""

from __future__ import annotations

import secrets
from collections.abc import Hashable
from contextlib import nullcontext
from datetime import date

from flask import Response, current_app, g, render_template, request, session
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from ..lru import LRU
from ..rendering import viewer_slots, with_viewer
from ..types import org_today
from ..urls import public_base_url
from . import services

TEMPLATE = "certificates/verify.html"
DEFAULT_SIZE = 256

# Random per process: no certificate text can contain it by chance or design.
_CSRF_PLACEHOLDER = f"csrf-{secrets.token_hex(16)}"
_CSRF_PLACEHOLDER_BYTES = _CSRF_PLACEHOLDER.encode()
# Likewise the script nonce: it changes with every response's Content-Security-Policy.
_NONCE_PLACEHOLDER_BYTES = f"nonce-{secrets.token_hex(16)}".encode()

PageKey = tuple[str, str, str, str, date, Hashable]
# A whole page; a signed-in visitor's with stand-ins for their parts of the layout.
Kept = bytes


# At most ``VERIFY_PAGE_CACHE_SIZE`` pages, least recently used dropped first.
RenderedPages = LRU[Kept]


def pages() -> RenderedPages:
    """This app's cache (one per app, per process)."""
    return current_app.extensions.setdefault("verify_pages", LRU[Kept](_size()))


def _size() -> int:
    return int(current_app.config.get("VERIFY_PAGE_CACHE_SIZE", DEFAULT_SIZE))  # set in config.py


def _cacheable() -> bool:
    return _size() > 0 and not request.query_string and not session.get("_flashes")


def page_key(version: Hashable, today: date) -> PageKey:
    """Everything the anonymous page depends on: the certificate's version (``services.page_version``: its
    row's, which holds its successor's id; a code never changes), the organisation's date (for the status),
    the language, the base of its links, the script root and the path. No other header counts (forged Host
    and X-Forwarded-* are refused or ignored before)."""
    return (str(get_locale() or "en"), public_base_url(), request.script_root, request.path, today, version)


def verification_response(code: str) -> Response:
    """The verification page of ``code`` (``NotFound`` for an unknown code); ``X-Page-Cache`` says whether
    it came from the cache (hit) or was kept (miss).

    A hit costs one statement (``services.page_version``) and no rendering. On a miss the page is made
    as without the cache and kept under ``services.version_to_keep``: never under a version older than
    what the page shows. A certificate whose document is not stored yet is kept under the version read
    before its document was made, which no later request reads: the next one renders afresh and keeps
    the page under the version with the document's hash."""
    if not _cacheable():
        return Response(render_template(TEMPLATE, **services.verification_page(code)))
    today = org_today()
    version = services.page_version(code)
    cache = pages()
    signed_in = bool(current_user.is_authenticated)  # the key's first part: the layout differs
    kept = cache.get((signed_in, page_key(version, today))) if version is not None else None
    state = "hit"
    if kept is None:
        page, record = services.verification_page_and_record(code, today)
        placeholders = {"csrf_token": lambda: _CSRF_PLACEHOLDER, "csp_nonce": lambda: _NONCE_PLACEHOLDER_BYTES.decode()}
        with viewer_slots() if signed_in else nullcontext():
            kept = render_template(TEMPLATE, **placeholders, **page).encode()
        keep_under = services.version_to_keep(version, record)
        if keep_under is not None:
            cache.put((signed_in, page_key(keep_under, today)), kept, _size())
        state = "miss"
    body = with_viewer(kept) if signed_in else kept
    if _CSRF_PLACEHOLDER_BYTES in body:  # none today: the PDF check needs no token (web.same_origin_only)
        body = body.replace(_CSRF_PLACEHOLDER_BYTES, generate_csrf().encode())
    body = body.replace(_NONCE_PLACEHOLDER_BYTES, str(g.get("csp_nonce", "")).encode())
    response = Response(body, mimetype="text/html")
    response.headers["X-Page-Cache"] = state
    return response
