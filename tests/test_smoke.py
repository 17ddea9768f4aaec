def test_home_page_renders(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"SMT Academy" in response.data


def test_healthz(client):
    assert client.get("/healthz").json == {"status": "ok"}
