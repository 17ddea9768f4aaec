"""A short-lived cache of public list pages for anonymous visitors.

The catalogue home is the busiest page and the same for every anonymous
visitor with the same query and language; rendering it costs far more than
serving it. Such pages are kept for ``PUBLIC_PAGE_CACHE_SECONDS`` (default
10 s; 0 turns it off) in the process that rendered them, and this process's
copy is dropped as soon as it commits a change to courses, runs, meetings,
enrolments, categories or users. Other worker processes see the change when
their copy expires, so "seats left" shown to anonymous visitors may lag by at
most that many seconds; enrolling always checks seats in the locked
transaction.

The part of a page that does not depend on the viewer (the catalogue's
listing) is kept the same way for every visitor, signed in or not
(``shared_part``). A page that shows nothing about the viewer but the
layout's viewer parts (navigation, name, menu, the logout form's CSRF token)
is kept whole for signed-in visitors too (``cached_for_everyone``): one copy
for all of them with stand-ins for those parts, each response getting its
visitor's own, made from the user read on every request.

Several app servers: each copy is kept with the version of the shared counter
``cache_versions.pages`` it was rendered under. A commit that changes a
watched row increments that counter (right after the commit, in a short
statement of its own), and every cache hit first reads it (one primary-key
read): a copy rendered before another server's change is never served, so no
visitor sees seats that another server already sold.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextlib import nullcontext
from functools import wraps
from typing import Any, cast

from flask import Flask, Response, current_app, g, request, session
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import BigInteger, Connection, Engine, Row, Select, String, event, select, text, update
from sqlalchemy.orm import Mapped, Session, SessionTransaction, UOWTransaction, mapped_column

from .extensions import Model, db
from .rendering import viewer_slots, with_viewer
from .transactions import commits_before_flush, read_alone, while_durable

# What a cached page depends on: the endpoint, language, link base, script root and full path.
CacheKey = tuple[str | None, str, str, str, str]
_View = Callable[..., ResponseReturnValue]

# What public pages show: courses, runs and their dates, seats (enrolments and the seats
# member companies hold), categories, trainers' names and profiles.
_WATCHED = {"Course", "Run", "Meeting", "Enrolment", "SeatAllocation", "Category", "User", "TrainerProfile"}
_MAX_ENTRIES = 2000
_MAX_BYTES = 16 * 1024 * 1024  # per cache and process: well under a worker's memory target


VERSION_NAME = "pages"
# A second counter for what changes the catalogue's order and facets (courses, runs, their
# meetings, categories), not seats: the listing summary (training/catalogue/listing.py) is
# kept under it, so enrolments do not rebuild it.
CATALOGUE_VERSION = "catalogue"
_CATALOGUE_WATCHED = {"Course", "Run", "Meeting", "Category"}


class CacheVersion(Model):
    """A counter shared by every server, bumped when cached pages go stale."""

    __tablename__ = "cache_versions"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


_READ_VERSIONS = select(CacheVersion.__table__.c.name, CacheVersion.__table__.c.version).where(
    CacheVersion.__table__.c.name.in_((VERSION_NAME, CATALOGUE_VERSION))
)
_UNREAD = object()
_REQUEST_KEY = "training.pages_version"


def current_version(name: str = VERSION_NAME) -> int | None:
    """A shared version (``pages`` by default), or None if it cannot be read (then nothing
    is served from the cache).

    Both counters are read in one statement once per request (every cache a page uses
    compares with the same value, read before anything it shows), afresh outside requests."""
    environ = request.environ if request else None
    if environ is not None:
        found = environ.get(_REQUEST_KEY, _UNREAD)
        if found is not _UNREAD:
            return None if found is None else cast(dict[str, int], found).get(name, 0)
    versions: dict[str, int] | None
    try:
        # On its own when it is the request's first read (PostgreSQL: no BEGIN and ROLLBACK around it).
        versions = {row.name: row.version or 0 for row in read_alone(_READ_VERSIONS)}
    except Exception:  # noqa: BLE001 - an old schema or a database hiccup: render afresh
        db.session.rollback()
        versions = None
    if environ is not None:
        environ[_REQUEST_KEY] = versions
    return None if versions is None else versions.get(name, 0)


def with_versions(statement: Select[Any]) -> Select[Any]:
    """``statement`` with both shared counters as two more columns (NULL: not created yet), for a request's
    first read to carry them (``keep_versions``): one statement and one round trip instead of two."""
    table = CacheVersion.__table__
    return statement.add_columns(
        *(
            select(table.c.version).where(table.c.name == name).scalar_subquery().label(f"_version_{name}")
            for name in (VERSION_NAME, CATALOGUE_VERSION)
        )
    )


def versions_unread() -> bool:
    """Whether this request has not read the shared counters yet (``current_version`` would read them)."""
    return bool(request) and _REQUEST_KEY not in request.environ


def keep_versions(row: Row[Any]) -> None:
    """The counters a statement of ``with_versions`` read, as this request's (what ``current_version`` returns)."""
    values = row._mapping
    request.environ[_REQUEST_KEY] = {
        name: values[f"_version_{name}"] or 0 for name in (VERSION_NAME, CATALOGUE_VERSION)
    }


