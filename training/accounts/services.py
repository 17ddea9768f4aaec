"""Accounts: users, passwords, API tokens, password resets."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import Insert, Select, bindparam, delete, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from .. import pagecache
from ..audit import record
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..transactions import read_alone, unit_of_work
from ..types import utcnow
from . import throttle
from .models import ApiToken, LoginSession, Role, TrainerProfile, User

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

_STRONG = PasswordHasher()
# Tests build hundreds of accounts; they use cheap parameters (ARGON2_FAST), never production.
_FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_dummy_hashes: dict[int, str] = {}


class _Hasher:
    """The argon2 hasher for this app's configuration."""

    def _pick(self) -> PasswordHasher:
        return _FAST if current_app.config.get("ARGON2_FAST") else _STRONG

    def hash(self, password: str) -> str:
        return self._pick().hash(password)

    def verify(self, hashed: str, password: str) -> bool:
        return self._pick().verify(hashed, password)

    def check_needs_rehash(self, hashed: str) -> bool:
        return self._pick().check_needs_rehash(hashed)

    def dummy(self) -> str:
        # Verified against when the e-mail is unknown, so a login takes as long either way.
        picked = self._pick()
        if id(picked) not in _dummy_hashes:
            _dummy_hashes[id(picked)] = picked.hash("not-a-real-password-ever")
        return _dummy_hashes[id(picked)]


_hasher = _Hasher()

MIN_PASSWORD_LENGTH = 10
_COMMON = {
    "password",
    "password1",
    "password123",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "iloveyou",
    "admin12345",
    "welcome123",
    "letmein123",
    "1q2w3e4r5t",
    "abc1234567",
}


def normalise_email(email: str) -> str:
    """Validate the syntax (no DNS lookup) and return the lower-cased address."""
    email = (email or "").strip()
    if len(email) > 254:
        raise ValidationFailed(_("The e-mail address is too long."), fields={"email": "too long"})
    try:
        result = validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(
            _("Invalid e-mail address: %(problem)s", problem=str(exc)), fields={"email": str(exc)}
        ) from None
    return result.normalized.lower()


# Text-direction embeddings, overrides and isolates: in a name they show it as another string than the one
# stored (on certificates and the public verification page). The marks (U+200E, U+200F) stay allowed.
_DIRECTION_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_name(name: str) -> str:
    """A person's name as certificates print it: runs of white space made one space; refused without a
    letter or digit of any script (only marks, joiners or spaces), with a control character, or with a
    text-direction override."""
    name = " ".join((name or "").split())
    if not any(unicodedata.category(c)[0] in "LN" for c in name):
        raise ValidationFailed(_("A name is required."), fields={"name": "required"})
    if len(name) > 200:
        raise ValidationFailed(_("The name is longer than 200 characters."), fields={"name": "too long"})
    if any(unicodedata.category(c) in ("Cc", "Cs") or c in _DIRECTION_CONTROLS for c in name):
        message = _("The name contains a control or text-direction character; type it again without it.")
        raise ValidationFailed(message, fields={"name": "invalid character"})
    return name


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why a password is too weak, or None."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        return str(_("Use at least %(n)s characters.", n=MIN_PASSWORD_LENGTH))
    if len(password) > 256:
        return str(_("Use at most 256 characters."))
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 4:
        return str(_("This password is too common or too simple."))
    local = email.split("@")[0].lower()
    if local and len(local) >= 4 and local in lowered:
        return str(_("The password must not contain your e-mail address."))
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def find_user_by_email(email: str) -> User | None:
    email = (email or "").strip().lower()
    return db.session.scalar(select(User).where(User.email == email))


