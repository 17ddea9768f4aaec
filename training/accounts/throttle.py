"""Guessing passwords, throttled by account *and* source.

A failed login is recorded for the address typed (a hash of it, whether an
account exists or not, so that throttling says nothing about who has one) and
the source it came from (the client's IPv4 address, or its IPv6 /64: one
machine holds a whole /64).

- Per source: after ``FREE_FAILURES`` failures on one account within
  ``WINDOW``, that source must wait before it may try that account again, one
  minute, then two, four, eight, at most ``MAX_DELAY``. The owner, signing in
  from anywhere else, is not affected: a stranger cannot keep them out.
- Per account: only when ``DISTRIBUTED_SOURCES`` different sources failed on
  one account within ``LOCK_WINDOW`` (a distributed attack, which no per-source
  delay stops) is the account refused from everywhere, for as long as that
  lasts. The owner is told by e-mail (at most once a day) and gets in through a
  password-reset link, which ends the lock.

An attempt counts as a failure before its password is checked (the check is slow), and a success
takes it back: attempts sent at the same moment each see the ones before them, so a burst gets no
more free tries than attempts one after another (``hold`` makes them read one at a time).

Each process also has Flask-Limiter's per-address limits on the login form.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text

from ..extensions import db
from .models import LoginFailure

FREE_FAILURES = 5
WINDOW = timedelta(hours=1)
FIRST_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(minutes=15)
DISTRIBUTED_SOURCES = 10
LOCK_WINDOW = timedelta(minutes=15)
KEEP = timedelta(days=1)


def account_key(email: str | None) -> str:
    return hashlib.sha256((email or "").strip().lower().encode("utf-8", "surrogatepass")).hexdigest()


def source_of(address: str | None) -> str:
    """The client's IPv4 address, or the /64 network of an IPv6 address."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return (address or "unknown")[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def delay_after(failures: int) -> timedelta:
    """How long a source waits after its n-th failure on one account."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    return min(FIRST_DELAY * 2 ** (failures - FREE_FAILURES), MAX_DELAY)


def source_wait(key: str, source: str, now: datetime) -> timedelta:
    """How long this source must still wait before trying this account (0: it may)."""
    times = list(
        db.session.scalars(
            select(LoginFailure.created_at)
            .where(
                LoginFailure.account_key == key, LoginFailure.source == source, LoginFailure.created_at > now - WINDOW
            )
            .order_by(LoginFailure.created_at)
        )
    )
    if len(times) < FREE_FAILURES:
        return timedelta(0)
    until = times[-1] + delay_after(len(times))
    return max(until - now, timedelta(0))


def account_locked(key: str, now: datetime) -> bool:
    """Under a distributed attack: many sources failed on this account just now."""
    sources = db.session.scalar(
        select(func.count(func.distinct(LoginFailure.source))).where(
            LoginFailure.account_key == key, LoginFailure.created_at > now - LOCK_WINDOW
        )
    )
    return (sources or 0) >= DISTRIBUTED_SOURCES


def hold(key: str, source: str) -> None:
    """Until the caller's transaction ends, other attempts of this source on this account wait here
    (PostgreSQL: a transaction-level advisory lock), so that between them each reads the failures
    of the one before. SQLite runs one writer at a time anyway."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    number = int.from_bytes(hashlib.sha256(f"login:{key}:{source}".encode()).digest()[:8], "big", signed=True)
    db.session.execute(text("SELECT pg_advisory_xact_lock(:number)"), {"number": number})


def record_failure(key: str, source: str, now: datetime) -> LoginFailure:
    """In the caller's transaction; also forgets failures nobody looks at any more."""
    failure = LoginFailure(account_key=key, source=source, created_at=now)
    db.session.add(failure)
    db.session.execute(delete(LoginFailure).where(LoginFailure.created_at < now - KEEP))
    return failure


def forget_source(key: str, source: str) -> None:
    """A successful login from this source ends its delays on this account."""
    db.session.execute(delete(LoginFailure).where(LoginFailure.account_key == key, LoginFailure.source == source))


def forget_account(key: str) -> None:
    """A password reset ends every delay and the lock of this account."""
    db.session.execute(delete(LoginFailure).where(LoginFailure.account_key == key))
