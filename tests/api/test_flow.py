"""The whole flow through the JSON API, and each endpoint's refusals."""

from datetime import UTC

from tests.conftest import api


def _course(client, admin, **extra):
    body = {
        "code": "PLC-101",
        "title": "PLC programming with IEC 61131-3",
        "hours": 16,
        "category": "PLC programming",
        "level": "beginner",
        "language": "zh",
    }
    body.update(extra)
    return api(client, admin).post("/api/v1/courses", json=body)


def _run_body(trainer, **extra):
    body = {
        "starts_on": "2031-03-02",
        "ends_on": "2031-03-03",
        "capacity": 2,
        "timezone": "Asia/Shanghai",
        "location": "Suzhou Industrial Park, Hall B",
        "mode": "in_person",
        "trainer_emails": [trainer.email],
        "meetings": [
            {"starts_at": "2031-03-02T09:00:00+08:00", "ends_at": "2031-03-02T17:00:00+08:00"},
            {"starts_at": "2031-03-03T09:00:00+08:00", "ends_at": "2031-03-03T17:00:00+08:00"},
        ],
    }
    body.update(extra)
    return body


def test_create_course_and_run(client, factory):
    admin, trainer = factory.admin(), factory.trainer()
    response = _course(client, admin)
    assert response.status_code == 201, response.json
    course = response.json
    assert course["id"] and course["code"] == "PLC-101" and course["hours"] == 16
    response = api(client, admin).post(f"/api/v1/courses/{course['id']}/runs", json=_run_body(trainer))
    assert response.status_code == 201, response.json
    run = response.json
    assert run["course_id"] == course["id"] and run["seats_left"] == 2
    assert [m["starts_at"] for m in run["meetings"]] == ["2031-03-02T01:00:00+00:00", "2031-03-03T01:00:00+00:00"]
    assert run["enrol_deadline"] == "2031-03-02T01:00:00+00:00"
    got = api(client).get(f"/api/v1/runs/{run['id']}").json
    assert got["id"] == run["id"] and got["trainers"][0]["name"] == trainer.display_name
    listing = api(client).get("/api/v1/courses?q=PLC&page=1&per_page=10").json
    assert listing["total"] == 1 and listing["items"][0]["id"] == course["id"]
    assert {"items", "page", "pages", "total"} <= listing.keys()


def test_course_refusals(client, factory):
    admin, trainee = factory.admin(), factory.trainee()
    assert api(client).post("/api/v1/courses", json={"code": "X", "title": "X", "hours": 1}).status_code == 401
    assert api(client, trainee).post("/api/v1/courses", json={"code": "X", "title": "X", "hours": 1}).status_code == 403
    bad = api(client, admin).post("/api/v1/courses", json={"code": "", "title": "", "hours": "many"})
    assert bad.status_code == 422 and bad.json["error"]["code"] == "validation_failed"
    assert (
        api(client, admin)
        .post("/api/v1/courses", data="not json", headers={"Content-Type": "application/json"})
        .status_code
        == 400
    )
    assert _course(client, admin).status_code == 201
    dup = _course(client, admin)
    assert dup.status_code == 409 and dup.json["error"]["fields"] == {"code": "taken"}
    assert api(client).get("/api/v1/courses/999999").status_code == 404
    assert api(client).get("/api/v1/courses?page=abc").status_code == 422
    assert api(client).get("/api/v1/courses?level=wizard").status_code == 422


def test_run_refusals(client, factory):
    admin, trainer, trainee = factory.admin(), factory.trainer(), factory.trainee()
    course_id = _course(client, admin).json["id"]
    url = f"/api/v1/courses/{course_id}/runs"
    assert api(client, trainee).post(url, json=_run_body(trainer)).status_code == 403
    cases = [
        {"ends_on": "2031-03-01"},
        {"capacity": -1},
        {"timezone": "Mars/Olympus"},
        {"trainer_emails": ["nobody@example.com"]},
        {"trainer_emails": [trainee.email]},
        {"meetings": [{"starts_at": "2031-03-02T09:00:00+08:00", "ends_at": "2031-03-02T08:00:00+08:00"}]},
        {"meetings": [{"starts_at": "2031-04-02T09:00:00+08:00", "ends_at": "2031-04-02T10:00:00+08:00"}]},
        {"meetings": [{"starts_at": "yesterday", "ends_at": "today"}]},
        {"enrol_deadline": "2032-01-01T00:00:00+08:00"},
        # a list or an object where a state is expected: refused, not a TypeError (found by the fuzz test)
        {"status": ["open"]},
        {"mode": {"online": True}},
    ]
    for extra in cases:
        response = api(client, admin).post(url, json=_run_body(trainer, **extra))
        assert response.status_code == 422, (extra, response.json)
        assert response.json["error"]["message"]
    assert api(client, admin).post("/api/v1/courses/424242/runs", json=_run_body(trainer)).status_code == 404
    run_id = api(client, admin).post(url, json=_run_body(trainer)).json["id"]
    for change in ({"status": ["open"]}, {"mode": ["online"]}, {"status": {"x": 1}}):
        response = api(client, admin).patch(f"/api/v1/runs/{run_id}", json=change)
        assert response.status_code == 422, (change, response.json)


