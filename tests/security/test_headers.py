"""Security headers on every kind of response: pages, JSON, static files,
redirects and errors; HSTS only over HTTPS."""

from __future__ import annotations

import pytest

from tests.conftest import make_test_app


def _check(response, *, https=False):
    h = response.headers
    csp = h.get("Content-Security-Policy", "")
    assert csp, response.request.path
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"
    assert directives["default-src"] == "default-src 'self'"
    assert directives["object-src"] == "object-src 'none'"
    assert "*" not in directives["script-src"]
    assert h.get("X-Content-Type-Options") == "nosniff"
    assert h.get("Referrer-Policy") in ("strict-origin-when-cross-origin", "no-referrer", "same-origin")
    assert h.get("X-Frame-Options") == "DENY"
    if https:
        assert h.get("Strict-Transport-Security", "").startswith("max-age=")
        assert int(h["Strict-Transport-Security"].split("=")[1].split(";")[0]) >= 15552000
    else:
        assert "Strict-Transport-Security" not in h


@pytest.fixture
def crashing_client(tmp_path, pg_database):
    app = make_test_app(tmp_path, pg_database, CATCH_IN_TESTS=True)

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    with app.app_context():
        yield app.test_client()


PATHS = {
    "/": 200,
    "/api/v1/courses": 200,
    "/api/v1/openapi.json": 200,
    "/api/v1/docs": 200,
    "/static/css/app.css": 200,
    "/bootstrap/static/css/bootstrap.min.css": 200,
    "/healthz": 200,
    "/readyz": 200,
    "/my/training": 302,
    "/no/such/page": 404,
    "/api/v1/no/such": 404,
    "/api/v1/courses/424242": 404,
    "/logout": 405,
    "/api/v1/enrolments/1": 401,
    "/boom": 500,
}


@pytest.mark.parametrize("https", [False, True])
def test_every_kind_of_response_has_the_headers(crashing_client, https):
    base = "https://localhost" if https else "http://localhost"
    for path, status in PATHS.items():
        response = crashing_client.get(path, base_url=base)
        assert response.status_code == status, (path, response.status_code)
        _check(response, https=https)
    post = crashing_client.post("/login", data={"email": "x@example.com", "password": "y"}, base_url=base)
    _check(post, https=https)


def test_nonce_changes_per_request(client):
    first = client.get("/").headers["Content-Security-Policy"]
    second = client.get("/").headers["Content-Security-Policy"]
    assert "'nonce-" in first and first != second


def test_session_cookie_flags(client, factory):
    user = factory.trainee()
    response = client.post("/login", data={"email": user.email, "password": "correct horse battery staple"})
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_pages_have_no_inline_script_or_style(client):
    html = client.get("/").get_data(as_text=True) + client.get("/login").get_data(as_text=True)
    assert 'style="' not in html
    import re

    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or "nonce=" in tag, tag
