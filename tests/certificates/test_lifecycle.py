"""Issuing (never twice, in bulk, as a job), revoking, reissuing, expiry,
verification lookups with bad input, permissions, e-mail, renewals."""

from __future__ import annotations

import io
import os
import threading
import zipfile
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from tests.certificates.conftest import completed_run
from tests.conftest import api, login
from tests.toolkit import BARRIER_SECONDS, join_all, lock_waiters, wait_until
from training.accounts.models import User
from training.audit import AuditEntry
from training.certificates import codes, services
from training.certificates.models import Certificate
from training.extensions import db
from training.types import local_date


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(Certificate))


def test_issuing_twice_gives_one_certificate_per_enrolment(client, factory, admin):
    run, enrolments = completed_run(factory, ["Anna Müller", "李娜", "Absent Person"], absent=["Absent Person"])
    first = services.issue_for_run(admin, run.id)
    assert len(first["issued"]) == 2
    assert [s["reason"] for s in first["skipped"]] == ["attendance_below_minimum"]
    second = api(client, admin).post(f"/api/v1/runs/{run.id}/certificates").get_json()
    assert second["issued"] == []
    assert sorted(s["reason"] for s in second["skipped"]) == [
        "already_issued",
        "already_issued",
        "attendance_below_minimum",
    ]
    assert _count() == 2


def test_never_before_the_run_is_complete(factory, admin):
    run = factory.run(meetings=2)  # in the future
    factory.enrolment(run)
    result = services.issue_for_run(admin, run.id)
    assert result["issued"] == [] and result["skipped"][0]["reason"] == "register_open"


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="needs PostgreSQL (set TEST_DATABASE_URL) for truly concurrent transactions",
)
def test_two_admins_issuing_at_once_on_postgresql(app, factory):
    run, enrolments = completed_run(factory, [f"Trainee {i}" for i in range(12)])
    admins = [factory.admin(), factory.admin()]
    admin_ids, run_id = [a.id for a in admins], run.id
    barrier, results, errors = threading.Barrier(2), [], []

    def issue(admin_id):
        with app.app_context():
            try:
                from training.accounts.models import User

                actor = db.session.get(User, admin_id)
                barrier.wait(timeout=BARRIER_SECONDS)
                results.append(services.issue_for_run(actor, run_id))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=issue, args=(i,)) for i in admin_ids]
    for t in threads:
        t.start()
    join_all(threads)
    assert not errors
    assert sum(len(r["issued"]) for r in results) == 12
    assert _count() == 12


def test_big_runs_are_issued_as_a_job_with_progress(app, client, factory, admin):
    app.config["CERT_SYNC_LIMIT"] = 2
    run, enrolments = completed_run(factory, ["A One", "B Two", "C Three"])
    response = api(client, admin).post(f"/api/v1/runs/{run.id}/certificates")
    assert response.status_code == 202
    location = response.headers["Location"]
    assert location.startswith("/api/v1/jobs/")
    job = api(client, admin).get(location).get_json()
    assert job["state"] == "finished" and job["done"] == job["total"] == 3
    assert len(job["result"]["issued"]) == 3
    assert _count() == 3


def test_a_job_issues_in_committed_batches_and_counts_what_is_held(app, factory, admin):
    """A job commits CERT_ISSUE_BATCH certificates at a time (a killed runner
    loses at most one batch); its progress is what the database holds, so a
    run again starts where the first stopped and never counts past the total."""
    app.config["CERT_ISSUE_BATCH"] = 2
    run, enrolments = completed_run(factory, [f"Trainee {i}" for i in range(5)])
    seen = []

    def progress(done, total):
        seen.append((done, total, _count()))

    result = services.issue_for_run(admin, run.id, progress=progress)
    assert len(result["issued"]) == 5
    assert seen == [(0, 5, 0), (2, 5, 2), (4, 5, 4), (5, 5, 5)]
    db.session.delete(db.session.scalar(select(Certificate).where(Certificate.enrolment_id == enrolments[0].id)))
    db.session.commit()
    seen.clear()
    again = services.issue_for_run(admin, run.id, progress=progress)
    assert [c["enrolment_id"] for c in again["issued"]] == [enrolments[0].id]
    assert seen == [(4, 5, 4), (5, 5, 5)]