def test_enrol_waitlist_cancel_promote(client, factory):
    admin, trainer = factory.admin(), factory.trainer()
    course_id = _course(client, admin).json["id"]
    run_id = api(client, admin).post(f"/api/v1/courses/{course_id}/runs", json=_run_body(trainer)).json["id"]
    a, b, c = factory.trainee(), factory.trainee(), factory.trainee(name="欧阳晓燕")
    ra = api(client, a).post(f"/api/v1/runs/{run_id}/enrolments", json={})
    rb = api(client, b).post(f"/api/v1/runs/{run_id}/enrolments", json={})
    rc = api(client, c).post(f"/api/v1/runs/{run_id}/enrolments")
    assert (ra.status_code, ra.json["status"]) == (201, "confirmed")
    assert rb.json["status"] == "confirmed"
    assert (rc.status_code, rc.json["status"], rc.json["waitlist_position"]) == (201, "waitlisted", 1)
    again = api(client, a).post(f"/api/v1/runs/{run_id}/enrolments", json={})
    assert again.status_code == 409
    assert again.json["error"]["enrolment_id"] == ra.json["id"]
    assert api(client, admin).get(f"/api/v1/runs/{run_id}").json["seats_left"] == 0
    # The trainee sees their own enrolment, another trainee does not.
    assert api(client, a).get(f"/api/v1/enrolments/{ra.json['id']}").status_code == 200
    assert api(client, b).get(f"/api/v1/enrolments/{ra.json['id']}").status_code == 403
    assert api(client, trainer).get(f"/api/v1/enrolments/{ra.json['id']}").status_code == 200
    assert api(client, b).delete(f"/api/v1/enrolments/{ra.json['id']}").status_code == 403
    assert api(client, trainer).delete(f"/api/v1/enrolments/{ra.json['id']}").status_code == 403
    # Cancelling promotes the first on the waitlist.
    cancelled = api(client, a).delete(f"/api/v1/enrolments/{ra.json['id']}")
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert api(client, c).get(f"/api/v1/enrolments/{rc.json['id']}").json["status"] == "confirmed"
    assert api(client, a).delete(f"/api/v1/enrolments/{ra.json['id']}").status_code == 409
    roster = api(client, trainer).get(f"/api/v1/runs/{run_id}/enrolments?page=1&per_page=10")
    assert roster.status_code == 200 and roster.json["total"] == 3
    assert api(client, b).get(f"/api/v1/runs/{run_id}/enrolments").status_code == 403
    assert api(client, factory.trainer()).get(f"/api/v1/runs/{run_id}/enrolments").status_code == 403
    assert api(client).get(f"/api/v1/runs/{run_id}/enrolments").status_code == 401


def test_admin_enrols_someone_by_email(client, factory):
    admin, trainer = factory.admin(), factory.trainer()
    course_id = _course(client, admin).json["id"]
    run_id = api(client, admin).post(f"/api/v1/courses/{course_id}/runs", json=_run_body(trainer)).json["id"]
    response = api(client, admin).post(
        f"/api/v1/runs/{run_id}/enrolments", json={"email": "Wang.XM@Example.com", "name": "王小明"}
    )
    assert response.status_code == 201 and response.json["status"] == "confirmed"
    enrolment = api(client, admin).get(f"/api/v1/enrolments/{response.json['id']}").json
    assert enrolment["trainee"]["email"] == "wang.xm@example.com"
    assert enrolment["trainee"]["name"] == "王小明"
    again = api(client, admin).post(
        f"/api/v1/runs/{run_id}/enrolments", json={"email": "wang.xm@example.com", "name": "x"}
    )
    assert again.status_code == 409
    trainee = factory.trainee()
    assert (
        api(client, trainee)
        .post(f"/api/v1/runs/{run_id}/enrolments", json={"email": "x@example.com", "name": "X"})
        .status_code
        == 403
    )
    bad = api(client, admin).post(f"/api/v1/runs/{run_id}/enrolments", json={"email": "not-an-email", "name": "X"})
    assert bad.status_code == 422
    assert (
        api(client, admin)
        .post("/api/v1/runs/99999/enrolments", json={"email": "a@example.com", "name": "A"})
        .status_code
        == 404
    )


def test_trainee_cannot_enrol_after_deadline(client, factory):
    from datetime import datetime, timedelta

    run = factory.run(start=datetime.now(UTC) - timedelta(hours=1))
    trainee, admin = factory.trainee(), factory.admin()
    response = api(client, trainee).post(f"/api/v1/runs/{run.id}/enrolments", json={})
    assert response.status_code == 409 and "deadline" in response.json["error"]["message"]
    # Admins enrol at any time.
    assert (
        api(client, admin)
        .post(f"/api/v1/runs/{run.id}/enrolments", json={"email": trainee.email, "name": trainee.display_name})
        .status_code
        == 201
    )