def bump_version(engine: Engine, name: str = VERSION_NAME) -> None:
    table = CacheVersion.__table__
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # Seen by every server at once; no one waits for the disk: a lost bump
                # (a crash in the next moment) costs at most one cache lifetime of a stale page.
                conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
            result = conn.execute(update(table).where(table.c.name == name).values(version=table.c.version + 1))
            if result.rowcount == 0:
                conn.execute(table.insert().values(name=name, version=1))
    except Exception:  # noqa: BLE001 - two first inserts at once, or the table is missing
        try:
            with engine.begin() as conn:
                conn.execute(update(table).where(table.c.name == name).values(version=table.c.version + 1))
        except Exception:  # noqa: BLE001 - any failure here is logged and must not stop the caller
            import logging

            logging.getLogger(__name__).warning("could not bump the page cache version", exc_info=True)


# The bump after an early commit (transactions.commit_releasing_locks_early), in one statement
# of the synchronous transaction that makes that commit durable. The row is skipped while
# another such transaction holds it (it is waiting for the same flush): that one's bump commits
# after this commit was visible, so a page rendered before this change is stale once it lands,
# and nobody waits for the row. Also says whether the row exists (a new database has none).
_BUMP_WHILE_DURABLE = text(
    "WITH bumped AS (UPDATE cache_versions SET version = version + 1 WHERE name = :name AND name IN "
    "(SELECT name FROM cache_versions WHERE name = :name FOR UPDATE SKIP LOCKED) RETURNING 1) "
    "SELECT pg_current_xact_id(), (SELECT count(*) FROM bumped), "
    "EXISTS (SELECT 1 FROM cache_versions WHERE name = :name)"
)


@while_durable
def _bump_while_durable(session: Session, conn: Connection) -> bool:
    if not session.info.get("page_cache_bump"):
        return False
    _xid, bumped, exists = conn.execute(_BUMP_WHILE_DURABLE, {"name": VERSION_NAME}).one()
    if not bumped and not exists:
        conn.execute(
            text(
                "INSERT INTO cache_versions (name, version) VALUES (:name, 1) "
                "ON CONFLICT (name) DO UPDATE SET version = cache_versions.version + 1"
            ),
            {"name": VERSION_NAME},
        )
    session.info.pop("page_cache_bump", None)  # kept on failure: the next transaction's end bumps
    return True


