"""The public verification page, rendered once per content and language.

Rendering the page (layout, translations, links) costs several times more
than reading the certificate. The page an anonymous visitor gets is a pure
function of what ``services.verification_page`` returns (the record with its
status as of today in ORG_TIMEZONE) and of the language, link base and path;
so the rendered HTML is kept under a key made of exactly those. There is
nothing to invalidate: every request reads the certificate from the database
first (one statement), and a revocation, a reissue, a stored document or an
expiry date passing changes the record, hence the key, in the same
transaction that changes the row. Every worker and every server shows the
change on its next request.

What is not cached: signed-in visitors (the layout shows their name and
menu), pages with a query string or pending flash messages, unknown codes (a
404 before any key is made; an attacker enumerating codes fills nothing). The
cache holds at most ``VERIFY_PAGE_CACHE_SIZE`` pages per process (least
recently used dropped first; 0 turns it off), as UTF-8 (about 10 KB a page).
The form's CSRF token is the visitor's own and the script nonce the
response's own: the cached HTML holds placeholders replaced on every response.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict

from flask import Response, current_app, g, render_template, request, session
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from ..urls import public_base_url

TEMPLATE = "certificates/verify.html"
DEFAULT_SIZE = 256

# Random per process: no certificate text can contain it by chance or design.
_CSRF_PLACEHOLDER = f"csrf-{secrets.token_hex(16)}"
_CSRF_PLACEHOLDER_BYTES = _CSRF_PLACEHOLDER.encode()
# Likewise the script nonce: it changes with every response's Content-Security-Policy.
_NONCE_PLACEHOLDER_BYTES = f"nonce-{secrets.token_hex(16)}".encode()

PageKey = tuple[str, str, str, str, str]


class RenderedPages:
    """At most ``size`` rendered pages, least recently used dropped first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: OrderedDict[PageKey, bytes] = OrderedDict()

    def get(self, key: PageKey) -> bytes | None:
        with self._lock:
            body = self._pages.get(key)
            if body is not None:
                self._pages.move_to_end(key)
            return body

    def put(self, key: PageKey, body: bytes, size: int) -> None:
        with self._lock:
            self._pages[key] = body
            self._pages.move_to_end(key)
            while len(self._pages) > size:
                self._pages.popitem(last=False)

    def __len__(self) -> int:
        return len(self._pages)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()


def pages() -> RenderedPages:
    """This app's cache (one per app, per process)."""
    return current_app.extensions.setdefault("verify_pages", RenderedPages())


def _size() -> int:
    return int(current_app.config.get("VERIFY_PAGE_CACHE_SIZE", DEFAULT_SIZE))  # set in config.py


def _cacheable() -> bool:
    return (
        _size() > 0 and not request.query_string and not current_user.is_authenticated and not session.get("_flashes")
    )


def page_key(page: dict) -> PageKey:
    """Everything the anonymous page depends on: the content (status included),
    the language, the base of its links, the script root and the path. No other
    header counts (forged Host and X-Forwarded-* are refused or ignored before)."""
    content = json.dumps(page, sort_keys=True, default=str, ensure_ascii=False)
    return (str(get_locale() or "en"), public_base_url(), request.script_root, request.path, content)


def render_verification(page: dict) -> Response:
    """The verification page for ``page`` (from ``services.verification_page``);
    ``X-Page-Cache`` says whether it came from the cache (hit) or was kept (miss)."""
    if not _cacheable():
        return Response(render_template(TEMPLATE, **page))
    cache = pages()
    key = page_key(page)
    body = cache.get(key)
    state = "hit"
    if body is None:
        body = render_template(
            TEMPLATE,
            csrf_token=lambda: _CSRF_PLACEHOLDER,
            csp_nonce=lambda: _NONCE_PLACEHOLDER_BYTES.decode(),
            **page,
        ).encode()
        cache.put(key, body, _size())
        state = "miss"
    body = body.replace(_CSRF_PLACEHOLDER_BYTES, generate_csrf().encode())
    body = body.replace(_NONCE_PLACEHOLDER_BYTES, str(g.get("csp_nonce", "")).encode())
    response = Response(body, mimetype="text/html")
    response.headers["X-Page-Cache"] = state
    return response