@unit_of_work
def create_user(
    *,
    email: str,
    name: str,
    password: str | None = None,
    role: str = "trainee",
    locale: str | None = None,
    company: str | None = None,
    phone: str | None = None,
    check_strength: bool = True,
    commit: bool = True,
    actor: User | None = None,
    password_hash: str | None = None,
) -> User:
    """A new account. ``password_hash`` (instead of ``password``): one hashed
    earlier, when a registration was confirmed by e-mail."""
    email = normalise_email(email)
    name = clean_name(name)
    if not isinstance(role, str) or role not in {r.value for r in Role}:
        raise ValidationFailed(_("Unknown role %(role)s.", role=role), fields={"role": "unknown"})
    if password is not None and check_strength:
        problem = password_problem(password, email=email, name=name)
        if problem:
            raise ValidationFailed(problem, fields={"password": problem})
    if find_user_by_email(email) is not None:
        raise Conflict(
            _("An account with this e-mail address already exists."), code="email_taken", fields={"email": "taken"}
        )
    user = User(
        email=email,
        display_name=name,
        role=role,
        locale=locale,
        password_hash=hash_password(password) if password else password_hash,
        company=company,
        phone=phone,
        active=True,
        session_version=1,
    )
    if role == Role.trainer.value:
        user.trainer_profile = TrainerProfile(bio="", expertise="")
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        # Someone registered the same address between the check and the insert.
        db.session.rollback()
        raise Conflict(
            _("An account with this e-mail address already exists."), code="email_taken", fields={"email": "taken"}
        ) from None
    if actor is not None:
        record(actor, "user.create", user, f"{email} as {role}")
    if commit:
        db.session.commit()
    return user


@unit_of_work
def ensure_trainees(people: list[dict[str, Any]], *, actor: User | None = None) -> tuple[dict[str, User], set[str]]:
    """One account per e-mail address, whatever runs at the same moment.

    ``people``: dicts with a normalised ``email`` and ``name``, optionally
    ``company``, ``company_id``, ``phone`` and ``locale``. Missing addresses become trainee
    accounts without a password; existing accounts are left as they are.
    Returns ({email: user}, {emails created now}).

    This is its own unit of work (it commits): the insert skips an address
    that exists or that a concurrent transaction is inserting (PostgreSQL
    waits for that transaction, then skips), so simultaneous callers never
    meet the unique index. Addresses are inserted in sorted order and no other
    lock is held, so two bulk callers cannot deadlock; callers take their
    run locks afterwards."""
    wanted: dict[str, dict[str, Any]] = {}
    for person in people:
        wanted.setdefault(person["email"], person)
    emails = sorted(wanted)
    found: dict[str, User] = {}
    for start in range(0, len(emails), 500):
        for user in db.session.scalars(select(User).where(User.email.in_(emails[start : start + 500]))):
            found[user.email] = user
    missing = [e for e in emails if e not in found]
    created: set[str] = set()
    if missing:
        dialect = db.session.get_bind().dialect.name
        table = User.__table__
        stmt: Insert
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(table).on_conflict_do_nothing(index_elements=["email"])
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=["email"])
        stmt = stmt.returning(table.c.id, table.c.email)
        now = utcnow()
        connection = db.session.connection()
        for start in range(0, len(missing), 500):
            rows = [
                {
                    "email": e,
                    "display_name": wanted[e]["name"],
                    "role": Role.trainee.value,
                    "active": True,
                    "locale": wanted[e].get("locale"),
                    "company": wanted[e].get("company") or None,
                    "phone": wanted[e].get("phone") or None,
                    "password_hash": None,
                    "session_version": 1,
                    "company_id": wanted[e].get("company_id"),
                    "failed_logins": 0,
                    "created_at": now,
                }
                for e in missing[start : start + 500]
            ]
            # executemany: compiled once, sent in batches (insertmanyvalues), RETURNING the rows inserted
            for user_id, email in connection.execute(stmt, rows):
                created.add(email)
                if actor is not None:
                    entry = record(actor, "user.create", None, f"{email} as trainee")
                    entry.target_type, entry.target_id = "User", user_id
        db.session.commit()
        for start in range(0, len(missing), 500):
            for user in db.session.scalars(select(User).where(User.email.in_(missing[start : start + 500]))):
                found[user.email] = user
    return found, created


def _spend_a_verification(password: str | None) -> None:
    """The work of one argon2 verification, so every refusal takes as long as a real check."""
    try:
        _hasher.verify(_hasher.dummy(), password or "")
    except VerificationError:
        pass


