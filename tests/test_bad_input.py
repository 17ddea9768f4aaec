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
