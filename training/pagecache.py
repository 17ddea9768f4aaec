"""A short-lived cache of public list pages for anonymous visitors.

The catalogue home is the busiest page and the same for every anonymous
visitor with the same query and language; rendering it costs far more than
serving it. Such pages are kept for ``PUBLIC_PAGE_CACHE_SECONDS`` (default
10 s; 0 turns it off) in the process that rendered them, and this process's
copy is dropped as soon as it commits a change to courses, runs, meetings,
enrolments, categories or users. Other worker processes see the change when
their copy expires, so "seats left" shown to anonymous visitors may lag by at
most that many seconds; enrolling always checks seats in the locked
transaction, and logged-in visitors always get a fresh page.
"""
from __future__ import annotations

import threading
import time
from functools import wraps

from flask import Response, current_app, request, session
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.orm import Session

_WATCHED = {"Course", "Run", "Meeting", "Enrolment", "Category", "User", "TrainerProfile"}
_MAX_ENTRIES = 2000


class PageCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[float, bytes]] = {}

    def get(self, key: tuple) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: tuple, body: bytes, seconds: float) -> None:
        with self._lock:
            if len(self._entries) >= _MAX_ENTRIES:
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
                if len(self._entries) >= _MAX_ENTRIES:
                    self._entries.clear()
            self._entries[key] = (time.monotonic() + seconds, body)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_caches: list[PageCache] = []


def init_app(app) -> None:
    cache = PageCache()
    app.extensions["page_cache"] = cache
    _caches.append(cache)


def cached_for_anonymous(view):
    """Serve the view from the cache to anonymous visitors without pending flash messages."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        seconds = current_app.config.get("PUBLIC_PAGE_CACHE_SECONDS", 0)
        if (not seconds or request.method != "GET" or current_user.is_authenticated
                or session.get("_flashes")):
            return view(*args, **kwargs)
        cache: PageCache = current_app.extensions["page_cache"]
        key = cache_key()
        body = cache.get(key)
        if body is None:
            response = current_app.make_response(view(*args, **kwargs))
            if response.status_code != 200 or response.direct_passthrough:
                return response
            cache.put(key, response.get_data(), seconds)
            response.headers["X-Page-Cache"] = "miss"
            return response
        response = Response(body, mimetype="text/html")
        response.headers["X-Page-Cache"] = "hit"
        return response
    return wrapped


def cache_key() -> tuple:
    """Everything a cached page depends on, and nothing a client can choose
    beyond the path and query: the language (from the query, session or
    Accept-Language), and the base of its links (PUBLIC_BASE_URL, or the
    request's own host, which is one of TRUSTED_HOSTS) and the script root of
    its relative links (X-Forwarded-Prefix counts only with TRUSTED_PROXY_PREFIX).
    Other headers (X-Forwarded-*, cookies) never change a cached page."""
    from .urls import public_base_url
    return (request.endpoint, str(get_locale() or "en"), public_base_url(), request.script_root,
            request.full_path)


@event.listens_for(Session, "before_flush")
def _note_changes(session, _flush_context, _instances):
    for obj in (*session.new, *session.dirty, *session.deleted):
        if type(obj).__name__ in _WATCHED:
            session.info["page_cache_stale"] = True
            return


@event.listens_for(Session, "after_commit")
def _drop_stale_pages(session):
    if session.info.pop("page_cache_stale", False):
        for cache in _caches:
            cache.clear()


@event.listens_for(Session, "after_soft_rollback")
def _forget(session, previous_transaction):
    if previous_transaction.parent is None:
        session.info.pop("page_cache_stale", None)
