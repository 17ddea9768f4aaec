"""iCalendar documents for runs and personal feeds (RFC 5545, via icalendar).

One VEVENT per meeting, in the run's own time zone (TZID plus a VTIMEZONE
written from the zoneinfo database), so a calendar abroad shows the right
local time. A run without meetings yet becomes one all-day event over its
dates. UIDs are stable, so re-importing or refreshing a feed updates events
instead of duplicating them; a cancelled run's events say STATUS:CANCELLED.

Course titles, summaries and rooms are written in one language, ``lang``
("en" or "zh"; None: the current request's), falling back to the other where
the course has no text in it (issue 18): an e-mailed calendar is in its
recipient's language, so callers that reuse a calendar key it by language too.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta
from functools import lru_cache

from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from icalendar import Calendar, Event, Timezone
from sqlalchemy import inspect as sa_inspect

from ..content_i18n import localized, normalise_lang
from ..lru import LRU
from ..types import utcnow


@lru_cache(maxsize=64)
def _timezone(tzid: str) -> Timezone | None:
    try:
        return Timezone.from_tzid(tzid)
    except ValueError:
        return None


def add_timezones(cal: Calendar) -> None:
    """``cal.add_missing_timezones()`` with each VTIMEZONE built once per process.

    Writing a zone's rules from the zoneinfo database is most of the cost of a
    calendar (tens of milliseconds against a few for the events), and the same
    zones come back on every enrolment e-mail and feed."""
    position = len(cal.timezones)
    for tzid in sorted(cal.get_missing_tzids()):
        component = _timezone(tzid)
        if component is not None:
            cal.subcomponents.insert(position, component)
            position += 1


def _calendar(name: str, method: str = "PUBLISH") -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//Smart Manufacturing Training//training//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    cal.add("x-wr-calname", name)
    # Subscribed feeds: ask clients to refresh a few times a day.
    cal.add("refresh-interval", timedelta(hours=6), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT6H")
    return cal


def _place(run, lang: str | None) -> str:
    location = localized(run, "location", lang)
    if run.mode == "online":
        return location or _("Online")
    return ", ".join(p for p in (location, run.city) if p)


def _title(run, lang: str | None) -> str:
    return f"{run.course.code} {localized(run.course, 'title', lang)}"


def _in(lang: str | None):
    """Interface words (e.g. "Online") in ``lang``; the current locale when None."""
    return force_locale(normalise_lang(lang)) if lang else nullcontext()


def _add_run(
    cal: Calendar, run, base_url: str, *, only: int | None = None, organizer: str | None = None, lang: str | None = None
) -> None:
    tz = run.tz
    place = _place(run, lang)
    url = f"{base_url}/courses/{run.course_id}#run-{run.id}"
    summary = localized(run.course, "summary", lang) or localized(run.course, "title", lang)
    description = "\n\n".join(p for p in (summary, url) if p)
    stamp = utcnow()

    def event(uid: str, summary: str) -> Event:
        ev = Event()
        ev.add("uid", uid)
        ev.add("summary", summary)
        ev.add("dtstamp", stamp)
        if place:
            ev.add("location", place)
        ev.add("url", url)
        ev.add("description", description)
        ev.add("status", "CANCELLED" if run.status == "cancelled" else "CONFIRMED")
        return ev

    title = _title(run, lang)
    if not run.meetings:
        ev = event(f"run-{run.id}@training", title)
        ev.add("dtstart", run.starts_on)
        ev.add("dtend", run.ends_on + timedelta(days=1))  # DTEND of an all-day event is exclusive
        cal.add_component(ev)
        return
    for index, meeting in enumerate(run.meetings, start=1):
        if only is not None and meeting.id != only:
            continue
        suffix = f" ({index}/{len(run.meetings)})" if len(run.meetings) > 1 else ""
        ev = event(
            f"meeting-{meeting.id}@training", f"{title}{suffix}" + (f": {meeting.title}" if meeting.title else "")
        )
        # Local times with TZID so calendars show the room's time zone.
        ev.add("dtstart", meeting.starts_at.astimezone(tz))
        ev.add("dtend", meeting.ends_at.astimezone(tz))
        # Raised on every move or cancellation, so calendar apps replace the event they hold.
        ev.add("sequence", getattr(meeting, "sequence", 0) or 0)
        if getattr(meeting, "cancelled_at", None) is not None:
            ev["status"] = "CANCELLED"
        if organizer:
            ev.add("organizer", f"mailto:{organizer}")
        cal.add_component(ev)


_RUN_CALENDARS: LRU[bytes] = LRU(256)


def _columns(obj) -> tuple:
    return tuple(getattr(obj, attr.key) for attr in sa_inspect(type(obj)).column_attrs)


def run_fingerprint(run, base_url: str, lang: str | None) -> tuple:
    """Everything a run's calendar can say (every column of the run, its course and
    its meetings, in the language it is written in): a change to any makes a new one."""
    language = normalise_lang(lang) if lang else str(get_locale() or "en")
    return (base_url, language, _columns(run), _columns(run.course), tuple(_columns(m) for m in run.meetings))


def run_calendar(run, base_url: str, lang: str | None = None) -> bytes:
    """The run's calendar in ``lang``, built once per change of the run (its course,
    meetings, place or status) and kept per process: every confirmation e-mail of a
    run carries the same one (its DTSTAMP is when it was built)."""
    key = run_fingerprint(run, base_url, lang)
    cached = _RUN_CALENDARS.get(key)
    if cached is not None:
        return cached
    with _in(lang):
        cal = _calendar(_title(run, lang))
        _add_run(cal, run, base_url, lang=lang)
    add_timezones(cal)
    data = cal.to_ical()
    _RUN_CALENDARS.put(key, data)
    return data


def feed_calendar(runs, name: str, base_url: str, lang: str | None = None) -> bytes:
    cal = _calendar(name)
    with _in(lang):
        for run in runs:
            _add_run(cal, run, base_url, lang=lang)
    add_timezones(cal)
    return cal.to_ical()


def meeting_calendar(meeting, base_url: str, organizer: str, lang: str | None = None) -> bytes:
    """One meeting's event after it was moved or cancelled: METHOD:CANCEL with
    STATUS:CANCELLED for a cancelled meeting, else the updated event; the same
    UID with a higher SEQUENCE, so calendar apps update the event they hold."""
    run = meeting.run
    with _in(lang):
        cal = _calendar(_title(run, lang), method="CANCEL" if meeting.cancelled_at is not None else "PUBLISH")
        _add_run(cal, run, base_url, only=meeting.id, organizer=organizer, lang=lang)
    add_timezones(cal)
    return cal.to_ical()