class PageCache:
    """Bodies kept per key until their lifetime ends, at most ``max_entries`` of them and
    ``max_bytes`` of text in all: every distinct query string is a new key, so a client
    that asks for thousands of them fills the cache, never the worker's memory. When full,
    the least recently used bodies make room (expired ones first), so a flood of one-off
    query strings does not push out the pages everyone asks for."""

    def __init__(self, max_entries: int = _MAX_ENTRIES, max_bytes: int = _MAX_BYTES) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[float, Any, int | None]] = OrderedDict()
        self._bytes = 0
        self.max_entries, self.max_bytes = max_entries, max_bytes

    def get(self, key: Hashable, version: int | None = None) -> Any:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        if version is not None and entry[2] != version:
            return None
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: Hashable, body: Any, seconds: float, version: int | None = None) -> None:
        size = len(body)
        if size > self.max_bytes // 4:
            return  # one body may not take a quarter of the budget
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= len(previous[1])
            if len(self._entries) >= self.max_entries or self._bytes + size > self.max_bytes:
                now = time.monotonic()
                for stale in [k for k, v in self._entries.items() if v[0] < now]:
                    self._bytes -= len(self._entries.pop(stale)[1])
                while self._entries and (len(self._entries) >= self.max_entries or self._bytes + size > self.max_bytes):
                    self._bytes -= len(self._entries.popitem(last=False)[1][1])
            self._entries[key] = (time.monotonic() + seconds, body, version)
            self._bytes += size

    @property
    def size(self) -> int:
        """The length of the bodies kept, in bytes (str: characters)."""
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


_caches: list[PageCache] = []


def init_app(app: Flask) -> None:
    for name in ("page_cache", "shared_parts"):
        cache = PageCache()
        app.extensions[name] = cache
        _caches.append(cache)


def cached_for_anonymous(view: _View) -> _View:
    """Serve the view from the cache to anonymous visitors without pending flash messages."""
    return _cached(view, signed_in=False)


def cached_for_everyone(view: _View) -> _View:
    """``cached_for_anonymous``, and signed-in visitors too, for a view whose page shows nothing about the
    viewer but the layout's viewer parts (``rendering.viewer_part``: their navigation, name, menu and CSRF
    token). Their copy is kept apart from the anonymous one (the layout differs), rendered once with those
    parts as stand-ins (``rendering.viewer_slots``) and shared by every signed-in visitor; each response
    gets its visitor's own parts, read from the user the request loaded (a logout, a new name or role shows
    on the next page)."""
    return _cached(view, signed_in=True)


def _cached(view: _View, signed_in: bool) -> _View:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        seconds = current_app.config.get("PUBLIC_PAGE_CACHE_SECONDS", 0)
        if not seconds or request.method != "GET" or session.get("_flashes"):
            return view(*args, **kwargs)
        viewer = bool(current_user.is_authenticated)  # signed in: reads the shared counters too
        if viewer and not signed_in:
            return view(*args, **kwargs)
        cache: PageCache = current_app.extensions["page_cache"]
        key = (*cache_key(), viewer)
        version = current_version()  # read before rendering: a change after it makes the copy stale
        if version is None:
            return view(*args, **kwargs)
        body = cache.get(key, version)
        if body is None:
            with viewer_slots() if viewer else nullcontext():
                response = current_app.make_response(view(*args, **kwargs))
            if response.direct_passthrough:
                return response
            if response.status_code == 200:
                cache.put(key, _without_nonce(response.get_data()), seconds, version)
                response.headers["X-Page-Cache"] = "miss"
            if viewer:
                response.set_data(with_viewer(response.get_data()))
            return response
        response = Response(_with_nonce(with_viewer(body) if viewer else body), mimetype="text/html")
        response.headers["X-Page-Cache"] = "hit"
        return response

    return wrapped


_NONCE_SLOT = b"\x00csp-nonce\x00"  # no page has a NUL byte


def _without_nonce(body: bytes) -> bytes:
    """A page to keep: this response's script nonce (each response has its own, see the
    Content-Security-Policy header) marked so that each copy served gets its response's."""
    nonce = g.get("csp_nonce")
    return body.replace(nonce.encode(), _NONCE_SLOT) if nonce else body


def _with_nonce(body: bytes) -> bytes:
    return body.replace(_NONCE_SLOT, str(g.get("csp_nonce", "")).encode())


