"""Building the catalogue's listing summary (training/catalogue/listing.py) and the shared
listing (training/pagecache.py) while the catalogue changes: a summary or listing built from
the data before a change may be stored after it, by this or another server; it is never
served once the change is committed. The interleaving is forced (a build held between
reading the data and keeping the result), not left to timing, so it runs on SQLite too."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from tests.toolkit import BARRIER_SECONDS, another_server, join_all
from training.catalogue import listing
from training.catalogue.models import Course
from training.extensions import db


def _position(html: str, course_id: int) -> int:
    return html.find(f'href="/courses/{course_id}"')


@pytest.mark.parametrize("cache_seconds", [0, 60])
def test_a_summary_built_from_the_data_before_a_change_is_never_served_after_it(
    app, factory, monkeypatch, cache_seconds
):
    app.config["PUBLIC_PAGE_CACHE_SECONDS"] = cache_seconds
    now = datetime.now(UTC)
    courses = [factory.course(code=f"RACE-{i}", title=f"Race course {i}") for i in range(4)]
    for i, course in enumerate(courses):
        factory.run(course, start=now + timedelta(days=10 + i))
    hidden_id, ids = courses[1].id, [c.id for c in courses]
    db.session.remove()

    built, release = threading.Event(), threading.Event()
    real_build = listing._build

    def held_build(version, today):
        summary = real_build(version, today)  # the data as it was before the change
        if threading.current_thread().name == "held":
            db.session.rollback()  # hold no lock while waiting (SQLite: the change below could not commit)
            built.set()
            release.wait(BARRIER_SECONDS)
        return summary

    monkeypatch.setattr(listing, "_build", held_build)
    pages: dict[str, str] = {}

    def visit(name: str) -> None:
        response = app.test_client().get("/?per_page=50")
        assert response.status_code == 200
        pages[name] = response.get_data(as_text=True)

    held = threading.Thread(target=visit, args=("held",), name="held")
    held.start()
    assert built.wait(BARRIER_SECONDS), "the held build did not start"
    with another_server(app) as other, other.app_context():
        db.session.get(Course, hidden_id).published = False
        fresh = Course(code="RACE-NEW", title="Race course new", hours=8, language="en", level="beginner")
        fresh.published = True
        db.session.add(fresh)
        db.session.commit()
        factory.run(fresh, start=now + timedelta(days=2))  # the soonest: listed first
        new_id = fresh.id
        db.session.remove()
    release.set()
    join_all([held])
    assert _position(pages["held"], ids[0]) >= 0  # what it saw before the change (kept or not)

    visitors = [threading.Thread(target=visit, args=(f"after-{i}",), name=f"after-{i}") for i in range(4)]
    for thread in visitors:
        thread.start()
    join_all(visitors)
    for name in [f"after-{i}" for i in range(4)]:
        html = pages[name]
        assert _position(html, hidden_id) < 0, name
        assert 0 <= _position(html, new_id) < _position(html, ids[0]), name  # in the summary's order
    kept = app.extensions["catalogue_listing"]
    newest = max(kept.values(), key=lambda summary: summary.version)
    assert new_id in newest.order and hidden_id not in newest.order
