"""Course cards are rendered once per content and kept (training/rendering.py:fragment,
training/catalogue/cards.py): whatever changes, the catalogue shows exactly what an
uncached rendering shows, at once, to every viewer, in every language."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import inspect, select

from tests.conftest import login
from tests.toolkit import fragments_uncached
from training import rendering
from training.catalogue.models import Category, Course, Run
from training.enrolment.models import Enrolment
from training.extensions import db

CARD = re.compile(r'<article class="card course-card.*?</article>', re.S)


def _cards(client, url="/", **kw) -> list[str]:
    response = client.get(url, **kw)
    assert response.status_code == 200, url
    return CARD.findall(response.get_data(as_text=True))


def _fresh(app, client, url="/", **kw) -> list[str]:
    with fragments_uncached(app):
        return _cards(client, url, **kw)


def _assert_cards_current(app, client, url="/", **kw) -> list[str]:
    db.session.expire_all()
    cached = _cards(client, url, **kw)
    assert cached == _fresh(app, client, url, **kw)
    return cached


@pytest.fixture
def catalogue(factory):
    robots = Category(slug="robots", name="Robotics", name_zh="机器人")
    safety = Category(slug="safety", name="Safety", name_zh="")
    db.session.add_all([robots, safety])
    db.session.commit()
    trainer = factory.trainer(name="Ada Trainer")
    course = factory.course(
        code="CARD-1",
        title="Robot cells",
        title_translation="机器人单元",
        summary="Cells and fences.",
        category=robots,
        level="intermediate",
        language="en+zh",
    )
    first = factory.run(
        course, capacity=5, city="", location="Hall 3", location_translation="三号厅", trainers=[trainer]
    )
    factory.run(course, capacity=8, city="Ningbo", start=datetime.now(UTC).replace(microsecond=0) + timedelta(days=30))
    factory.enrolment(first)
    other = factory.course(code="CARD-2", title="Ladder logic", category=safety)
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)
    factory.run(other, capacity=2, city="Wuxi", mode="online", location="", start=later)
    return course, first, trainer, safety


def _changed(obj, column, catalogue):
    """Another valid value of ``column`` on ``obj`` (None: leave the column alone)."""
    key, value = column.key, getattr(obj, column.key)
    if key == "id":
        return None
    if key == "category_id":
        return catalogue[3].id
    if column.foreign_keys:
        return None
    cycles = {
        "level": ["beginner", "intermediate", "advanced"],
        "mode": ["in_person", "online", "blended"],
        "status": ["open", "closed", "draft", "cancelled"],
        "language": ["en", "zh", "en+zh", "de"],
        "original_language": ["en", "zh"],
        "timezone": ["Asia/Shanghai", "Europe/Berlin"],
    }
    if key in cycles:
        options = cycles[key]
        return options[(options.index(value) + 1) % len(options)] if value in options else options[0]
    if key == "starts_on":
        return value - timedelta(days=1)
    if key == "ends_on":
        return value + timedelta(days=1)
    if isinstance(value, bool):
        return not value
    if isinstance(value, datetime) or (value is None and "DateTime" in type(column.type).__name__):
        return (value or datetime.now(UTC)).replace(microsecond=0) + timedelta(days=3)
    if isinstance(value, date):
        return value + timedelta(days=1)
    if isinstance(value, int | float) or (value is None and "Integer" in type(column.type).__name__):
        return 12 if value is None else value + 1
    if isinstance(value, str):
        return value + " 改" if value else "Neu 新"
    raise AssertionError(f"no other value for {column}")


@pytest.mark.parametrize(("model", "visible"), [(Course, 8), (Category, 2), (Run, 6)])
def test_a_change_to_any_column_shows_at_once(app, client, factory, catalogue, model, visible):
    course, run, _trainer, _safety = catalogue
    obj = {Course: course, Category: course.category, Run: run}[model]
    login(client, factory.trainee())
    pages = ("/?lang=en", "/?lang=zh")
    before = [_assert_cards_current(app, client, url) for url in pages]
    assert len(before[0]) == 2
    shown = set()
    for column in inspect(model).columns:
        new = _changed(obj, column, catalogue)
        if new is None:
            continue
        old = getattr(obj, column.key)
        setattr(obj, column.key, new)
        db.session.commit()
        after = [_assert_cards_current(app, client, url) for url in pages]
        if after != before:
            shown.add(column.key)
        setattr(obj, column.key, old)
        db.session.commit()
        assert [_assert_cards_current(app, client, url) for url in pages] == before, column.key
    # The test sees what the cards show (titles, names, dates, places, seats), not a constant key.
    assert len(shown) >= visible, shown


def test_seats_and_more_dates_show_at_once(app, client, factory, catalogue):
    course, run, _trainer, _safety = catalogue
    login(client, factory.trainee())
    (card, *_rest) = _assert_cards_current(app, client)
    assert "4 seats left" in card and "+1 more date" in card
    for _ in range(2):
        factory.enrolment(run)
    (card, *_rest) = _assert_cards_current(app, client)
    assert "2 seats left" in card
    run.capacity = 3
    db.session.commit()
    (card, *_rest) = _assert_cards_current(app, client)
    assert "Full · waitlist" in card
    factory.run(course, capacity=4, start=datetime.now(UTC).replace(microsecond=0) + timedelta(days=60))
    (card, *_rest) = _assert_cards_current(app, client)
    assert "+2 more dates" in card


def test_title_and_trainer_changes(app, client, factory, catalogue):
    course, run, trainer, _safety = catalogue
    login(client, factory.trainee())
    _assert_cards_current(app, client)
    course.title = "Robot cells, revised"
    trainer.display_name = "Ada Lovelace"
    db.session.commit()
    cards = _assert_cards_current(app, client)
    assert "Robot cells, revised" in cards[0]
    # The card names no trainer, but search finds the course by the trainer's new name.
    assert _assert_cards_current(app, client, "/?q=Lovelace") == cards[:1]


def test_each_language_gets_its_own_card(app, client, factory, catalogue):
    login(client, factory.trainee())
    for _ in range(2):  # each language twice: from the cache the second time
        zh = _assert_cards_current(app, client, "/?lang=zh")
        en = _assert_cards_current(app, client, "/?lang=en")
        assert "机器人单元" in zh[0] and "机器人" in zh[0] and "中级" in zh[0]
        assert "Robot cells" in en[0] and "Robotics" in en[0] and "Intermediate" in en[0]
        # A category without a Chinese name: English, not the English card's HTML re-used
        assert 'lang="zh' in zh[1] or "Safety" in zh[1]
        assert zh != en


def test_every_viewer_sees_the_same_current_cards(app, factory, catalogue):
    course, run, trainer, _safety = catalogue
    enrolled = db.session.scalar(select(Enrolment).where(Enrolment.run_id == run.id)).user
    viewers = [None, factory.trainee(), enrolled, trainer, factory.admin()]
    seen = []
    for viewer in viewers:
        client = app.test_client()
        if viewer is not None:
            login(client, viewer)
        seen.append(_assert_cards_current(app, client))
    assert all(cards == seen[0] for cards in seen)


def test_links_follow_the_script_root(app, client, factory, catalogue):
    course = catalogue[0]
    login(client, factory.trainee())
    plain = _assert_cards_current(app, client)
    mounted = _assert_cards_current(app, client, environ_overrides={"SCRIPT_NAME": "/academy"})
    assert f'href="/courses/{course.id}"' in plain[0]
    assert f'href="/academy/courses/{course.id}"' in mounted[0]


def test_a_card_is_rendered_once_per_content(app, client, factory, catalogue):
    course = catalogue[0]
    rendered = []
    real = app.jinja_env.globals["fragment"]

    def counting(key, render, *args):
        def counted(*inner):
            if key[0] == "course_card":  # not the hero and sidebar (test_listing_summary.py)
                rendered.append(key)
            return render(*inner)

        return real(key, counted, *args)

    rendering._FRAGMENTS.clear()
    app.jinja_env.globals["fragment"] = counting
    try:
        login(client, factory.trainee())
        first = _cards(client)
        assert len(rendered) == 2
        assert _cards(client) == first and len(rendered) == 2
        course.summary = "Cells, fences and light curtains."
        db.session.commit()
        assert "light curtains" in _cards(client)[0] and len(rendered) == 3
        _cards(client, "/?lang=zh")
        assert len(rendered) == 5
    finally:
        app.jinja_env.globals["fragment"] = real
