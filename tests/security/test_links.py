"""Links come from one trusted place: PUBLIC_BASE_URL, or a request's own host
when that host is one of TRUSTED_HOSTS. A forged Host, X-Forwarded-Host or
X-Forwarded-Prefix never reaches an e-mail, a page or the page cache."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.conftest import make_test_app
from tests.factories import Factory
from training.extensions import db
from training.urls import PublicBaseUrlMissing, public_base_url

BASE = "https://training.example.com"


@pytest.fixture
def make_app(tmp_path, pg_database):
    apps = []

    def build(**overrides):
        folder = tmp_path / str(len(apps))
        folder.mkdir()
        app = make_test_app(folder, pg_database, **overrides)
        ctx = app.app_context()
        ctx.push()
        apps.append((app, ctx))
        return app

    yield build
    for _app, ctx in reversed(apps):
        db.session.remove()
        ctx.pop()


def _mails(app) -> list:
    folder = Path(app.config["MAIL_DIR"])
    return (
        [message_from_bytes(p.read_bytes(), policy=policy.default) for p in folder.glob("*.eml")]
        if folder.exists()
        else []
    )


def _reset_links(app) -> list[str]:
    return [re.search(r"\S+/password/reset/\S+", m.get_body(("plain",)).get_content()).group(0) for m in _mails(app)]


FORGED = [
    {"Host": "evil.example"},
    {"Host": "evil.example:5000"},
    {"Host": "localhost.evil.example"},
    {"Host": "127.0.0.1.evil.example"},
    {"Host": "[::2]"},
    {"Host": "localhost@evil.example"},
    {"Host": "evil.example/localhost"},
    {"Host": ""},
]


@pytest.mark.parametrize("headers", FORGED)
def test_without_a_public_base_url_a_forged_host_gets_400_and_no_mail(make_app, headers):
    app = make_app(PUBLIC_BASE_URL=None)
    user = Factory().trainee()
    client = app.test_client()
    page = client.post("/password/forgot", data={"email": user.email}, headers=headers)
    assert page.status_code == 400
    assert "does not answer to that host" in page.get_data(as_text=True)
    api = client.get("/api/v1/courses", headers=headers)
    assert api.status_code == 400 and api.json["error"]["code"] == "untrusted_host"
    assert _mails(app) == []


@pytest.mark.parametrize("host", ["localhost", "localhost:5000", "127.0.0.1:5000", "127.0.0.1", "[::1]:5000"])
def test_without_a_public_base_url_loopback_hosts_are_served(make_app, host):
    app = make_app(PUBLIC_BASE_URL=None)
    user = Factory().trainee()
    response = app.test_client().post("/password/forgot", data={"email": user.email}, headers={"Host": host})
    assert response.status_code == 302
    assert _reset_links(app)[0].startswith(f"http://{host}/password/reset/")


def test_trusted_hosts_setting_names_the_hosts_served(make_app):
    app = make_app(PUBLIC_BASE_URL=None, TRUSTED_HOSTS="training.example.com, .alliance.example")
    client = app.test_client()
    assert client.get("/healthz", headers={"Host": "training.example.com"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "www.alliance.example:8443"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "localhost"}).status_code == 400
    assert client.get("/healthz", headers={"Host": "evil.example"}).status_code == 400


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example"},
        {"Host": "localhost:5000"},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
    ],
)
def test_with_a_public_base_url_every_reset_link_uses_it(make_app, headers):
    app = make_app(PUBLIC_BASE_URL=BASE + "/")
    user = Factory().trainee()
    assert app.test_client().post("/password/forgot", data={"email": user.email}, headers=headers).status_code == 302
    (link,) = _reset_links(app)
    assert link.startswith(BASE + "/password/reset/"), link


def test_behind_a_trusted_proxy_the_forwarded_host_is_checked_the_same_way(make_app):
    app = make_app(PUBLIC_BASE_URL=None, TRUSTED_PROXIES="1")
    user = Factory().trainee()
    client = app.test_client()
    forged = client.post(
        "/password/forgot",
        data={"email": user.email},
        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
    )
    assert forged.status_code == 400 and _mails(app) == []
    trusted = client.post(
        "/password/forgot",
        data={"email": user.email},
        headers={"X-Forwarded-Host": "localhost:8443", "X-Forwarded-Proto": "https"},
    )
    assert trusted.status_code == 302
    assert _reset_links(app)[0].startswith("https://localhost:8443/password/reset/")


def test_behind_a_trusted_proxy_with_a_public_base_url_the_forwarded_host_never_reaches_a_mail(make_app):
    app = make_app(PUBLIC_BASE_URL=BASE, TRUSTED_PROXIES="1")
    user = Factory().trainee()
    response = app.test_client().post(
        "/password/forgot",
        data={"email": user.email},
        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http", "X-Forwarded-Prefix": "/evil"},
    )
    assert response.status_code == 302
    (link,) = _reset_links(app)
    assert link.startswith(BASE + "/password/reset/") and "evil" not in link


def test_forwarded_prefix_is_ignored_unless_configured(make_app):
    seen = []

    def whoami_app(**overrides):
        app = make_app(**overrides)

        @app.get("/whoami")
        def whoami():
            from flask import request, url_for

            seen.append((request.script_root, url_for("catalogue.index")))
            return "ok"

        return app

    headers = {"X-Forwarded-Prefix": "//attacker.example", "X-Forwarded-Host": "localhost"}
    whoami_app(TRUSTED_PROXIES="1").test_client().get("/whoami", headers=headers)
    assert seen[-1] == ("", "/")
    whoami_app(TRUSTED_PROXIES="1", TRUSTED_PROXY_PREFIX="1").test_client().get(
        "/whoami", headers={"X-Forwarded-Prefix": "/training"}
    )
    assert seen[-1] == ("/training", "/training/")


def test_no_header_poisons_the_anonymous_page_cache(make_app):
    app = make_app(PUBLIC_BASE_URL=None, TRUSTED_PROXIES="1", PUBLIC_PAGE_CACHE_SECONDS=60)
    course = Factory().course(code="PLC-101")
    client = app.test_client()
    attacks = [
        {"X-Forwarded-Prefix": "//attacker.example"},
        {"X-Forwarded-Host": "attacker.example"},
        {"Host": "attacker.example"},
        {"X-Forwarded-Host": "127.0.0.1:5000"},
        {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "localhost:8443"},
        {"X-Original-URL": "/evil"},
        {"Forwarded": "host=attacker.example"},
        {"X-Host": "attacker.example"},
    ]
    for path in ("/", f"/courses/{course.id}"):
        for headers in attacks:
            client.get(path, headers=headers)
        clean = client.get(path)
        body = clean.get_data(as_text=True)
        assert clean.headers["X-Page-Cache"] == "hit"  # cached by an attack above with the same key, or itself
        for planted in ("attacker", "127.0.0.1", "localhost:8443", "/evil"):
            assert planted not in body, planted
        if path != "/":
            assert f'href="http://localhost/courses/{course.id}"' in body


def test_outside_a_request_a_link_needs_the_public_base_url(make_app):
    app = make_app(PUBLIC_BASE_URL=None)
    with pytest.raises(PublicBaseUrlMissing, match="PUBLIC_BASE_URL is not set"):
        public_base_url()
    app.config["PUBLIC_BASE_URL"] = BASE + "/"
    assert public_base_url() == BASE


def test_cli_commands_that_mail_links_refuse_without_a_public_base_url(make_app):
    app = make_app(PUBLIC_BASE_URL=None)
    runner = app.test_cli_runner()
    for args in (["enrolment", "remind"], ["certificates", "auto-issue"], ["certificates", "remind-expiring"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 1, (args, result.output)
        assert "PUBLIC_BASE_URL is not set" in result.output and "Traceback" not in result.output


def test_a_background_job_that_mails_links_fails_with_a_clear_message(make_app):
    from training import jobs
    from training.urls import external_url

    @jobs.job("test_links.mail_a_link")
    def mail_a_link(progress):
        return external_url("catalogue.index")

    app = make_app(PUBLIC_BASE_URL=None)
    admin = Factory().admin()
    record = jobs.submit("test_links.mail_a_link", created_by=admin)
    db.session.refresh(record)
    assert record.state == "failed" and "PUBLIC_BASE_URL is not set" in record.error
    app.config["PUBLIC_BASE_URL"] = BASE
    record = jobs.submit("test_links.mail_a_link", created_by=admin)
    db.session.refresh(record)
    assert record.state == "finished" and BASE in record.result_json
