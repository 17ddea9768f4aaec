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
