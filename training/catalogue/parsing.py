"""Input checks shared by the catalogue's forms and the API (and the domains
built on it): dates, date-times, time zones, whole numbers and texts, each
refused with a ValidationFailed that names its field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import gettext as _

from ..errors import ValidationFailed

# Training records start well after 1970 and are planned at most a few years ahead.
YEARS = range(1970, 2201)
_D = TypeVar("_D", date, datetime)


def _check_year(value: _D, field: str) -> _D:
    if value.year not in YEARS:
        raise ValidationFailed(
            _(
                "%(field)s must lie between the years %(first)s and %(last)s.",
                field=field,
                first=YEARS[0],
                last=YEARS[-1],
            ),
            fields={field: "out of range"},
        )
    return value


def parse_date(value: object, field: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return _check_year(value, field)
    try:
        parsed = date.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise ValidationFailed(
            _("%(field)s must be a date like 2026-03-01.", field=field), fields={field: "invalid date"}
        ) from None
    return _check_year(parsed, field)


def parse_datetime(value: object, field: str, tz: ZoneInfo | None = None) -> datetime:
    """An aware datetime from ISO 8601. A time without offset is read in ``tz``."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except (TypeError, ValueError):
            raise ValidationFailed(
                _("%(field)s must be an ISO 8601 date-time with offset, like 2026-03-01T09:00:00+08:00.", field=field),
                fields={field: "invalid datetime"},
            ) from None
    if parsed.tzinfo is None:
        if tz is None:
            raise ValidationFailed(_("%(field)s needs a UTC offset.", field=field), fields={field: "offset required"})
        parsed = _check_year(parsed, field).replace(tzinfo=tz)
        # A wall time the clocks skip (02:30 when they go from 02:00 to 03:00) would silently become another
        # one; a repeated one (when they go back) is its first occurrence.
        if parsed.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != parsed.replace(tzinfo=None):
            raise ValidationFailed(
                _(
                    "%(field)s: %(time)s does not exist in %(zone)s (the clocks go forward then).",
                    field=field,
                    time=parsed.strftime("%Y-%m-%d %H:%M"),
                    zone=getattr(tz, "key", str(tz)),
                ),
                fields={field: "no such local time"},
            )
    return _check_year(parsed, field)


def parse_timezone(name: str | None) -> str:
    name = (name or "Asia/Shanghai").strip()
    try:
        if "/" not in name and name != "UTC":
            raise ZoneInfoNotFoundError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            _("Unknown time zone %(name)s; use an IANA name like Asia/Shanghai.", name=name),
            fields={"timezone": "unknown"},
        ) from None
    return name


def parse_int(value: Any, field: str, *, minimum: int = 0, maximum: int = 100000) -> int:
    if isinstance(value, bool):
        raise ValidationFailed(_("%(field)s must be a whole number.", field=field), fields={field: "not an integer"})
    try:
        number = int(value)
        if isinstance(value, float) and value != number:
            raise ValueError
    except (TypeError, ValueError):
        raise ValidationFailed(
            _("%(field)s must be a whole number.", field=field), fields={field: "not an integer"}
        ) from None
    if not minimum <= number <= maximum:
        raise ValidationFailed(
            _("%(field)s must be between %(minimum)s and %(maximum)s.", field=field, minimum=minimum, maximum=maximum),
            fields={field: "out of range"},
        )
    return number


def parse_text(value: object, field: str, *, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(_("%(field)s must be text.", field=field), fields={field: "not a string"})
    value = value.strip()
    if required and not value:
        raise ValidationFailed(_("%(field)s is required.", field=field), fields={field: "required"})
    if len(value) > max_length:
        raise ValidationFailed(
            _("%(field)s is longer than %(max_length)s characters.", field=field, max_length=max_length),
            fields={field: "too long"},
        )
    return value
