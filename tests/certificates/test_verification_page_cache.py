"""The public verification page keeps rendered HTML per content and language
(training/certificates/pages.py): a revocation, a reissue or an expiry shows at
once on every app instance; signed-in visitors, unknown codes and headers never
reach the cache; every visitor gets a CSRF token of their own."""

from __future__ import annotations

import re
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

import pytest
from flask import render_template
from sqlalchemy import select

from tests.certificates.conftest import completed_run
from tests.conftest import api, login, make_test_app
from tests.factories import Factory
from tests.toolkit import another_server, app_pushed, count_queries, postgres_wire, templates_rendered
from training.accounts import services as services_accounts
from training.accounts.models import User
from training.certificates import codes, pages, services
from training.certificates.models import Certificate
from training.extensions import db


def _status(response) -> str:
    assert response.status_code == 200, response.status_code
    return re.search(r'class="cert-status [^"]*" data-status="(\w+)"', response.get_data(as_text=True)).group(1)


def _issue(factory, admin, names=("Anna Müller",), **course) -> str:
    course_row = factory.course(**course) if course else None
    run, _ = completed_run(factory, list(names), course=course_row)
    return services.issue_for_run(admin, run.id)["issued"][0]["code"]


def test_a_second_anonymous_visit_is_served_without_rendering_and_with_one_statement(app, factory, admin, tmp_path):
    code = _issue(factory, admin)
    client = app.test_client()
    first = client.get(f"/verify/{code}")
    assert _status(first) == "valid" and first.headers["X-Page-Cache"] == "miss"
    postgres = db.engine.dialect.name == "postgresql"
    # PostgreSQL: the row's version is read through the driver (transactions.fetch_row_alone), so it is
    # counted on the wire: one statement, one round trip, no BEGIN or ROLLBACK around it (once the
    # connection has prepared it: the wire trace starts on a new connection).
    with postgres_wire(tmp_path / "trace") if postgres else nullcontext(list) as wire:
        client.get(f"/verify/{code}")
        before = len(wire())
        with templates_rendered(app) as rendered, count_queries() as queries:
            again = client.get(f"/verify/{code}")
        sent = wire()[before:]
    assert _status(again) == "valid" and again.headers["X-Page-Cache"] == "hit"
    assert rendered == []
    if postgres:
        assert queries.count == 0 and not any("BEGIN" in line or "ROLLBACK" in line for line in sent), sent
        assert [line.split(" ")[0] for line in sent if line.startswith(("Sync", "Query"))] == ["Sync"], sent
    else:
        assert queries.count == 1
    assert again.headers["Cache-Control"] == "no-store"
    assert again.get_data() == first.get_data()


def test_a_revocation_shows_at_once_on_every_server(app, factory, admin):
    code = _issue(factory, admin)
    with another_server(app) as one, another_server(app) as two:
        first, second = one.test_client(), two.test_client()
        as_admin = api(first, admin)
        db.session.remove()  # the servers below work in their own transactions (SQLite: one writer at a time)
        for client in (first, second, first, second):
            assert _status(client.get(f"/verify/{code}")) == "valid"
        assert first.get(f"/verify/{code}").headers["X-Page-Cache"] == "hit"  # both caches hold the valid page
        assert second.get(f"/verify/{code}").headers["X-Page-Cache"] == "hit"
        response = as_admin.post(f"/api/v1/certificates/{code}/revoke", json={"reason": "Sheet forged"})
        assert response.status_code == 200
        for client in (second, first):
            page = client.get(f"/verify/{code}")
            assert _status(page) == "revoked" and "Sheet forged" in page.get_data(as_text=True)


def test_a_revocation_committed_by_a_service_elsewhere_shows_at_once(app, factory, admin):
    """Revoked through the service in this process (as the admin pages do) while
    another server holds the valid page: its next request shows it revoked."""
    code, admin_id = _issue(factory, admin), admin.id
    db.session.remove()
    with another_server(app) as other:
        there = other.test_client()
        assert _status(there.get(f"/verify/{code}")) == "valid"
        assert there.get(f"/verify/{code}").headers["X-Page-Cache"] == "hit"
        services.revoke(db.session.get(User, admin_id), code, "Issued to the wrong person")
        db.session.remove()
        page = there.get(f"/verify/{code}")
        assert _status(page) == "revoked" and "Issued to the wrong person" in page.get_data(as_text=True)


def test_a_reissue_shows_the_old_code_superseded_at_once(app, factory, admin):
    code = _issue(factory, admin)
    client = app.test_client()
    client.get(f"/verify/{code}")
    assert _status(client.get(f"/verify/{code}")) == "valid"
    new = services.reissue(admin, code, "Anna Mueller")
    page = client.get(f"/verify/{code}")
    assert _status(page) == "superseded" and f"/verify/{new.code}" in page.get_data(as_text=True)
    assert _status(client.get(f"/verify/{new.code}")) == "valid"


