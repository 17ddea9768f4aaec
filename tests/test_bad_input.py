"""NUL characters (which PostgreSQL refuses in text) get a clear 4xx everywhere."""

from tests.conftest import api, login


def test_nul_in_json_body_is_refused(client, factory):
    admin = factory.admin()
    response = api(client, admin).post("/api/v1/courses", json={"code": "A1", "title": "x\x00y", "hours": 1})
    assert response.status_code == 422 and "NUL" in response.json["error"]["message"]


def test_nul_in_query_is_ignored_and_in_form_refused(client, factory):
    assert client.get("/?q=robot%00").status_code == 200
    assert client.get("/api/v1/courses?q=%00").status_code in (200, 422)
    login(client, factory.trainee())
    response = client.post("/account", data={"name": "Anna\x00", "company": ""})
    assert response.status_code == 400


def test_raw_bytes_that_are_not_utf8_in_a_query_string_are_read_like_their_percent_escapes(client, factory):
    """A client may send ``?q=\\xff`` unescaped; Werkzeug decoded it strictly and every page
    (the language is chosen from the query) answered 500, its error page too."""
    raw = {"QUERY_STRING": "q=\xff\xfe&next=\xff&lang=zh"}
    page = client.get("/", environ_overrides=raw)
    assert page.status_code == 200 and '<html lang="zh-CN"' in page.get_data(as_text=True)
    assert client.get("/api/v1/courses", environ_overrides=raw).status_code in (200, 422)
    assert client.get("/verify/NOPE", environ_overrides=raw).status_code == 404
    login_redirect = client.get("/my/certificates", environ_overrides=raw)
    assert login_redirect.status_code == 302 and "%25FF" in login_redirect.headers["Location"]
    login(client, factory.trainee())
    assert client.get("/", environ_overrides=raw).status_code == 200


def test_a_lone_surrogate_escape_in_a_json_body_is_a_400_that_writes_nothing(client, factory):
    """``"\\ud800"`` parses in Python but is no character: every driver failed to encode it at the INSERT
    (a 500). Refused when the body is read, in a value or a key, at any depth; real astral characters pass."""
    from sqlalchemy import func, select

    from training.catalogue.models import Course
    from training.enrolment.models import Enrolment
    from training.extensions import db

    admin = factory.admin()
    run = factory.run()
    client_api = api(client, admin)
    for body in (
        '{"code": "S1", "title": "x\\ud800y", "hours": 1}',
        '{"code": "S1", "title": "ok", "hours": 1, "tags": [{"\\udfff": 1}]}',
        '{"code": "S1", "title": "ok", "hours": 1, "summary": "\\ud83d"}',
    ):
        response = client_api.post("/api/v1/courses", data=body.encode(), content_type="application/json")
        assert response.status_code == 400 and response.json["error"]["code"] == "bad_json", body
    response = client_api.post(
        f"/api/v1/runs/{run.id}/enrolments",
        data=b'{"email": "a@example.com", "name": "\\udc80"}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Course)) == 1
    assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 0
    fine = client_api.post(
        "/api/v1/courses",
        data='{"code": "S2", "title": "机器人 \\ud83e\\udd16", "hours": 1}'.encode(),
        content_type="application/json",
    )
    assert fine.status_code == 201 and fine.json["title"] == "机器人 🤖"