def test_bad_tokens(client, factory):
    assert client.get("/api/v1/runs/1/enrolments", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/v1/runs/1/enrolments", headers={"Authorization": "Basic abc"}).status_code == 401
    user = factory.trainee()
    from training.accounts.services import create_token, end_all_sessions

    token = create_token(user)
    assert client.get("/api/v1/enrolments/1", headers={"Authorization": f"Bearer {token}"}).status_code == 404
    end_all_sessions(user)
    assert client.get("/api/v1/enrolments/1", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_whole_flow_through_the_api(client, factory):
    """Course, run, enrolment, attendance, certificate, verification, revocation: the contract of issue 2."""
    from datetime import datetime, timedelta

    admin, trainer = factory.admin(), factory.trainer(name="Anna Müller")
    trainee = factory.trainee(name="欧阳晓燕")
    course = _course(client, admin, code="OPC-150", title="OPC UA from the ground up").json
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(minutes=5)
    run_body = _run_body(
        trainer,
        starts_on=(now - timedelta(days=1)).date().isoformat(),
        ends_on=(now + timedelta(days=1)).date().isoformat(),
        enrol_deadline=(now + timedelta(hours=3)).isoformat(),
        timezone="UTC",
        meetings=[{"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=4)).isoformat()}],
    )
    run = api(client, admin).post(f"/api/v1/courses/{course['id']}/runs", json=run_body).json
    enrolment = api(client, trainee).post(f"/api/v1/runs/{run['id']}/enrolments", json={}).json
    assert enrolment["status"] == "confirmed"
    meeting_id = run["meetings"][0]["id"]

    # Only the run's trainers and admins mark attendance.
    records = {"records": [{"enrolment_id": enrolment["id"], "status": "present"}]}
    assert api(client, trainee).put(f"/api/v1/meetings/{meeting_id}/attendance", json=records).status_code == 403
    assert (
        api(client, factory.trainer()).put(f"/api/v1/meetings/{meeting_id}/attendance", json=records).status_code == 403
    )
    bad = api(client, trainer).put(
        f"/api/v1/meetings/{meeting_id}/attendance",
        json={"records": [{"enrolment_id": enrolment["id"], "status": "asleep"}]},
    )
    assert bad.status_code == 422
    assert api(client, trainer).put(f"/api/v1/meetings/{meeting_id}/attendance", json=records).status_code == 200

    # Nothing is issued while the register is open; the trainer signs it off.
    skipped = api(client, admin).post(f"/api/v1/runs/{run['id']}/certificates").json
    assert skipped["issued"] == [] and skipped["skipped"][0]["reason"] == "register_open"
    signed = api(client, trainer).post(f"/api/v1/meetings/{meeting_id}/attendance/finalise")
    assert signed.status_code == 200 and signed.json["finalised_by"]["id"] == trainer.id

    # Issuing: admins only; one certificate per enrolment, however often it is asked.
    assert api(client, trainer).post(f"/api/v1/runs/{run['id']}/certificates").status_code == 403
    issued = api(client, admin).post(f"/api/v1/runs/{run['id']}/certificates")
    assert issued.status_code == 200, issued.json
    assert [i["enrolment_id"] for i in issued.json["issued"]] == [enrolment["id"]]
    again = api(client, admin).post(f"/api/v1/runs/{run['id']}/certificates").json
    assert again["issued"] == [] and again["skipped"][0]["enrolment_id"] == enrolment["id"]
    code = issued.json["issued"][0]["code"]

    public = api(client).get(f"/api/v1/certificates/{code}")
    assert public.status_code == 200
    assert public.json["status"] == "valid" and public.json["holder_name"] == "欧阳晓燕"
    assert public.json["course_title"] == "OPC UA from the ground up" and public.json["hours"] == 16
    assert trainee.email not in str(public.json)
    assert api(client).get("/api/v1/certificates/NOT-A-CODE").status_code == 404

    assert api(client).get(f"/api/v1/certificates/{code}/pdf").status_code == 401
    assert api(client, factory.trainee()).get(f"/api/v1/certificates/{code}/pdf").status_code == 403
    pdf = api(client, trainee).get(f"/api/v1/certificates/{code}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    assert api(client, trainee).post(f"/api/v1/certificates/{code}/revoke", json={"reason": "x"}).status_code == 403
    assert api(client, admin).post(f"/api/v1/certificates/{code}/revoke", json={}).status_code == 422
    revoked = api(client, admin).post(f"/api/v1/certificates/{code}/revoke", json={"reason": "Issued in error"})
    assert revoked.status_code == 200
    assert api(client).get(f"/api/v1/certificates/{code}").json["status"] == "revoked"


def test_absurd_years_are_refused(client, factory):
    admin, trainer = factory.admin(), factory.trainer()
    course_id = _course(client, admin).json["id"]
    response = api(client, admin).post(
        f"/api/v1/courses/{course_id}/runs", json=_run_body(trainer, starts_on="1241-03-02", meetings=[])
    )
    assert response.status_code == 422 and response.json["error"]["fields"] == {"starts_on": "out of range"}