def test_the_page_turns_expired_when_the_organisations_day_passes(app, factory, admin, monkeypatch):
    code = _issue(factory, admin, validity_months=1)
    certificate = db.session.scalar(select(Certificate).where(Certificate.code == code))
    expires = certificate.expires_on
    client = app.test_client()
    # The last valid day, 23:59 in Shanghai (15:59 UTC), then one minute later.
    last_minute = datetime(expires.year, expires.month, expires.day, 15, 59, tzinfo=UTC)
    monkeypatch.setattr("training.types.utcnow", lambda: last_minute)
    client.get(f"/verify/{code}")
    assert _status(client.get(f"/verify/{code}")) == "valid"
    monkeypatch.setattr("training.types.utcnow", lambda: last_minute + timedelta(minutes=1))
    assert _status(client.get(f"/verify/{code}")) == "expired"


def test_a_signed_in_visitor_gets_their_own_layout_and_the_anonymous_page_stays_anonymous(app, factory, admin):
    code = _issue(factory, admin)
    holder = db.session.scalar(select(Certificate).where(Certificate.code == code)).enrolment.user
    anonymous, signed_in = app.test_client(), app.test_client()
    anonymous.get(f"/verify/{code}")
    assert anonymous.get(f"/verify/{code}").headers["X-Page-Cache"] == "hit"
    login(signed_in, holder)
    page = signed_in.get(f"/verify/{code}")
    html = page.get_data(as_text=True)
    assert _status(page) == "valid" and page.headers["X-Page-Cache"] == "miss"  # the blocks, not the page
    assert holder.display_name in html and "Log out" in html and "/login" not in html
    assert "My certificates" in html
    again = anonymous.get(f"/verify/{code}").get_data(as_text=True)
    assert "Log out" not in again and "My certificates" not in again and "/login" in again


def test_signed_in_visitors_share_the_pages_blocks_and_each_keeps_their_own_layout(app, factory, admin):
    """Two people (different names and roles) on the same page: the certificate's part is rendered once,
    each sees their own name, menu and CSRF token and nothing of the other's; a logout shows at once."""
    code = _issue(factory, admin)
    admin_name = admin.display_name
    trainee = factory.trainee(name="Bo Wang 王博")
    for person in (admin, trainee):
        services_accounts.start_session(person)
    with app.test_request_context():
        whole = render_template("certificates/verify.html", **services.verification_page(code))
    admin_session, trainee_session = admin.get_id(), trainee.get_id()
    db.session.remove()
    with another_server(app) as server:  # an app context per request, as under gunicorn
        server.config["WTF_CSRF_ENABLED"] = True
        first, second = server.test_client(), server.test_client()
        for client, session_id in ((first, admin_session), (second, trainee_session)):
            with client.session_transaction() as session:
                session["_user_id"], session["_fresh"] = session_id, True
        plain = first.get(f"/verify/{code}").get_data(as_text=True)  # kept
        with templates_rendered(server) as rendered:
            one = first.get(f"/verify/{code}")
            two = second.get(f"/verify/{code}")
        assert one.headers["X-Page-Cache"] == two.headers["X-Page-Cache"] == "hit"
        assert rendered == []  # the page kept whole, each visitor's parts of the layout put in
        one_html, two_html = one.get_data(as_text=True), two.get_data(as_text=True)
        assert admin_name in one_html and "Bo Wang 王博" not in one_html and 'href="/admin/"' in one_html
        assert "Bo Wang 王博" in two_html and admin_name not in two_html and 'href="/admin/"' not in two_html
        tokens = [re.findall(r'name="csrf_token" value="([^"]+)"', html) for html in (one_html, two_html)]
        assert len(set(tokens[0])) == 1 and len(set(tokens[1])) == 1 and tokens[0][0] != tokens[1][0]
        assert "csrf-" not in tokens[0][0] and "nonce-" not in one_html
        # the certificate's part is exactly what the page rendered whole shows
        content = _main(whole)
        assert content == _main(plain) == _main(one_html) == _main(two_html)
        assert "<title>" + whole.split("<title>")[1].split("</title>")[0] in one_html
        # logged out: the old cookie opens the anonymous page
        cookie = first.get_cookie("session").value
        assert first.post("/logout", data={"csrf_token": tokens[0][0]}).status_code in (302, 303)
        replayed = server.test_client()
        replayed.set_cookie("session", cookie)
        html = replayed.get(f"/verify/{code}").get_data(as_text=True)
        assert admin_name not in html and "Log out" not in html and "/login" in html and _status_of(html) == "valid"