@unit_of_work
def authenticate(email: str, password: str, source: str | None = None) -> User | None:
    """The user, or None. Never says whether the e-mail exists or why it was
    refused; throttles by account and source (see accounts.throttle)."""
    key, origin = throttle.account_key(email), throttle.source_of(source)
    throttle.hold(key, origin)  # this source's other attempts on this account wait until the commit below
    now = utcnow()  # after the wait: never before an attempt that went first
    user = find_user_by_email(email)
    if throttle.source_wait(key, origin, now):
        db.session.commit()
        _spend_a_verification(password)
        return None
    if throttle.account_locked(key, now):
        db.session.commit()
        _spend_a_verification(password)
        _failed(key, origin, now, user)  # the attack goes on: so does the lock
        return None
    # Counted before the slow check, so that attempts at the same moment see it; a success takes it back.
    attempt = throttle.record_failure(key, origin, now)
    db.session.commit()
    if user is None or not user.password_hash:
        _spend_a_verification(password)
        _failed(key, origin, now, None, recorded=True)
        return None
    try:
        _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        _failed(key, origin, now, user, recorded=True)
        return None
    if not user.active:
        db.session.delete(attempt)  # the right password: no failure, but no login either
        db.session.commit()
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    throttle.forget_source(key, origin)
    user.last_login_at = now
    db.session.commit()
    return user


LOCK_NOTICE_EVERY = timedelta(days=1)


def _failed(key: str, source: str, now: datetime, user: User | None, *, recorded: bool = False) -> None:
    """Record a failure (``recorded``: it was, before the check); when it makes a distributed attack, lock
    the account and tell its owner (with a way in: a password-reset link)."""
    if not recorded:
        throttle.record_failure(key, source, now)
        db.session.flush()
    if user is not None and user.active and throttle.account_locked(key, now):
        user.locked_until = now + throttle.LOCK_WINDOW
        if user.lock_notified_at is None or user.lock_notified_at < now - LOCK_NOTICE_EVERY:
            from .. import mail
            from ..urls import external_url

            user.lock_notified_at = now
            mail.queue(
                mail.build(
                    user.email,
                    _l("Sign-ins to your account are paused"),
                    "account_locked",
                    locale=user.locale,
                    user=user,
                    url=external_url("accounts.reset_password", token=password_reset_token(user)),
                )
            )
    db.session.commit()


@unit_of_work
def set_password(user: User, password: str, *, end_sessions: bool = True) -> None:
    problem = password_problem(password, email=user.email, name=user.display_name)
    if problem:
        raise ValidationFailed(problem, fields={"password": problem})
    user.password_hash = hash_password(password)
    if end_sessions:
        user.session_version = (user.session_version or 1) + 1
        db.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    # Whoever knows the password now (or read the reset e-mail) may sign in from anywhere again.
    throttle.forget_account(throttle.account_key(user.email))
    user.locked_until = None
    db.session.commit()


@unit_of_work
def end_all_sessions(user: User, *, commit: bool = True) -> None:
    """Log the user out everywhere and revoke every API token (logging out everywhere; deactivating an
    account: reopening it brings none of them back). ``commit=False``: a step of the caller's unit."""
    user.session_version = (user.session_version or 1) + 1
    db.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    now = utcnow()
    for token in db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))):
        token.revoked_at = now
    if commit:
        db.session.commit()


# --- login sessions ------------------------------------------------------------
# The session cookie and the remember cookie carry "<user id>:<version>:<key>";
# the key names a LoginSession row. Logout deletes the row, so those cookies,
# copied or not, open nothing afterwards; bumping the version ends them all.


def _session_lifetime() -> timedelta:
    return timedelta(days=float(current_app.config.get("LOGIN_SESSION_DAYS", 30)))


@unit_of_work
def start_session(user: User) -> str:
    """A new login session for ``user``; its key is set on the user for get_id()."""
    now = utcnow()
    key = secrets.token_urlsafe(24)
    db.session.execute(
        delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.created_at < now - _session_lifetime())
    )
    db.session.add(LoginSession(user_id=user.id, key_hash=_token_hash(key), created_at=now))
    db.session.commit()
    user.login_session_key = key
    return key


@unit_of_work
def end_session(user: User) -> None:
    """Log out: the session this request runs in ends on the server."""
    key = getattr(user, "login_session_key", None)
    if key:
        db.session.execute(delete(LoginSession).where(LoginSession.key_hash == _token_hash(key)))
        db.session.commit()
        user.login_session_key = None


