"""The catalogue home and course pages as people see them."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import login
from training.extensions import db


def test_home_shows_cards_with_next_date_city_and_seats(client, factory):
    course = factory.course(code="ROB-110", title="工业机器人编程", summary="Robots in every session.")
    run = factory.run(course, city="Shenzhen", capacity=3)
    factory.enrolment(run)
    html = client.get("/").get_data(as_text=True)
    assert "工业机器人编程" in html and "Shenzhen" in html
    assert "2 seats left" in html
    assert f'href="/courses/{course.id}"' in html


def test_search_no_results_shows_reset_link(client, factory):
    factory.course(title="PLC basics")
    response = client.get("/?q=nothing-like-this&level=advanced")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "No courses match your search" in html
    assert 'href="/"' in html and "Reset search and filters" in html


def test_filters_are_kept_in_links(client, factory):
    for i in range(25):
        factory.course(code=f"K-{i:02d}", title=f"Kinematics {i:02d}", level="advanced")
    html = client.get("/?q=kinematics&level=advanced&sort=title").get_data(as_text=True)
    links = re.findall(r'href="(/\?[^"]*page=2[^"]*)"', html)
    assert links, "pagination link missing"
    assert "q=kinematics" in links[0] and "level=advanced" in links[0] and "sort=title" in links[0]


@pytest.mark.parametrize(
    "query",
    [
        "?page=-1",
        "?page=99999999999999999999",
        "?per_page=0",
        "?q=%00%01",
        "?q=" + "界" * 5000,
        "?month=2026-99",
        "?month=0000-01",
        "?level[]=x",
        "?category=%F0%9F%98%80",
        "?sort=%27;drop",
        "?open_only=2",
        "?q=%22%22%22",
        "?q=AND OR NOT",
        "?q=*",
        "?q=NEAR(a b)",
        "?q=col:val",
        "?q=%5C",
        "?city=%00",
    ],
)
def test_bad_query_strings_never_fail(client, factory, query):
    factory.course(title="Anything")
    assert client.get("/" + query).status_code == 200


def test_course_page_renders_sanitised_markdown_and_seo(client, factory):
    trainer = factory.trainer(name="Anna Müller")
    course = factory.course(
        code="OPC-150",
        title="OPC UA from the ground up",
        summary="Models and security.",
        description="## Why\n\n**Bold** <script>alert(1)</script> "
        "[x](javascript:alert(2)) <img src=x onerror=alert(3)>",
        outcomes="- Build a server",
        audience="Engineers",
        prerequisites="Basic networking",
        hours=16,
    )
    factory.run(course, trainers=[trainer], city="Suzhou")
    response = client.get(f"/courses/{course.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<strong>Bold</strong>" in html
    assert "<script>alert" not in html and "javascript:" not in html and "onerror" not in html
    assert "Build a server" in html and "Engineers" in html and "Basic networking" in html
    assert "<title>OPC UA from the ground up" in html
    assert '<meta name="description" content="Models and security.">' in html
    assert '<meta property="og:title" content="OPC UA from the ground up">' in html
    assert "Anna Müller" in html and "16 hours" in html
    # JSON-LD carries the CSP nonce of this response and parses as a schema.org Course
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    match = re.search(r'<script type="application/ld\+json" nonce="([^"]+)">(.*?)</script>', html, re.S)
    assert match and match.group(1) == nonce
    data = json.loads(match.group(2))
    assert data["@type"] == "Course" and data["courseCode"] == "OPC-150"
    assert data["hasCourseInstance"][0]["instructor"][0]["name"] == "Anna Müller"
    assert data["timeRequired"] == "PT16H"


def test_json_ld_cannot_be_broken_out_of(client, factory):
    course = factory.course(title="</script><script>alert(1)</script>", summary="</script>")
    html = client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert "</script><script>alert(1)" not in html


def test_unpublished_course_is_404_except_for_admins(client, factory):
    course = factory.course(published=False)
    assert client.get(f"/courses/{course.id}").status_code == 404
    assert client.get("/courses/999999").status_code == 404
    login(client, factory.admin())
    assert client.get(f"/courses/{course.id}").status_code == 200


def test_course_page_enrol_states(client, factory):
    course = factory.course()
    open_run = factory.run(course, capacity=5)
    full_run = factory.run(course, capacity=1, start=datetime.now(UTC) + timedelta(days=20))
    factory.enrolment(full_run)
    mine = factory.run(course, start=datetime.now(UTC) + timedelta(days=30))
    waiting = factory.run(course, capacity=1, start=datetime.now(UTC) + timedelta(days=40))
    factory.enrolment(waiting)
    trainee = factory.trainee()
    factory.enrolment(mine, trainee)
    entry = factory.enrolment(waiting, trainee, status="waitlisted")
    html = client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert "Log in to enrol" in html
    login(client, trainee)
    html = client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert f'action="/runs/{open_run.id}/enrol"' in html
    assert "Join the waitlist" in html
    assert "You have a place" in html
    assert "Waitlist position 1" in html
    assert f'action="/enrolments/{entry.id}/cancel"' in html


def test_trainers_and_admins_get_no_enrol_button(client, factory):
    course = factory.course()
    run = factory.run(course)
    login(client, factory.trainer())
    assert f"/runs/{run.id}/enrol" not in client.get(f"/courses/{course.id}").get_data(as_text=True)


def test_closed_and_draft_runs(client, factory):
    course = factory.course()
    factory.run(course, status="closed", city="Closedtown")
    factory.run(course, status="draft", city="Drafttown")
    html = client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert "Closedtown" in html and "Enrolment is closed" in html
    assert "Drafttown" not in html


def test_certificate_and_prerequisite_shown(client, factory):
    basic = factory.course(code="PLC-101", title="PLC basics")
    advanced = factory.course(code="PLC-201", title="PLC advanced", prerequisite_course_id=basic.id, validity_months=24)
    html = client.get(f"/courses/{advanced.id}").get_data(as_text=True)
    assert "Requires a valid certificate of" in html and "PLC-101" in html
    assert "Valid for 24 months" in html
    html = client.get(f"/courses/{basic.id}").get_data(as_text=True)
    assert "Opens the way to" in html and "PLC-201" in html


def test_markdown_in_course_page_uses_nonce_only_for_json_ld(client, factory):
    course = factory.course()
    html = client.get(f"/courses/{course.id}").get_data(as_text=True)
    # every inline <script> has a nonce; none carries inline code otherwise
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or "nonce=" in tag
    assert 'style="' not in html
    db.session.remove()
