"""Trainer directory, profile pages, editing rights and sanitised bios."""

from datetime import UTC, datetime, timedelta

from tests.conftest import api, login
from training.extensions import db


def _trainer(factory, name="Anna Müller", **profile):
    trainer = factory.trainer(name=name)
    for key, value in {
        "title": "Robotics Lead",
        "organisation": "Rhein-Main Robotics",
        "expertise": "KUKA, ABB",
        "bio": "Anna **teaches** robots.",
    }.items():
        setattr(trainer.trainer_profile, key, profile.get(key, value))
    db.session.commit()
    return trainer


def test_directory_lists_public_trainers_and_searches(client, factory):
    anna = _trainer(factory)
    _trainer(factory, name="李伟", expertise="PLC, TIA Portal", title="Automation engineer")
    hidden = _trainer(factory, name="Hidden Person")
    hidden.trainer_profile.public = False
    db.session.commit()
    factory.run(trainers=[anna])
    html = client.get("/trainers").get_data(as_text=True)
    assert "Anna Müller" in html and "李伟" in html and "Hidden Person" not in html
    assert "1 upcoming run" in html
    html = client.get("/trainers?q=plc").get_data(as_text=True)
    assert "李伟" in html and "Anna Müller" not in html
    assert "No trainer matches" in client.get("/trainers?q=zzz").get_data(as_text=True)
    assert client.get("/trainers?q=%00&page=abc").status_code == 200


def test_profile_shows_next_runs_and_courses_taught(client, factory):
    anna = _trainer(factory)
    upcoming = factory.run(factory.course(title="Robot cells"), trainers=[anna], city="Suzhou")
    factory.past_run(factory.course(title="Palletising"), trainers=[anna])
    factory.past_run(factory.course(title="Unpublished old", published=False), trainers=[anna])
    html = client.get(f"/trainers/{anna.id}").get_data(as_text=True)
    assert "Robot cells" in html and f"#run-{upcoming.id}" in html
    assert "Palletising" in html and "Unpublished old" not in html
    assert "<strong>teaches</strong>" in html
    assert "Robotics Lead" in html and "KUKA" in html


def test_hidden_or_non_trainer_profiles_are_404(client, factory):
    hidden = _trainer(factory)
    hidden.trainer_profile.public = False
    db.session.commit()
    trainee = factory.trainee()
    assert client.get(f"/trainers/{hidden.id}").status_code == 404
    assert client.get(f"/trainers/{trainee.id}").status_code == 404
    login(client, hidden)
    assert client.get(f"/trainers/{hidden.id}").status_code == 200


def test_bio_markdown_is_sanitised(client, factory):
    anna = _trainer(
        factory,
        bio="<script>alert(1)</script>[click](javascript:alert(1)) "
        '<a href="#" onclick="x()">a</a> <img src=x onerror=alert(1)>',
    )
    html = client.get(f"/trainers/{anna.id}").get_data(as_text=True)
    assert "<script>alert" not in html and "javascript:" not in html
    assert "onclick" not in html and "onerror" not in html


def test_trainer_edits_own_profile_only(client, factory):
    anna = _trainer(factory)
    other = _trainer(factory, name="Other Trainer")
    login(client, anna)
    assert client.get(f"/trainers/{anna.id}/edit").status_code == 200
    response = client.post(
        f"/trainers/{anna.id}/edit",
        data={
            "name": "Anna Müller-Lee",
            "title_en": "Head of Robotics",
            "organisation": "RMR",
            "expertise": "KUKA，ABB、 KUKA; Cobots",
            "bio_en": "New bio",
            "public": "y",
        },
    )
    assert response.status_code == 302
    db.session.refresh(anna.trainer_profile)
    assert anna.display_name == "Anna Müller-Lee"
    assert anna.trainer_profile.expertise == "KUKA, ABB, Cobots"
    assert client.get(f"/trainers/{other.id}/edit").status_code == 403
    assert client.post(f"/trainers/{other.id}/edit", data={"name": "Hacked"}).status_code == 403
    db.session.refresh(other)
    assert other.display_name == "Other Trainer"