def _main(html: str) -> str:
    """The page's own part (inside <main>), without the visitor's CSRF token."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", html.split('<main id="main"')[1].split("</main>")[0])


def _status_of(html: str) -> str:
    return re.search(r'class="cert-status [^"]*" data-status="(\w+)"', html).group(1)


def test_the_language_is_part_of_the_key(app, factory, admin):
    code = _issue(factory, admin)
    client = app.test_client()
    english = client.get(f"/verify/{code}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    chinese = client.get(f"/verify/{code}", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    again = client.get(f"/verify/{code}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Valid certificate" in english and "Valid certificate" not in chinese
    assert '<html lang="zh-CN">' in chinese and again == english


def test_unknown_codes_fill_nothing_and_the_cache_is_bounded(app, factory, admin):
    app.config["VERIFY_PAGE_CACHE_SIZE"] = 2
    client = app.test_client()
    for _ in range(30):
        assert client.get(f"/verify/{codes.generate()}").status_code == 404
    assert len(pages.pages()) == 0
    issued = [_issue(factory, admin, [f"Trainee {i}"]) for i in range(3)]
    for code in issued:
        assert _status(client.get(f"/verify/{code}")) == "valid"
    assert len(pages.pages()) == 2
    assert client.get(f"/verify/{issued[0]}").headers["X-Page-Cache"] == "miss"  # the oldest was dropped
    app.config["VERIFY_PAGE_CACHE_SIZE"] = 0
    assert "X-Page-Cache" not in client.get(f"/verify/{issued[0]}").headers


def test_an_anonymous_visit_sets_no_cookie_and_its_pdf_check_needs_no_token(app, factory, admin):
    """The page's PDF check changes nothing and acts for no one (web.same_origin_only): its form carries
    no CSRF token, so a verifier's visit creates no session and sets no cookie, cached or not."""
    code = _issue(factory, admin)
    db.session.remove()
    with another_server(app) as server:  # an app context per request, as under gunicorn
        server.config["WTF_CSRF_ENABLED"] = True
        client = server.test_client()
        for state in ("miss", "hit"):
            page = client.get(f"/verify/{code}")
            assert page.headers["X-Page-Cache"] == state
            assert "Set-Cookie" not in page.headers and 'name="csrf_token"' not in page.get_data(as_text=True)
        assert "Set-Cookie" not in client.get("/verify").headers
        # A post without a token is checked (no file: a 422 asking for one), from this site's own page.
        same_site = {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}
        assert client.post(f"/verify/{code}", data={}, headers=same_site).status_code == 422
        assert client.post("/verify", data={}, headers=same_site).status_code == 422


def test_a_query_string_or_a_pending_message_is_rendered_afresh(app, factory, admin):
    code = _issue(factory, admin)
    client = app.test_client()
    client.get(f"/verify/{code}")
    assert "X-Page-Cache" not in client.get(f"/verify/{code}?lang=zh").headers
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "A message for this visitor")]
    page = client.get(f"/verify/{code}")
    assert "A message for this visitor" in page.get_data(as_text=True) and "X-Page-Cache" not in page.headers


@pytest.fixture
def proxied_app(tmp_path, pg_database):
    app = make_test_app(tmp_path, pg_database, PUBLIC_BASE_URL=None, TRUSTED_PROXIES="1", TRUSTED_PROXY_PREFIX="0")
    with app_pushed(app):
        yield app


def test_no_header_poisons_the_verification_page(proxied_app):
    factory = Factory()
    admin = factory.admin()
    proxied_app.config["PUBLIC_BASE_URL"] = "http://localhost"  # issuing writes links outside a request
    code = _issue(factory, admin)
    proxied_app.config["PUBLIC_BASE_URL"] = None
    client = proxied_app.test_client()
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
    for headers in attacks:
        client.get(f"/verify/{code}", headers=headers)
    clean = client.get(f"/verify/{code}")
    body = clean.get_data(as_text=True)
    assert clean.headers["X-Page-Cache"] == "hit"
    for planted in ("attacker", "127.0.0.1", "localhost:8443", "/evil"):
        assert planted not in body, planted
    assert f"http://localhost/verify/{code}/badge.jwt" in body


def test_the_page_still_shows_the_record_of_an_old_certificate_without_a_stored_document(app, factory, admin):
    code = _issue(factory, admin)
    certificate = db.session.scalar(select(Certificate).where(Certificate.code == code))
    digest = certificate.document_sha256
    certificate.document_sha256 = None
    db.session.commit()
    html = app.test_client().get(f"/verify/{code}").get_data(as_text=True)
    assert digest and 'id="doc-sha256"' in html