def test_a_job_renders_the_next_batch_on_the_workers_while_it_writes_this_one(app, factory, admin):
    """Batches big enough for the render processes: the job hands the next batch
    to the workers before it writes this one (a pipeline). Every certificate still
    gets its own signed document, stored before its batch commits; progress is
    counted per batch; the course's skill is granted to every holder."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    from training.certificates import bulk, documents
    from training.qualifications.models import CourseSkill, Grant, Skill

    app.config.update(CERT_ISSUE_BATCH=bulk.SERIAL_BELOW, CERT_PROCESSES=2)
    count = 2 * bulk.SERIAL_BELOW + 3
    course = factory.course(code="PIPE-1", title="Pipelined batches")
    skill = Skill(code="PIPE", name="Pipelines", name_zh="流水线")
    db.session.add(skill)
    db.session.flush()
    db.session.add(CourseSkill(course_id=course.id, skill_id=skill.id, level=1))
    db.session.commit()
    run, enrolments = completed_run(factory, [f"Trainee {i}" for i in range(count)], course=course)
    store = documents.store()
    seen = []

    def progress(done, total):
        rows = list(db.session.scalars(select(Certificate)))
        seen.append((done, total, len(rows), all(store.exists(c.document_sha256) for c in rows)))

    try:
        result = services.issue_for_run(admin, run.id, progress=progress)
    finally:
        bulk.shutdown_pool()
    assert len(result["issued"]) == count and result["skipped"] == []
    batch = bulk.SERIAL_BELOW
    assert seen == [(0, count, 0, True), (batch, count, batch, True), (2 * batch, count, 2 * batch, True)] + [
        (count, count, count, True)
    ]
    certificates = list(db.session.scalars(select(Certificate)))
    assert len({c.document_sha256 for c in certificates}) == count
    for certificate in (certificates[0], certificates[batch], certificates[-1]):
        data = store.get(certificate.document_sha256)
        assert services.signature_verdict(data)["state"] == "intact"
        title = str(PdfFileReader(io.BytesIO(data), strict=False).trailer_view["/Info"]["/Title"])
        assert codes.display(certificate.code) in title and certificate.holder_name in title
    grants = db.session.scalar(select(func.count()).select_from(Grant).where(Grant.skill_id == skill.id))
    assert grants == count


def test_admin_issue_page_shows_reasons_and_issues_in_the_background(client, factory, admin, mailbox):
    run, _ = completed_run(factory, ["Anna Müller", "Absent Person"], absent=["Absent Person"])
    login(client, admin)
    page = client.get(f"/admin/runs/{run.id}/certificates").get_data(as_text=True)
    assert "below the required" in page and "Eligible" in page
    response = client.post(f"/admin/runs/{run.id}/certificates/issue", data={"email": "1"})
    assert response.status_code == 302 and "/admin/certificates/jobs/" in response.headers["Location"]
    job = client.get(response.headers["Location"] + "&format=json").get_json()
    assert job["state"] == "finished" and len(job["result"]["issued"]) == 1 and job["result"]["emailed"] == 1
    (message,) = mailbox()
    attachments = [p for p in message.iter_attachments()]
    assert attachments[0].get_content_type() == "application/pdf"
    assert attachments[0].get_content().startswith(b"%PDF")
    assert codes.display(job["result"]["issued"][0]["code"]) in message.get_body().get_content()


def test_revoking_shows_on_the_verification_page_at_once(client, factory, admin):
    run, _ = completed_run(factory, ["Anna Müller"])
    code = services.issue_for_run(admin, run.id)["issued"][0]["code"]
    assert 'data-status="valid"' in client.get(f"/verify/{code}").get_data(as_text=True)
    response = api(client, admin).post(
        f"/api/v1/certificates/{code}/revoke", json={"reason": "Attendance sheet forged"}
    )
    assert response.status_code == 200 and response.get_json()["status"] == "revoked"
    page = client.get(f"/verify/{code}")
    html = page.get_data(as_text=True)
    assert 'data-status="revoked"' in html and "Attendance sheet forged" in html
    revoked_at = db.session.scalar(select(Certificate.revoked_at).where(Certificate.code == code))
    assert local_date(revoked_at).isoformat() in html  # the day of the revocation, in the organisation's zone
    assert page.headers["Cache-Control"] == "no-store"
    assert api(client).get(f"/api/v1/certificates/{code}").get_json()["status"] == "revoked"
    again = api(client, admin).post(f"/api/v1/certificates/{code}/revoke", json={"reason": "again"})
    assert again.status_code == 409
    no_reason = api(client, admin).post(f"/api/v1/certificates/{codes.generate()}/revoke", json={})
    assert no_reason.status_code == 422


def _while_revoking(app, code, reason, second):
    """Revoke ``code`` and, with the revocation written but not committed, run ``second`` (a callable
    taking the app) in another thread until it ends or waits for a lock; then commit. Returns what the
    revocation and ``second`` gave (a certificate's code or a refusal's code)."""
    from training import signals
    from training.errors import DomainError

    results: dict[str, str] = {}
    first = threading.current_thread()

    def run_second():
        with app.app_context():
            try:
                results["second"] = second()
            except DomainError as exc:
                results["second"] = exc.code
            finally:
                db.session.remove()

    other = threading.Thread(target=run_second)

    def meanwhile(certificate, **_kw):
        if threading.current_thread() is not first or other.ident is not None:
            return
        db.session.flush()  # the revocation's row written (and locked) in this open transaction
        other.start()
        wait_until(lambda: not other.is_alive() or lock_waiters() > 0, "the second request ends or waits")

    signals.certificate_revoked.connect(meanwhile)
    try:
        actor = db.session.get(User, _admin_id(app))
        try:
            results["first"] = services.revoke(actor, code, reason).code
        except DomainError as exc:
            results["first"] = exc.code
    finally:
        signals.certificate_revoked.disconnect(meanwhile)
        join_all([other] if other.ident is not None else [])
    return results


def _admin_id(app) -> int:
    return db.session.scalar(select(User.id).where(User.role == "admin").order_by(User.id))


def _revoke_as_other_admin(code, reason):
    def second():
        actor = db.session.scalar(select(User).where(User.role == "admin").order_by(User.id.desc()))
        return services.revoke(actor, code, reason).code

    return second


def _reissue_as_other_admin(code):
    def second():
        actor = db.session.scalar(select(User).where(User.role == "admin").order_by(User.id.desc()))
        return services.reissue(actor, code, "Anna Mueller").code

    return second


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="needs PostgreSQL (set TEST_DATABASE_URL) for truly concurrent transactions",
)
def test_two_admins_revoking_at_once_revoke_it_once_on_postgresql(app, factory):
    """The second revocation read the certificate before the first committed: both passed the
    'already revoked' check, the second overwrote the first's reason and date, and the audit log and
    the qualifications' subscribers saw two revocations."""
    run, _ = completed_run(factory, ["Anna Müller"])
    first_admin, _second_admin = factory.admin(), factory.admin()
    code = services.issue_for_run(first_admin, run.id)["issued"][0]["code"]

    results = _while_revoking(app, code, "Attendance sheet forged", _revoke_as_other_admin(code, "Exam fraud"))

    assert results == {"first": code, "second": "already_revoked"}
    db.session.expire_all()
    certificate = db.session.scalar(select(Certificate).where(Certificate.code == code))
    assert certificate.revoked_reason == "Attendance sheet forged"
    assert (
        db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "certificate.revoke"))
        == 1
    )


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="needs PostgreSQL (set TEST_DATABASE_URL) for truly concurrent transactions",
)
def test_a_reissue_during_a_revocation_is_refused_on_postgresql(app, factory):
    """A reissue that read the certificate while a revocation was being written went on after the
    revocation committed: the revoked certificate got a valid successor with a new code."""
    run, _ = completed_run(factory, ["Anna Müller"])
    first_admin, _second_admin = factory.admin(), factory.admin()
    code = services.issue_for_run(first_admin, run.id)["issued"][0]["code"]

    results = _while_revoking(app, code, "Attendance sheet forged", _reissue_as_other_admin(code))

    assert results == {"first": code, "second": "already_revoked"}
    db.session.expire_all()
    assert _count() == 1
    certificate = db.session.scalar(select(Certificate).where(Certificate.code == code))
    assert certificate.status == "revoked" and certificate.superseded_by_id is None
    assert certificate.current_for_enrolment_id == certificate.enrolment_id


