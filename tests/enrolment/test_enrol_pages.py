"""Enrolment pages: enrol/cancel buttons, My training, the admin roster,
CSV export and the CSV import flow, with their refusals."""

import csv
import io

from sqlalchemy import func, select

from tests.conftest import login
from training.enrolment import services
from training.enrolment.models import Enrolment
from training.extensions import db


def test_enrol_button_redirects_to_course_with_flash(client, factory):
    run = factory.run(capacity=1)
    trainee = factory.trainee()
    login(client, trainee)
    r = client.post(f"/runs/{run.id}/enrol")
    assert r.status_code == 302 and r.headers["Location"].startswith(f"/courses/{run.course_id}")
    with client.session_transaction() as sess:
        assert "You are enrolled" in sess["_flashes"][0][1]
    again = client.post(f"/runs/{run.id}/enrol", follow_redirects=False)
    with client.session_transaction() as sess:
        assert "Already enrolled" in sess["_flashes"][-1][1]
    assert again.status_code == 302
    other = factory.trainee()
    login(client, other)
    client.post(f"/runs/{run.id}/enrol")
    with client.session_transaction() as sess:
        assert "waitlist at position 1" in sess["_flashes"][-1][1]


def test_anonymous_enrol_goes_to_login(client, factory):
    run = factory.run()
    r = client.post(f"/runs/{run.id}/enrol")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 0


def test_cancel_button_and_refusals(client, factory):
    run = factory.run()
    trainee, intruder = factory.trainee(), factory.trainee()
    enrolment = services.enrol(trainee, run.id)
    login(client, intruder)
    client.post(f"/enrolments/{enrolment.id}/cancel")
    db.session.expire_all()
    assert enrolment.status == "confirmed"
    login(client, trainee)
    r = client.post(f"/enrolments/{enrolment.id}/cancel", data={"next": "https://evil.example/"})
    assert r.status_code == 302 and r.headers["Location"].startswith(f"/courses/{run.course_id}")
    db.session.expire_all()
    assert enrolment.status == "cancelled"
    assert client.post("/enrolments/999999/cancel").status_code == 302


def test_enrol_needs_csrf_token_when_csrf_is_on(app, client, factory):
    app.config["WTF_CSRF_ENABLED"] = True
    run = factory.run()
    login(client, factory.trainee())
    client.post(f"/runs/{run.id}/enrol")
    assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 0


def test_my_training_sections(client, factory):
    trainee = factory.trainee()
    full = factory.run(capacity=0)
    upcoming = factory.run()
    approval = factory.run(requires_approval=True)
    past = factory.past_run()
    services.enrol(trainee, upcoming.id)
    services.enrol(trainee, full.id)
    services.enrol(trainee, approval.id)
    factory.enrolment(past, trainee)
    login(client, trainee)
    page = client.get("/my/training").get_data(as_text=True)
    assert "Cancel my place" in page and "Leave the waitlist" in page and "Withdraw request" in page
    assert "Waitlist #1" in page and upcoming.course.title in page and past.course.title in page
    assert "Attendance" in page and "/my/certificates" in page


def test_my_training_empty_and_login_required(client, factory):
    assert client.get("/my/training").status_code == 302
    login(client, factory.trainee())
    assert "not enrolled in a course yet" in client.get("/my/training").get_data(as_text=True)


def test_roster_is_admin_only(client, factory):
    run = factory.run()
    login(client, factory.trainee())
    assert client.get(f"/admin/runs/{run.id}/enrolments").status_code == 403
    assert client.get(f"/admin/runs/{run.id}/enrolments.csv").status_code == 403
    assert client.post(f"/admin/runs/{run.id}/import").status_code == 403


def test_roster_filters_actions_and_export(client, factory):
    admin = factory.admin()
    run = factory.run(capacity=1, requires_approval=True)
    a = services.enrol_person(admin, run.id, "a@example.com", '=HYPERLINK("http://x")')[0]
    p = services.enrol(factory.trainee(name="Pending Person"), run.id)
    login(client, admin)
    page = client.get(f"/admin/runs/{run.id}/enrolments").get_data(as_text=True)
    assert "Pending Person" in page and "Approve" in page
    page = client.get(f"/admin/runs/{run.id}/enrolments?status=waitlisted").get_data(as_text=True)
    assert "Pending Person" not in page and "Nobody matches" in page
    r = client.post(f"/admin/enrolments/{p.id}/approve", data={"next": f"/admin/runs/{run.id}/enrolments"})
    assert r.status_code == 302
    db.session.expire_all()
    assert p.status == "waitlisted"
    client.post(f"/admin/enrolments/{a.id}/status", data={"status": "cancelled", "reason": ""})
    db.session.expire_all()
    assert a.status == "confirmed"  # a reason is required
    client.post(f"/admin/enrolments/{a.id}/status", data={"status": "cancelled", "reason": "Moved to March"})
    db.session.expire_all()
    assert a.status == "cancelled" and p.status == "confirmed"
    r = client.post(f"/admin/runs/{run.id}/enrolments/add", data={"email": "new@example.com", "name": "+Neu"})
    assert r.status_code == 302
    export = client.get(f"/admin/runs/{run.id}/enrolments.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["enrolment_id", "status", "waitlist_position"]
    names = {row[3] for row in rows[1:]}
    assert '\'=HYPERLINK("http://x")' in names and "'+Neu" in names and "Pending Person" in names


def test_import_flow_preview_commit(client, factory, tmp_path):
    admin = factory.admin()
    run = factory.run(capacity=1)
    login(client, admin)
    data = "email,name\nx1@example.com,李雷\nx2@example.com,韩梅梅\n".encode("gb18030")
    r = client.post(
        f"/admin/runs/{run.id}/import",
        data={"file": (io.BytesIO(data), "roster.csv")},
        content_type="multipart/form-data",
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "Will be confirmed" in page and "Would be waitlisted" in page and "李雷" in page
    assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 0
    import re

    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page).group(1)
    r = client.post(f"/admin/runs/{run.id}/import/commit", data={"token": token})
    assert r.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 2
    # the same token again: already imported
    client.post(f"/admin/runs/{run.id}/import/commit", data={"token": token})
    assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 2


def test_import_refuses_bad_files_with_a_message(client, factory):
    admin = factory.admin()
    run = factory.run()
    login(client, admin)
    for content, words in [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        (b"x" * (50 * 1024 * 1024), "50.0 MB"),
        (b"email,name\nz@example.com," + "名".encode() * 10_000 + b"\n", "10000 characters"),
    ]:
        r = client.post(
            f"/admin/runs/{run.id}/import",
            data={"file": (io.BytesIO(content), "f.csv")},
            content_type="multipart/form-data",
        )
        assert r.status_code in (200, 422) and words in r.get_data(as_text=True), words
    assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 0


def test_admin_enrolments_index(client, factory):
    run = factory.run()
    factory.enrolment(run, status="pending")
    login(client, factory.admin())
    page = client.get("/admin/enrolments").get_data(as_text=True)
    assert run.course.title in page and f"/admin/runs/{run.id}/enrolments" in page