def test_trainee_cannot_edit_and_admin_can(client, factory):
    anna = _trainer(factory)
    login(client, factory.trainee())
    assert client.get(f"/trainers/{anna.id}/edit").status_code == 403
    login(client, factory.admin())
    response = client.post(f"/trainers/{anna.id}/edit", data={"name": "Anna M.", "bio_en": "x" * 20001})
    assert response.status_code == 422
    db.session.refresh(anna)
    assert anna.display_name == "Anna Müller"  # nothing saved on error
    response = client.post(f"/trainers/{anna.id}/edit", data={"name": "Anna M.", "bio_en": "ok"})
    assert response.status_code == 302


def test_renamed_trainer_is_found_in_course_search(client, factory):
    anna = _trainer(factory)
    course = factory.course(title="Welding cells")
    factory.run(course, trainers=[anna])
    login(client, anna)
    client.post(f"/trainers/{anna.id}/edit", data={"name": "Annabelle Stone", "public": "y"})
    assert "Welding cells" in client.get("/?q=annabelle").get_data(as_text=True)


def test_api_lists_trainers_without_emails(client, factory):
    anna = _trainer(factory)
    factory.run(trainers=[anna], start=datetime.now(UTC) + timedelta(days=3))
    body = api(client).get("/api/v1/trainers").json
    assert body["total"] == 1 and body["items"][0]["name"] == "Anna Müller"
    assert body["items"][0]["expertise"] == ["KUKA", "ABB"] and body["items"][0]["upcoming_runs"] == 1
    assert "@" not in str(body)
    detail = api(client).get(f"/api/v1/trainers/{anna.id}").json
    assert detail["bio"] == "Anna **teaches** robots." and "<strong>" in detail["bio_html"]
    assert len(detail["upcoming_runs"]) == 1 and "@" not in str(detail)
    assert api(client).get("/api/v1/trainers/99999").status_code == 404
    assert api(client).get("/api/v1/trainers?page=0").status_code == 422
    assert api(client).get("/api/v1/trainers?per_page=1000").status_code == 422


def test_profile_counts_past_runs_per_course_newest_first(app, factory):
    """Courses taught: one line per published course with the number of past runs and the last one's
    date, newest first; cancelled runs, archived courses and runs still to come are left out, and the
    next runs never include an archived course's."""
    from training.catalogue.models import RunStatus
    from training.trainers.services import trainer_detail

    anna = _trainer(factory)
    plc, robots, old = factory.course(title="PLC"), factory.course(title="Robots"), factory.course(title="Old")
    now = datetime.now(UTC).replace(microsecond=0)
    factory.run(plc, trainers=[anna], start=now - timedelta(days=40))
    factory.run(plc, trainers=[anna], start=now - timedelta(days=30))
    last_robots = factory.run(robots, trainers=[anna], start=now - timedelta(days=20))
    cancelled = factory.run(robots, trainers=[anna], start=now - timedelta(days=12))
    cancelled.status = RunStatus.cancelled.value
    factory.run(old, trainers=[anna], start=now - timedelta(days=15))
    factory.run(old, trainers=[anna], start=now + timedelta(days=5))
    old.archived = True
    factory.run(plc, trainers=[anna], start=now + timedelta(days=9))
    factory.run(robots, trainers=[_trainer(factory, name="Other")], start=now - timedelta(days=5))
    db.session.commit()

    detail = trainer_detail(anna.id)
    assert [(t.course.title, t.runs) for t in detail.courses_taught] == [("Robots", 1), ("PLC", 2)]
    assert detail.courses_taught[0].last == last_robots.ends_on
    assert [r.course.title for r in detail.upcoming] == ["PLC"]