def load_session_user(session_id: str) -> User | None:
    """The active user of the login session a cookie names (``<user id>:<version>:<key>``), or None.

    Read on every signed-in request, so that a logout or a version bump ends the session at once: one
    statement, alone (``read_alone``: on PostgreSQL no BEGIN and ROLLBACK around it), which also carries
    the shared page counters when the request has not read them yet (``pagecache.with_versions``). The
    user is made from that row as if the session had loaded it (persistent, nothing to flush)."""
    try:
        raw_id, raw_version, key = session_id.split(":", 2)
        user_id, version = int(raw_id), int(raw_version)
    except (ValueError, AttributeError):
        return None
    if not key or len(key) > 100:
        return None
    params = {"user_id": user_id, "key_hash": _token_hash(key), "since": utcnow() - _session_lifetime()}
    with_versions = pagecache.versions_unread()
    rows = read_alone(_session_user_statement(with_versions), params)
    if not rows:
        return None
    row = rows[0]
    if with_versions:
        pagecache.keep_versions(row)
    values = dict(zip(_user_attributes(), row, strict=False))  # the counters, if any, come after
    if values["session_version"] != version or not values["active"]:
        return None
    user = _persistent_user(values)
    user.login_session_key = key
    return user


_SESSION_USER: dict[bool, Select[Any]] = {}
_USER_ATTRIBUTES: list[str] = []


def _user_attributes() -> list[str]:
    if not _USER_ATTRIBUTES:
        _USER_ATTRIBUTES.extend(prop.key for prop in sa_inspect(User).column_attrs)
    return _USER_ATTRIBUTES


def _session_user_statement(with_versions: bool) -> Select[Any]:
    """Every column of the user (in ``_user_attributes`` order) whose login session is live, built once."""
    statement = _SESSION_USER.get(with_versions)
    if statement is None:
        columns = [prop.columns[0] for prop in sa_inspect(User).column_attrs]
        statement = (
            select(*columns)
            .join(LoginSession, LoginSession.user_id == User.id)
            .where(
                User.id == bindparam("user_id"),
                LoginSession.key_hash == bindparam("key_hash"),
                LoginSession.created_at > bindparam("since"),
            )
        )
        if with_versions:
            statement = pagecache.with_versions(statement)
        statement = _SESSION_USER[with_versions] = statement
    return statement


def _persistent_user(values: dict[str, Any]) -> User:
    """The user whose every column is ``values``, in the session as if loaded there (no SQL, no change to
    flush); the session's own copy, refreshed from ``values``, when it holds one already."""
    session = db.session()
    mapper = sa_inspect(User)
    user = mapper.class_manager.new_instance()
    user.__dict__.update(values)
    make_transient_to_detached(user)
    if mapper.identity_key_from_primary_key((values["id"],)) in session.identity_map:
        return session.merge(user, load=False)
    session.add(user)
    return user


# --- API tokens -------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@unit_of_work
def create_token(user: User, name: str = "") -> str:
    """A new bearer token; only its hash is stored, the token is returned once."""
    token = "trn_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_hash=_token_hash(token), name=name[:100]))
    db.session.commit()
    return token


def user_for_token(token: str) -> User | None:
    """The active user a bearer token belongs to (token and user in one query),
    or None. Reading it writes nothing: when the token was last used is noted
    in memory and written later (``_TokenUses``)."""
    if not token or len(token) > 200:
        return None
    found = db.session.execute(_token_user_statement(), {"token_hash": _token_hash(token)}).first()
    if found is None:
        return None
    token_id, last_used_at, *columns = found
    # Made from the row as the session would have loaded it (as the session user is): the ORM's
    # loading of an entity cost several times the statement.
    user = _persistent_user(dict(zip(_user_attributes(), columns, strict=True)))
    _token_uses.note(token_id, last_used_at)
    return user


_TOKEN_USER: list[Select[Any]] = []


def _token_user_statement() -> Select[Any]:
    """The token's id and last use, then every column of its user (in ``_user_attributes`` order), for a
    token not revoked whose user is active; built once."""
    if not _TOKEN_USER:
        columns = [prop.columns[0] for prop in sa_inspect(User).column_attrs]
        _TOKEN_USER.append(
            select(ApiToken.id, ApiToken.last_used_at, *columns)
            .join(User, User.id == ApiToken.user_id)
            .where(
                ApiToken.token_hash == bindparam("token_hash"),
                ApiToken.revoked_at.is_(None),
                User.active.is_(True),
            )
        )
    return _TOKEN_USER[0]


