"""The API shows a course or a run to exactly the people the pages show it to:
both load through ``catalogue.queries.course_detail`` / ``visible_run`` and
the ``view_course`` / ``view_run`` permissions (they had drifted apart)."""

from __future__ import annotations

from tests.conftest import api, login


def test_an_archived_course_is_not_found_through_the_api_or_the_page(client, factory):
    course = factory.course(archived=True)
    trainee = factory.trainee()
    assert api(client, trainee).get(f"/api/v1/courses/{course.id}").status_code == 404
    assert api(client).get(f"/api/v1/courses/{course.id}").status_code == 404
    assert login(client, trainee).get(f"/courses/{course.id}").status_code == 404
    assert api(client, factory.admin()).get(f"/api/v1/courses/{course.id}").status_code == 200


def test_upcoming_runs_are_the_runs_the_course_page_lists(client, factory):
    course = factory.course()
    upcoming = factory.run(course)
    past = factory.past_run(course)
    draft = factory.run(course, status="draft")
    body = api(client, factory.trainee()).get(f"/api/v1/courses/{course.id}").get_json()
    ids = [r["id"] for r in body["upcoming_runs"]]
    assert ids == [upcoming.id]
    assert past.id not in ids and draft.id not in ids
    admin_ids = [
        r["id"] for r in api(client, factory.admin()).get(f"/api/v1/courses/{course.id}").get_json()["upcoming_runs"]
    ]
    assert set(admin_ids) == {upcoming.id, draft.id}


def test_a_draft_run_or_a_run_of_an_unpublished_course_is_hidden_alike_everywhere(client, factory):
    draft = factory.run(status="draft")
    hidden = factory.run(factory.course(published=False))
    trainee = factory.trainee()
    for run in (draft, hidden):
        assert api(client, trainee).get(f"/api/v1/runs/{run.id}").status_code == 404
        assert client.get(f"/runs/{run.id}/calendar.ics").status_code == 404
        assert api(client, factory.admin()).get(f"/api/v1/runs/{run.id}").status_code == 200
    shown = factory.run()
    assert api(client, trainee).get(f"/api/v1/runs/{shown.id}").status_code == 200
    assert client.get(f"/runs/{shown.id}/calendar.ics").status_code == 200