def test_a_script_nonce_in_the_cached_page_is_each_responses_own(app, factory, admin, monkeypatch):
    """Should the page ever carry an inline script, its nonce must match the
    Content-Security-Policy of the response serving it, not of the first one."""
    from flask import render_template_string

    code = _issue(factory, admin)
    monkeypatch.setattr(
        pages,
        "render_template",
        lambda _name, **ctx: render_template_string('<script nonce="{{ csp_nonce() }}">', **ctx),
    )
    client = app.test_client()
    for expected_state in ("miss", "hit"):
        response = client.get(f"/verify/{code}")
        assert response.headers["X-Page-Cache"] == expected_state
        nonce = re.search(r'<script nonce="([^"]+)">', response.get_data(as_text=True)).group(1)
        assert f"'nonce-{nonce}'" in response.headers["Content-Security-Policy"]


def _without_nonces(html: str) -> str:
    return re.sub(r'nonce="[^"]*"', 'nonce=""', html)


def test_every_column_of_the_certificate_is_in_the_key(app, factory, admin):
    """Each column of the certificate's row changed on its own (in the database, as another server would)
    gives a new key: the next visit renders afresh (a miss), and the kept page is what an uncached
    rendering shows. No column can change without the page following."""
    from datetime import date

    from sqlalchemy import Date, Float, Integer, String, Text, update

    from training.types import UTCDateTime

    run, enrolments = completed_run(factory, ["Anna Müller", "Li Wei"])
    issued = services.issue_for_run(admin, run.id)["issued"]
    code, other_code = issued[0]["code"], issued[1]["code"]
    table = Certificate.__table__
    other = db.session.scalar(select(Certificate).where(Certificate.code == other_code))
    other_id, other_enrolment_id, admin_id = other.id, other.enrolment_id, admin.id
    db.session.remove()
    client = app.test_client()

    def fresh() -> str:
        app.config["VERIFY_PAGE_CACHE_SIZE"] = 0
        try:
            return _without_nonces(client.get(f"/verify/{code}").get_data(as_text=True))
        finally:
            app.config["VERIFY_PAGE_CACHE_SIZE"] = 256

    client.get(f"/verify/{code}")
    assert client.get(f"/verify/{code}").headers["X-Page-Cache"] == "hit"
    changed = []
    for column in table.columns:
        if column.name in ("id", "code"):  # the key of the lookup itself
            continue
        current = db.session.execute(select(column).where(table.c.code == code)).scalar_one()
        db.session.remove()
        kind = column.type
        if column.name == "enrolment_id":
            value: object = other_enrolment_id
        elif column.name == "superseded_by_id":
            value = other_id
        elif column.name in ("issued_by_id", "revoked_by_id"):
            value = admin_id if current is None else None
        elif column.name == "course_title_language":
            value = "zh" if current == "en" else "en"
        elif isinstance(kind, UTCDateTime):
            value = datetime(2024, 5, 6, 7, 8, tzinfo=UTC) if current is None else current + timedelta(hours=1)
        elif isinstance(kind, Date):
            value = date(2031, 1, 2) if current is None else current + timedelta(days=1)
        elif isinstance(kind, Float):
            value = 1.5 if current is None else current + 1
        elif isinstance(kind, Integer):
            value = 999_999 if current is None else current + 1_000_000
        elif isinstance(kind, (String, Text)):
            value = ("a" * 64 if column.name == "document_sha256" else "Changed") if not current else current[:-1] + "Z"
        else:
            raise AssertionError(f"no new value for {column.name} ({kind!r}): add one to this test")
        db.session.execute(update(table).where(table.c.code == code).values({column.name: value}))
        db.session.commit()
        db.session.remove()
        first = client.get(f"/verify/{code}")
        assert first.headers["X-Page-Cache"] == "miss", column.name
        again = client.get(f"/verify/{code}")
        assert again.headers["X-Page-Cache"] == "hit", column.name
        assert _without_nonces(again.get_data(as_text=True)) == fresh(), column.name
        changed.append(column.name)
    assert "revoked_at" in changed and "holder_name" in changed and "superseded_by_id" in changed


def test_the_successors_code_is_in_the_key(app, factory, admin):
    code = _issue(factory, admin)
    new = services.reissue(admin, code, "Anna Mueller")
    record = services.page_record(code)
    assert record is not None and record[-1] == new.code
    certificate = db.session.scalar(select(Certificate).where(Certificate.code == code))
    assert services.page_record_of(certificate) == record
    db.session.remove()
