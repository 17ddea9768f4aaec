"""X-Forwarded-* counts only when TRUSTED_PROXIES says a proxy is in front."""

from tests.conftest import make_test_app

FORWARDED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "training.example"}


def test_forwarded_headers_are_ignored_by_default(tmp_path, pg_database):
    app = make_test_app(tmp_path, pg_database)
    response = app.test_client().get("/healthz", headers=FORWARDED)
    assert "Strict-Transport-Security" not in response.headers


def test_forwarded_headers_are_used_behind_a_trusted_proxy(tmp_path, pg_database):
    app = make_test_app(tmp_path, pg_database, TRUSTED_PROXIES="1")
    seen = {}

    @app.get("/whoami")
    def whoami():
        from flask import request

        seen.update(addr=request.remote_addr, secure=request.is_secure, host=request.host)
        return "ok"

    response = app.test_client().get("/whoami", headers=FORWARDED)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert seen == {"addr": "203.0.113.9", "secure": True, "host": "training.example"}