@pytest.mark.parametrize("reason", ["\u200b", "\u200f\u200e", " \u2060 ", "\ufeff\n\u200d"])
def test_a_revocation_needs_a_reason_one_can_read(client, factory, admin, reason):
    """The reason is shown to anyone on the verification page: zero-width and direction marks
    alone are no reason (they passed the 'give a reason' check, as they are not white space)."""
    run, _ = completed_run(factory, ["Anna Müller"])
    code = services.issue_for_run(admin, run.id)["issued"][0]["code"]
    response = api(client, admin).post(f"/api/v1/certificates/{code}/revoke", json={"reason": reason})
    assert response.status_code == 422 and "reason" in response.get_json()["error"]["fields"]
    login(client, admin)
    client.post(f"/admin/certificates/{code}/revoke", data={"reason": reason})
    db.session.expire_all()
    assert db.session.scalar(select(Certificate.revoked_at).where(Certificate.code == code)) is None
    multiline = api(client, admin).post(
        f"/api/v1/certificates/{code}/revoke", json={"reason": "考勤表伪造\nAttendance sheet forged"}
    )
    assert multiline.status_code == 200


def test_reissue_after_name_correction_supersedes_the_old_one(client, factory, admin):
    run, (enrolment,) = completed_run(factory, ["Ouyang Xiaoyn"])
    old = services.issue_for_run(admin, run.id)["issued"][0]["code"]
    login(client, admin)
    response = client.post(f"/admin/certificates/{old}/reissue", data={"holder_name": "欧阳晓燕"})
    assert response.status_code == 302
    new = db.session.scalar(select(Certificate).where(Certificate.reissue_of_code == old))
    old_cert = db.session.scalar(select(Certificate).where(Certificate.code == old))
    assert new.holder_name == "欧阳晓燕" and new.completed_on == old_cert.completed_on
    html = client.get(f"/verify/{old}").get_data(as_text=True)
    assert 'data-status="superseded"' in html and f"/verify/{new.code}" in html
    assert services.issue_for_run(admin, run.id)["issued"] == []  # still one current certificate
    twice = api(client, admin).post(f"/api/v1/certificates/{old}/reissue", json={})
    assert twice.status_code == 409


