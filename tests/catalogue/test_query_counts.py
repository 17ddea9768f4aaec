"""The catalogue and trainer pages send a bounded number of SQL queries,
whatever the number of courses, runs and trainers (no N+1)."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import login
from tests.toolkit import count_queries
from training.catalogue.models import Category
from training.extensions import db

MAX_QUERIES = 10


@pytest.fixture
def busy_catalogue(factory):
    categories = [Category(slug=f"cat-{i}", name=f"Category {i}") for i in range(4)]
    db.session.add_all(categories)
    db.session.commit()
    trainers = [factory.trainer(name=f"Trainer {i}") for i in range(6)]
    courses = []
    now = datetime.now(UTC)
    for i in range(32):
        course = factory.course(
            code=f"Q-{i:02d}",
            title=f"Robot course {i:02d}",
            category=categories[i % 4],
            prerequisite_course_id=courses[-1].id if courses else None,
        )
        courses.append(course)
        for j in range(2):
            run = factory.run(
                course,
                trainers=trainers[(i + j) % 6 : (i + j) % 6 + 2],
                capacity=4,
                start=now + timedelta(days=5 + i + 20 * j),
                city=["Suzhou", "Shanghai"][j],
            )
            factory.enrolment(run)
        factory.past_run(course, trainers=[trainers[i % 6]])
    return courses, trainers


def _count(client, url):
    db.session.expire_all()
    with count_queries() as counter:
        response = client.get(url)
    assert response.status_code == 200, url
    return counter.count


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/?q=robot",
        "/?q=机器",
        "/?open_only=1&city=Suzhou&sort=title",
        "/?category=cat-1&level=beginner&page=2&per_page=5",
        "/trainers",
        "/api/v1/courses?q=robot&per_page=50",
        "/api/v1/trainers",
    ],
)
def test_list_pages_are_bounded(client, busy_catalogue, url):
    assert _count(client, url) <= MAX_QUERIES


def test_course_and_trainer_pages_are_bounded(client, factory, busy_catalogue):
    courses, trainers = busy_catalogue
    trainee = factory.trainee()
    for run in courses[5].runs[:2]:
        factory.enrolment(run, trainee, status="waitlisted")
    for url in (f"/courses/{courses[5].id}", f"/trainers/{trainers[2].id}", f"/api/v1/trainers/{trainers[2].id}"):
        assert _count(client, url) <= MAX_QUERIES, url
    login(client, trainee)
    # logged in: the session's user, the viewer's enrolments and waitlist positions (one per waitlisted run)
    assert _count(client, f"/courses/{courses[5].id}") <= MAX_QUERIES + 2


def test_query_count_does_not_grow_with_the_page_size(client, busy_catalogue):
    client.get("/")  # the listing summary of this version (training/catalogue/listing.py) is built once
    small = _count(client, "/?per_page=2")
    large = _count(client, "/?per_page=30")
    assert small == large