def shared_part(name: str, render: Callable[[], str]) -> Markup:
    """The part of this page that is the same for every visitor, signed in or not.

    A page such as the catalogue shows the viewer only in its frame (navigation, name,
    forms with their CSRF token); its listing depends on the query, the language and
    the data. That part is kept like an anonymous page (same key, same lifetime, same
    shared version, dropped when this process commits a change) and served to everyone,
    while the frame is rendered for each visitor. ``render`` must not show anything
    about the viewer."""
    seconds = current_app.config.get("PUBLIC_PAGE_CACHE_SECONDS", 0)
    if not seconds or request.method != "GET":
        return Markup(render())
    cache: PageCache = current_app.extensions["shared_parts"]
    key = (name, *cache_key())
    version = current_version()
    if version is None:
        return Markup(render())
    found = cache.get(key, version)
    if found is None:
        found = Markup(render())
        cache.put(key, found, seconds, version)
    return cast(Markup, found)


def cache_key() -> CacheKey:
    """Everything a cached page depends on, and nothing a client can choose
    beyond the path and query: the language (from the query, session or
    Accept-Language), and the base of its links (PUBLIC_BASE_URL, or the
    request's own host, which is one of TRUSTED_HOSTS) and the script root of
    its relative links (X-Forwarded-Prefix counts only with TRUSTED_PROXY_PREFIX).
    Other headers (X-Forwarded-*, cookies) never change a cached page."""
    from .urls import public_base_url

    return (request.endpoint, str(get_locale() or "en"), public_base_url(), request.script_root, request.full_path)


@event.listens_for(Session, "before_flush")
def _note_changes(session: Session, _flush_context: UOWTransaction, _instances: object) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if note_written(session, type(obj).__name__):
            return


def note_written(session: Session, kind: str) -> bool:
    """Note that the session's transaction changed rows of the mapped class named ``kind``
    (done by the flush; a service that writes with a statement of its own says it here):
    cached pages are dropped after the commit. True when the catalogue's order changed too."""
    if kind in _WATCHED:
        session.info["page_cache_stale"] = True
        if kind in _CATALOGUE_WATCHED:
            session.info["catalogue_stale"] = True
            return True
    return False


@event.listens_for(Session, "after_commit")
def _drop_stale_pages(session: Session) -> None:
    if session.info.pop("page_cache_stale", False):
        for cache in _caches:
            cache.clear()
        session.info["page_cache_bump"] = True
        if request:
            request.environ.pop(_REQUEST_KEY, None)  # read again: this request changed the data


@event.listens_for(Session, "after_transaction_end")
def _tell_other_servers(session: Session, transaction: SessionTransaction) -> None:
    # After the committed transaction has given its connection back: bumping
    # inside after_commit held it while taking a second one from the pool,
    # and threads as many as the pool then waited on each other.
    if transaction.parent is None and session.info.get("page_cache_bump"):
        if commits_before_flush(session, transaction):
            return  # bumped in the transaction that makes this commit durable (_bump_while_durable)
        session.info.pop("page_cache_bump", None)
        _bump_now(session)


def _bump_now(session: Session) -> None:
    try:
        engine = session.get_bind()
    except Exception:  # noqa: BLE001 - no app context: nothing shared to tell
        return
    bump_version(cast(Engine, engine))  # the app's sessions are bound to the engine


@event.listens_for(Session, "after_commit")
def _catalogue_changed(session: Session) -> None:
    if session.info.pop("catalogue_stale", False):
        session.info["catalogue_bump"] = True


@event.listens_for(Session, "after_transaction_end")
def _tell_other_servers_of_the_catalogue(session: Session, transaction: SessionTransaction) -> None:
    # Courses, runs and categories change by an admin's hand, not on the enrolment path:
    # a statement of its own after the commit, as the page version was bumped before.
    if transaction.parent is None and session.info.pop("catalogue_bump", False):
        try:
            engine = session.get_bind()
        except Exception:  # noqa: BLE001 - no app context: nothing shared to tell
            return
        bump_version(cast(Engine, engine), CATALOGUE_VERSION)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop("page_cache_stale", None)
        session.info.pop("catalogue_stale", None)