def test_expired_certificates_show_as_expired(client, factory, admin):
    course = factory.course(validity_months=1)
    run, _ = completed_run(factory, ["Anna Müller"], course=course)
    code = services.issue_for_run(admin, run.id)["issued"][0]["code"]
    cert = db.session.scalar(select(Certificate).where(Certificate.code == code))
    cert.expires_on = date.today() - timedelta(days=1)
    db.session.commit()
    assert api(client).get(f"/api/v1/certificates/{code}").get_json()["status"] == "expired"
    assert 'data-status="expired"' in client.get(f"/verify/{code}").get_data(as_text=True)


def test_codes_typed_in_lower_case_with_spaces_and_dashes_are_accepted(client, factory, admin):
    run, _ = completed_run(factory, ["Anna Müller"])
    code = services.issue_for_run(admin, run.id)["issued"][0]["code"]
    typed = " ".join(codes.display(code).lower().split("-"))
    response = client.get("/verify", query_string={"code": typed})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/verify/{code}")
    assert client.get(f"/verify/{codes.display(code).lower()}").status_code == 301
    assert api(client).get(f"/api/v1/certificates/{codes.display(code).lower()}").status_code == 200


@pytest.mark.parametrize(
    "bad",
    [
        "NOTACODE",
        "0" * 27 + "X",
        "",
        "<script>alert(1)</script>",
        "A" * 500,
    ],
)
def test_forged_truncated_and_garbage_codes_are_clear_404s(client, factory, admin, bad):
    run, _ = completed_run(factory, ["Anna Müller"])
    real = services.issue_for_run(admin, run.id)["issued"][0]["code"]
    for text in (bad, real[:-3], real[:-1] + ("0" if real[-1] != "0" else "1")):
        if not text:
            continue
        response = api(client).get(f"/api/v1/certificates/{text}")
        assert response.status_code == 404, text
        assert response.get_json()["error"]["code"] in ("not_found", "invalid_code")
        page = client.get(f"/verify/{text}")
        assert page.status_code in (404, 301), text
    forged = codes.generate()  # well-formed with a valid check character, never issued
    assert api(client).get(f"/api/v1/certificates/{forged}").get_json()["error"]["code"] == "not_found"
    response = client.get("/verify", query_string={"code": bad})
    assert response.status_code in (200, 422)
    if bad:
        assert "not a valid certificate code" in response.get_data(as_text=True)


