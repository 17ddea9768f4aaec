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


def test_a_revocation_or_reissue_with_a_lone_surrogate_is_a_400_that_changes_nothing(client, factory):
    """``"\\ud800"`` is valid JSON syntax but no Unicode text: no database stores it (SQLite and
    PostgreSQL both failed to encode it: a 500 after the checks had passed). Escaped or sent as the
    raw bytes of a surrogate, in a value or a key: a 400 in the one error format, nothing changed;
    a real pair (an emoji) is text like any other."""
    from tests.certificates.conftest import completed_run
    from training.audit import AuditEntry
    from training.certificates.models import Certificate
    from training.extensions import db

    admin = factory.admin()
    run, _ = completed_run(factory, ["Anna Müller"])
    caller = api(client, admin)
    (issued,) = caller.post(f"/api/v1/runs/{run.id}/certificates").get_json()["issued"]
    code = issued["code"]
    entries = db.session.query(AuditEntry).count()
    bodies = [
        b'{"reason": "\\ud800"}',
        b'{"reason": "Fraud \\udcff"}',
        b'{"reason": "Fraud \xed\xa0\x80"}',  # the surrogate's own UTF-8 bytes
        b'{"reason": "Fraud", "\\ud800": 1}',
    ]
    for raw in bodies:
        for path in (f"/api/v1/certificates/{code}/revoke", f"/api/v1/certificates/{code}/reissue"):
            response = caller.post(path, data=raw, headers={"Content-Type": "application/json"})
            assert response.status_code == 400, (raw, path, response.status_code)
            assert response.get_json()["error"]["code"] == "bad_json"
    named = caller.post(f"/api/v1/certificates/{code}/reissue", json={"holder_name": "Anna \ud800"})
    assert named.status_code == 400
    db.session.expire_all()
    assert db.session.query(Certificate).count() == 1
    assert db.session.query(Certificate).one().revoked_at is None
    assert db.session.query(AuditEntry).count() == entries

    revoked = caller.post(f"/api/v1/certificates/{code}/revoke", json={"reason": "Forged sheet \U0001f600"})
    assert revoked.status_code == 200 and revoked.get_json()["revoked_reason"] == "Forged sheet \U0001f600"