class _TokenUses:
    """When each token was last used: a hint (no page or API shows it; kept to
    five minutes' precision) that no request waits for. A use is noted in this
    process and written, with every other noted since, in one UPDATE without
    waiting for the disk, at most every ``FLUSH_SECONDS`` by the next request
    that reads a token (in a thread of its own), and ``flush_token_uses``. A
    process that stops loses at most that many seconds of hints."""

    PRECISION = timedelta(minutes=5)
    FLUSH_SECONDS = 2.0

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._pending: dict[Any, dict[int, datetime]] = {}  # per database (engine): tests run several
        self._next_flush = 0.0
        self._executor: Any = None
        self._seen: dict[tuple[Any, int], datetime] = {}  # written lately: no need to note again within PRECISION

    def note(self, token_id: int, last_used_at: datetime | None) -> None:
        import time

        now = utcnow()
        engine = db.engine
        with self._lock:
            latest = self._seen.get((engine, token_id)) or last_used_at
            if latest is None or now - latest > self.PRECISION:
                self._pending.setdefault(engine, {})[token_id] = now
                self._seen[(engine, token_id)] = now
                if len(self._seen) > 10_000:
                    self._seen.clear()
            due = engine in self._pending and time.monotonic() >= self._next_flush
            if due:
                self._next_flush = time.monotonic() + self.FLUSH_SECONDS
        if due:
            self._flush_in_background()

    def _flush_in_background(self) -> None:
        # Not on the request's connection, and not waiting for it: on SQLite the
        # request's transaction holds the write lock until it ends.
        from concurrent.futures import ThreadPoolExecutor

        app = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxy's object

        def target() -> None:
            with app.app_context():
                try:
                    self.flush()
                finally:
                    db.session.remove()

        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="token-uses")
            executor = self._executor
        try:
            executor.submit(target)
        except RuntimeError:  # interpreter shutting down
            pass

    def flush(self) -> None:
        import time

        engine = db.engine
        with self._lock:
            pending = self._pending.pop(engine, {})
            self._next_flush = time.monotonic() + self.FLUSH_SECONDS
        if not pending:
            return
        from sqlalchemy import bindparam, update

        table = ApiToken.__table__
        statement = (
            update(table)
            .where(table.c.id == bindparam("token_id"))
            .where((table.c.last_used_at.is_(None)) | (table.c.last_used_at < bindparam("used_at")))
            .values(last_used_at=bindparam("used_at"))
        )
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SET LOCAL synchronous_commit TO OFF"))  # a hint: nobody waits for the disk
                conn.execute(statement, [{"token_id": k, "used_at": v} for k, v in sorted(pending.items())])
        except Exception:  # noqa: BLE001 - a hint is not worth a failed request
            import logging

            logging.getLogger(__name__).warning("could not note when %s API tokens were used", len(pending))


_token_uses = _TokenUses()


def flush_token_uses() -> None:
    """Write the noted token uses now (at exit; tests)."""
    _token_uses.flush()


@unit_of_work
def revoke_token(user: User, token_id: int) -> None:
    row = db.session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound(_("No such token."))
    row.revoked_at = row.revoked_at or utcnow()
    db.session.commit()


# --- Password reset -----------------------------------------------------------

RESET_MAX_AGE = 3600


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def password_reset_token(user: User) -> str:
    # Bound to the current hash: once the password changes, the token is spent.
    return _reset_serializer().dumps({"u": user.id, "h": (user.password_hash or "")[-16:]})


def user_for_reset_token(token: str, *, lock: bool = False) -> User | None:
    """The active user a reset link is for while it is unspent, or None. ``lock``: the user's row locked
    until the transaction ends and read afresh (``reset_password``)."""
    try:
        data = _reset_serializer().loads(token, max_age=RESET_MAX_AGE)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    user: User | None
    if lock:
        user = db.session.scalar(
            select(User).where(User.id == data["u"]).with_for_update().execution_options(populate_existing=True)
        )
    else:
        user = db.session.get(User, data["u"])
    if user is None or (user.password_hash or "")[-16:] != data.get("h") or not user.active:
        return None
    return user


@unit_of_work
def reset_password(token: str, password: str) -> User:
    """Set the password a reset link was sent for, once: the link is checked again with the user's row
    locked, so the same link used twice at once sets one password and the other use is refused
    (``invalid_link``), as it is once the first has committed."""
    user = user_for_reset_token(token, lock=True)
    if user is None:
        raise ValidationFailed(
            _("This reset link is invalid, used or expired. Ask for a new one."), code="invalid_link"
        )
    set_password(user, password)
    return user