def test_permission_refusals(client, factory, admin):
    run, (enrolment, other) = completed_run(factory, ["Anna Müller", "Bob Builder"])
    trainee, trainer = enrolment.user, factory.trainer()
    assert api(client, trainee).post(f"/api/v1/runs/{run.id}/certificates").status_code == 403
    assert api(client, trainer).post(f"/api/v1/runs/{run.id}/certificates").status_code == 403
    assert api(client).post(f"/api/v1/runs/{run.id}/certificates").status_code == 401
    code = services.issue_for_run(admin, run.id)["issued"][0]["code"]
    mine = db.session.scalar(select(Certificate).where(Certificate.code == code)).enrolment.user
    someone_else = other.user if mine.id == enrolment.user.id else enrolment.user
    assert api(client, someone_else).get(f"/api/v1/certificates/{code}/pdf").status_code == 403
    assert api(client).get(f"/api/v1/certificates/{code}/pdf").status_code == 401
    assert api(client, mine).get(f"/api/v1/certificates/{code}/pdf").status_code == 200
    assert api(client, mine).post(f"/api/v1/certificates/{code}/revoke", json={"reason": "x"}).status_code == 403
    assert api(client, trainer).get(f"/api/v1/runs/{run.id}/certificates.zip").status_code == 403
    login(client, someone_else)
    assert client.get(f"/certificates/{code}.pdf").status_code == 403
    for url in (f"/admin/runs/{run.id}/certificates", "/admin/certificates/templates", f"/admin/certificates/{code}"):
        assert client.get(url).status_code == 403
    assert client.post(f"/admin/certificates/{code}/revoke", data={"reason": "x"}).status_code == 403
    assert api(client).get(f"/api/v1/certificates/{code}").get_json()["status"] == "valid"


def test_public_view_carries_no_personal_data(client, factory, admin):
    run, (enrolment,) = completed_run(factory, ["Anna Mueller"])
    code = services.issue_for_run(admin, run.id)["issued"][0]["code"]
    body = api(client).get(f"/api/v1/certificates/{code}").get_data(as_text=True)
    badge = client.get(f"/verify/{code}/badge.json").get_data(as_text=True)
    page = client.get(f"/verify/{code}").get_data(as_text=True)
    for text in (body, badge, page):
        keywords = ("@context", "@id", "@container", "@language")  # JSON-LD, not e-mail addresses
        for keyword in keywords:
            text = text.replace(keyword, "")
        assert enrolment.user.email not in text and "@" not in text
        assert "Anna Mueller" in text


def test_run_zip_holds_one_signed_pdf_per_certificate(client, factory, admin):
    run, _ = completed_run(factory, ["Anna Müller", "李娜", "José Álvarez"])
    services.issue_for_run(admin, run.id)
    response = api(client, admin).get(f"/api/v1/runs/{run.id}/certificates.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        names = archive.namelist()
        assert len(names) == 3
        assert all(archive.read(n).startswith(b"%PDF") and b"/ETSI.CAdES.detached" in archive.read(n) for n in names)
    login(client, admin)
    printed = client.get(f"/admin/runs/{run.id}/certificates-print.pdf")
    assert (
        printed.status_code == 200 and printed.data.count(b"/Type /Page\n") + printed.data.count(b"/Type /Page ") >= 3
    )


def test_renewal_list_and_reminders_once(client, factory, admin, mailbox):
    course = factory.course(validity_months=36)
    run, _ = completed_run(factory, ["Anna Müller"], course=course)
    code = services.issue_for_run(admin, run.id)["issued"][0]["code"]
    cert = db.session.scalar(select(Certificate).where(Certificate.code == code))
    assert cert.expires_on > date.today() + timedelta(days=1000)
    cert.expires_on = date.today() + timedelta(days=20)
    db.session.commit()
    login(client, admin)
    assert "Anna Müller" in client.get("/admin/certificates/renewals").get_data(as_text=True)
    assert client.post("/admin/certificates/renewals/remind").status_code == 302
    assert services.send_expiry_reminders(admin) == 0
    assert len(mailbox()) == 1


def test_auto_issue_for_courses_that_issue_automatically(factory, mailbox):
    course = factory.course(auto_issue=True)
    run, _ = completed_run(factory, ["Anna Müller"], course=course)
    manual_run, _ = completed_run(factory, ["Bob Builder"])
    assert services.auto_issue_due() == {run.id: 1}
    assert services.auto_issue_due() == {}
    assert _count() == 1 and len(mailbox()) == 1


def test_lookups_are_rate_limited(tmp_path, pg_database):
    from tests.conftest import make_test_app

    app = make_test_app(tmp_path, pg_database, RATELIMIT_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        statuses = [client.get("/verify", headers={"X-Forwarded-For": "x"}).status_code for _ in range(31)]
        db.engine.dispose()
    assert statuses[:30] == [200] * 30 and statuses[30] == 429
