"""Column types shared by all domains."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database.

    SQLite has no time zone support, so values are stored as naive UTC and
    handed back as aware UTC; PostgreSQL gets ``timestamp with time zone``.
    Passing a naive datetime is a programming error and is refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def org_tz() -> ZoneInfo:
    """The organisation's time zone (``ORG_TIMEZONE``): the zone of issue and
    expiry dates, report months and every "today" a page shows that is not
    tied to one run (a run's own dates are in the run's time zone)."""
    from flask import current_app, has_app_context

    name = current_app.config.get("ORG_TIMEZONE") if has_app_context() else None
    return ZoneInfo(name or "Asia/Shanghai")


def org_today(now: datetime | None = None) -> date:
    """Today's date in the organisation's time zone (never the server's local date)."""
    return (now or utcnow()).astimezone(org_tz()).date()


def local_date(moment: datetime, tz: str | ZoneInfo | None = None) -> date:
    """The calendar date of an aware moment in ``tz`` (default: the organisation's zone)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else (tz or org_tz())
    return moment.astimezone(zone).date()


def one_of(column: str, values: type[enum.Enum], *, nullable: bool = False) -> str:
    """The SQL of a CHECK constraint: ``column`` holds one of the enum's values (or NULL)."""
    listed = ", ".join(f"'{member.value}'" for member in values)
    return f"{column} IS NULL OR {column} IN ({listed})" if nullable else f"{column} IN ({listed})"