@unit_of_work
def request_password_reset(email: str, reset_url_for: Callable[[str], str]) -> None:
    """E-mail a reset link if the account exists; the caller says the same either way."""
    from .. import mail

    user = find_user_by_email(email)
    if user is None or not user.active:
        return
    token = password_reset_token(user)
    mail.queue(
        mail.build(
            user.email,
            _l("Reset your password"),
            "password_reset",
            locale=user.locale,
            user=user,
            url=reset_url_for(token),
        )
    )
    db.session.commit()


@unit_of_work
def new_calendar_token(user: User) -> str:
    user.calendar_token = secrets.token_urlsafe(24)
    db.session.commit()
    return user.calendar_token


# --- Registration -------------------------------------------------------------
# Registering answers the same way, after the same work, whether or not the
# address has an account: the form never tells who is registered. The address
# gets an e-mail either way: a link that creates the account, or (it has one)
# a note with links to log in and to reset the password. Nothing is stored
# until the link is opened; the link carries the registration encrypted (the
# password only as its argon2 hash) for REGISTRATION_MAX_AGE seconds.

REGISTRATION_MAX_AGE = 48 * 3600


def _registration_box() -> Fernet:
    from base64 import urlsafe_b64encode

    from cryptography.fernet import Fernet

    key = hashlib.sha256(b"registration:" + current_app.config["SECRET_KEY"].encode()).digest()
    return Fernet(urlsafe_b64encode(key))


@unit_of_work
def register(
    *,
    email: str,
    name: str,
    password: str,
    company: str | None,
    locale: str | None,
    confirm_url_for: Callable[[str], str],
    login_url: str,
    reset_url: str,
) -> str:
    """Check the form, then e-mail the address (see above). Returns the
    normalised address. Refusals (weak password, bad name) never depend on
    whether the address is taken."""
    import json

    from .. import mail

    email = normalise_email(email)
    name = clean_name(name)
    problem = password_problem(password, email=email, name=name)
    if problem:
        raise ValidationFailed(problem, fields={"password": problem})
    company = " ".join((company or "").split())[:200] or None
    hashed = hash_password(password)  # the expensive step, on both paths
    token = (
        _registration_box()
        .encrypt(json.dumps({"e": email, "n": name, "c": company, "l": locale, "h": hashed}).encode())
        .decode()
    )
    existing = find_user_by_email(email)
    if existing is None:
        mail.queue(
            mail.build(
                email,
                _l("Confirm your e-mail address"),
                "register_confirm",
                locale=locale,
                name=name,
                url=confirm_url_for(token),
            )
        )
    else:
        mail.queue(
            mail.build(
                existing.email,
                _l("You already have an account"),
                "register_existing",
                locale=existing.locale or locale,
                user=existing,
                login_url=login_url,
                reset_url=reset_url,
            )
        )
    db.session.commit()
    return email


def pending_registration(token: str) -> dict[str, Any] | None:
    """What an e-mailed registration link holds, or None (forged, expired)."""
    import json

    from cryptography.fernet import InvalidToken

    if not token or len(token) > 4000:
        return None
    try:
        data = json.loads(_registration_box().decrypt(token.encode(), ttl=REGISTRATION_MAX_AGE))
    except (InvalidToken, ValueError, UnicodeError):
        return None
    return data if isinstance(data, dict) and {"e", "n", "h"} <= set(data) else None


def confirm_registration(token: str) -> User:
    """Create the account the link describes (its own unit of work)."""
    data = pending_registration(token)
    if data is None:
        raise ValidationFailed(_("This link is invalid or expired. Please register again."), code="invalid_link")
    return create_user(
        email=data["e"],
        name=data["n"],
        password_hash=data["h"],
        company=data.get("c"),
        locale=data.get("l"),
        check_strength=False,
    )


@unit_of_work
def set_locale(user: User, code: str) -> None:
    """The language ``user`` reads pages, e-mails and documents in."""
    user.locale = code
    db.session.commit()


@unit_of_work
def update_settings(user: User, *, name: str, company: str | None, phone: str | None, locale: str | None) -> None:
    """The account settings a person edits for themselves; a bad name changes nothing."""
    user.display_name = clean_name(name)
    user.company = company or None
    user.phone = phone or None
    user.locale = locale or None
    db.session.commit()
