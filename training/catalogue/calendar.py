"""iCalendar documents for runs and personal feeds (RFC 5545, via icalendar)."""
from __future__ import annotations

from icalendar import Calendar, Event

from ..types import utcnow


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//Smart Manufacturing Training//training//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    return cal


def _add_run(cal: Calendar, run, base_url: str) -> None:
    tz = run.tz
    place = ", ".join(p for p in (run.location, run.city) if p) or ("Online" if run.mode == "online" else "")
    for index, meeting in enumerate(run.meetings, start=1):
        event = Event()
        event.add("uid", f"meeting-{meeting.id}@training")
        event.add("summary", f"{run.course.code} {run.course.title} ({index}/{len(run.meetings)})")
        # Local times with TZID so calendars show the room's time zone;
        # icalendar writes the VTIMEZONE from the zoneinfo database.
        event.add("dtstart", meeting.starts_at.astimezone(tz))
        event.add("dtend", meeting.ends_at.astimezone(tz))
        event.add("dtstamp", utcnow())
        if place:
            event.add("location", place)
        event.add("url", f"{base_url}/courses/{run.course_id}#run-{run.id}")
        event.add("description", run.course.summary or run.course.title)
        if run.status == "cancelled":
            event.add("status", "CANCELLED")
        cal.add_component(event)


def run_calendar(run, base_url: str) -> bytes:
    cal = _calendar(f"{run.course.code} {run.course.title}")
    _add_run(cal, run, base_url)
    cal.add_missing_timezones()
    return cal.to_ical()


def feed_calendar(runs, name: str, base_url: str) -> bytes:
    cal = _calendar(name)
    for run in runs:
        _add_run(cal, run, base_url)
    cal.add_missing_timezones()
    return cal.to_ical()
