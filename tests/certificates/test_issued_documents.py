"""One document per certificate: made and signed once at issue, stored write-once
by SHA-256, the same bytes on every download; checked on the verification page;
PAdES B-T with a timestamp from a local timestamp authority; keys rotate."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import update

from tests.certificates.conftest import completed_run
from tests.certificates.tsa import start_tsa
from tests.conftest import api, login
from tests.toolkit import BARRIER_SECONDS, join_all
from training.certificates import documents, signing
from training.certificates.models import Certificate
from training.extensions import db


def _issue(client, admin, run) -> list[str]:
    response = api(client, admin).post(f"/api/v1/runs/{run.id}/certificates")
    assert response.status_code == 200, response.get_json()
    return [i["code"] for i in response.get_json()["issued"]]


def _check(client, code: str, data: bytes, name="certificate.pdf"):
    return client.post(
        f"/verify/{code}", data={"document": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def _verdict(html: str) -> dict:
    match = re.search(
        r'id="doc-check-result"\s+data-verdict="([^"]+)" data-matches="([^"]+)"\s+'
        r'data-signature="([^"]+)" data-status="([^"]+)"',
        html,
    )
    assert match, html[:2000]
    return dict(zip(("verdict", "matches", "signature", "status"), match.groups(), strict=False))


def _flip_one_byte(data: bytes) -> bytes:
    tampered = bytearray(data)
    at = data.index(b"/Title (") + 9  # inside the document title, covered by the signature
    tampered[at] = ord("X") if tampered[at] != ord("X") else ord("Y")
    return bytes(tampered)


def test_issued_once_stored_by_hash_and_every_download_is_the_same(app, client, factory, admin):
    run, (enrolment,) = completed_run(factory, ["Anna Müller"])
    (code,) = _issue(client, admin, run)
    record = api(client).get(f"/api/v1/certificates/{code}").get_json()
    digest = record["sha256"]
    assert re.fullmatch(r"[0-9a-f]{64}", digest)

    stored = Path(app.config["DOCUMENT_DIR"]) / digest[:2] / digest[2:4] / f"{digest}.pdf"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == digest
    assert stored.stat().st_mode & 0o222 == 0  # write-once: read-only on disk

    first = api(client, enrolment.user).get(f"/api/v1/certificates/{code}/pdf").data
    second = login(client, enrolment.user).get(f"/certificates/{code}.pdf").data
    third = api(client, admin).get(f"/api/v1/certificates/{code}/pdf").data
    assert first == second == third == stored.read_bytes()

    page = client.get(f"/verify/{code}").get_data(as_text=True)
    assert digest in page


def test_one_changed_byte_fails_the_hash_and_the_signature(client, factory, admin):
    run, (enrolment,) = completed_run(factory, ["欧阳晓燕"])
    (code,) = _issue(client, admin, run)
    genuine = api(client, admin).get(f"/api/v1/certificates/{code}/pdf").data

    ok = _check(client, code, genuine)
    assert ok.status_code == 200
    assert _verdict(ok.get_data(as_text=True)) == {
        "verdict": "genuine",
        "matches": "yes",
        "signature": "intact",
        "status": "valid",
    }

    bad = _check(client, code, _flip_one_byte(genuine))
    assert bad.status_code == 200
    assert _verdict(bad.get_data(as_text=True)) == {
        "verdict": "not-genuine",
        "matches": "no",
        "signature": "broken",
        "status": "valid",
    }
    # pyHanko agrees, independently of the page
    (signature,) = PdfFileReader(io.BytesIO(_flip_one_byte(genuine))).embedded_signatures
    status = validate_pdf_signature(signature, ValidationContext(trust_roots=[signing.current_signer().certificate]))
    assert not status.intact


def test_a_damaged_file_in_the_store_is_never_handed_out(app, client, factory, admin):
    run, (enrolment,) = completed_run(factory, ["Zoë Ångström"])
    (code,) = _issue(client, admin, run)
    digest = db.session.scalar(db.select(Certificate.document_sha256).where(Certificate.code == code))
    path = documents.FileDocumentStore(app.config["DOCUMENT_DIR"]).path(digest)
    path.chmod(0o644)
    path.write_bytes(_flip_one_byte(path.read_bytes()))
    response = api(client, admin).get(f"/api/v1/certificates/{code}/pdf")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "document_unavailable"


def test_unreadable_unsigned_and_missing_uploads_get_a_clear_answer(client, factory, admin):
    run, _ = completed_run(factory, ["Li Lei"])
    (code,) = _issue(client, admin, run)
    junk = _verdict(_check(client, code, b"\x00\xffnot a pdf at all").get_data(as_text=True))
    assert junk["signature"] == "unreadable" and junk["matches"] == "no"
    truncated = api(client, admin).get(f"/api/v1/certificates/{code}/pdf").data[:5000]
    assert _verdict(_check(client, code, truncated).get_data(as_text=True))["verdict"] == "not-genuine"
    from tests.certificates.test_document import _doc
    from training.certificates import pdf

    unsigned = _verdict(_check(client, code, pdf.render(_doc(), pdf.Design())).get_data(as_text=True))
    assert unsigned["signature"] == "unsigned"
    empty = client.post(f"/verify/{code}", data={}, content_type="multipart/form-data")
    assert empty.status_code == 422
    assert (
        client.post(
            "/verify/NOTACODE", data={"document": (io.BytesIO(b"%PDF"), "x.pdf")}, content_type="multipart/form-data"
        ).status_code
        == 404
    )


def test_revoked_superseded_and_template_changes_keep_the_issued_document(app, client, factory, admin):
    run, (a, b) = completed_run(factory, ["Wang Fang", "Chen Jie"])
    code_a, code_b = _issue(client, admin, run)
    before_a = api(client, admin).get(f"/api/v1/certificates/{code_a}/pdf").data
    before_b = api(client, admin).get(f"/api/v1/certificates/{code_b}/pdf").data

    from training.certificates import templates

    template = templates.default_template()
    template.title_en, template.title_zh = "Changed Title", "新标题"
    db.session.commit()
    assert api(client, admin).post(f"/api/v1/certificates/{code_a}/revoke", json={"reason": "Fraud"}).status_code == 200
    reissued = api(client, admin).post(f"/api/v1/certificates/{code_b}/reissue", json={"holder_name": "Chen Jie Jr"})
    assert reissued.status_code == 201
    new_code = reissued.get_json()["code"]

    assert api(client, admin).get(f"/api/v1/certificates/{code_a}/pdf").data == before_a
    assert api(client, admin).get(f"/api/v1/certificates/{code_b}/pdf").data == before_b
    assert api(client, a.user).get(f"/api/v1/certificates/{code_a}").get_json()["status"] == "revoked"
    verdict = _verdict(_check(client, code_a, before_a).get_data(as_text=True))
    assert verdict == {"verdict": "genuine", "matches": "yes", "signature": "intact", "status": "revoked"}

    # the reissued certificate has its own document (with the new template and name)
    new_pdf = api(client, admin).get(f"/api/v1/certificates/{new_code}/pdf").data
    assert new_pdf != before_b
    assert (
        api(client).get(f"/api/v1/certificates/{new_code}").get_json()["sha256"] == hashlib.sha256(new_pdf).hexdigest()
    )

    # the stamped copy is a separate download for the holder and admins
    stamped = login(client, a.user).get(f"/certificates/{code_a}/status.pdf")
    assert stamped.status_code == 200 and stamped.data != before_a
    assert "revoked" in stamped.headers["Content-Disposition"]


def test_certificates_without_a_document_get_one_once(app, client, factory, admin):
    run, (enrolment, other) = completed_run(factory, ["Old Timer", "Older Timer"])
    code, other_code = _issue(client, admin, run)
    db.session.execute(update(Certificate).values(document_sha256=None))  # as before documents were stored
    db.session.commit()
    first = api(client, enrolment.user).get(f"/api/v1/certificates/{code}/pdf").data
    second = api(client, enrolment.user).get(f"/api/v1/certificates/{code}/pdf").data
    assert first == second
    assert api(client).get(f"/api/v1/certificates/{code}").get_json()["sha256"] == hashlib.sha256(first).hexdigest()

    result = app.test_cli_runner().invoke(args=["certificates", "store-documents"])
    assert result.exit_code == 0, result.output
    assert "1 documents stored" in result.output
    db.session.expire_all()
    assert db.session.scalar(db.select(Certificate.document_sha256).where(Certificate.code == other_code))
    assert (
        db.session.scalar(db.select(Certificate.document_sha256).where(Certificate.code == code))
        == hashlib.sha256(first).hexdigest()
    )


def test_rotated_key_signs_new_documents_and_old_ones_still_verify(app, client, factory, admin, tmp_path):
    app.config["SIGNING_DIR"] = str(tmp_path / "own-signing")
    run, (one, two) = completed_run(factory, ["First Person", "Second Person"])
    code_one = _issue(client, admin, run)[0]
    old_kid = signing.current_signer().material.kid
    result = app.test_cli_runner().invoke(args=["signing", "rotate"])
    assert result.exit_code == 0, result.output
    new_kid = signing.current_signer().material.kid
    assert new_kid != old_kid and new_kid in result.output

    code_two = (
        api(client, admin)
        .post(f"/api/v1/certificates/{code_one}/reissue", json={"holder_name": "First P. Person"})
        .get_json()["code"]
    )
    old_pdf = api(client, admin).get(f"/api/v1/certificates/{code_one}/pdf").data
    new_pdf = api(client, admin).get(f"/api/v1/certificates/{code_two}/pdf").data
    for code, data, kid in ((code_one, old_pdf, old_kid), (code_two, new_pdf, new_kid)):
        page = _check(client, code, data).get_data(as_text=True)
        assert _verdict(page)["verdict"] == "genuine"
        assert "Signed with a key of" in page
        (signature,) = PdfFileReader(io.BytesIO(data)).embedded_signatures
        assert signing.key_id(signature.signer_cert) == kid


def test_signing_cli_init_refuses_a_second_key(app, tmp_path):
    app.config["SIGNING_DIR"] = str(tmp_path / "fresh")
    app.config["SIGNING_KEY_PASSPHRASE"] = "a passphrase from the environment"
    runner = app.test_cli_runner()
    first = runner.invoke(args=["signing", "init"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(args=["signing", "init"])
    assert again.exit_code != 0 and "rotate" in again.output
    assert not (tmp_path / "signing-passphrase").exists()  # the passphrase came from the setting
    app.config["SIGNING_KEY_PASSPHRASE"] = "the wrong one"
    signing._signers.clear()
    with pytest.raises(signing.SigningUnavailable):
        signing.load_material(app.config)


@pytest.fixture
def local_tsa():
    tsa, stop = start_tsa()
    try:
        yield tsa
    finally:
        stop()


def test_timestamped_signature_validates_against_the_local_tsa(app, client, factory, admin, local_tsa):
    app.config["TSA_URL"] = local_tsa.url
    run, (enrolment,) = completed_run(factory, ["Time Stamped"])
    (code,) = _issue(client, admin, run)
    assert len(local_tsa.requests) == 1  # one token, at issue
    data = api(client, enrolment.user).get(f"/api/v1/certificates/{code}/pdf").data
    assert api(client, enrolment.user).get(f"/api/v1/certificates/{code}/pdf").data == data
    assert len(local_tsa.requests) == 1  # downloads never sign again

    (signature,) = PdfFileReader(io.BytesIO(data)).embedded_signatures
    status = validate_pdf_signature(
        signature,
        ValidationContext(trust_roots=[signing.current_signer().certificate]),
        ts_validation_context=ValidationContext(trust_roots=[local_tsa.root]),
    )
    assert status.intact and status.valid and status.trusted and status.bottom_line
    assert status.coverage.name == "ENTIRE_FILE"
    ts = status.timestamp_validity
    assert ts is not None and ts.intact and ts.valid and ts.trusted

    page = _check(client, code, data).get_data(as_text=True)
    assert _verdict(page)["verdict"] == "genuine" and "Trusted timestamp" in page


def test_an_unreachable_tsa_refuses_to_issue_and_changes_nothing(app, client, factory, admin):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    app.config["TSA_URL"] = f"http://127.0.0.1:{port}/tsa"
    run, _ = completed_run(factory, ["No Stamp"])
    response = api(client, admin).post(f"/api/v1/runs/{run.id}/certificates")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "signing_unavailable"
    assert db.session.scalar(db.select(db.func.count()).select_from(Certificate)) == 0


def test_an_unencrypted_key_of_an_older_version_is_imported_encrypted(tmp_path):
    key, cert_pem = signing._generate("Old Org")
    from cryptography.hazmat.primitives import serialization

    old = tmp_path / "signing"
    old.mkdir()
    (old / "signing-key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (old / "signing-cert.pem").write_bytes(cert_pem)
    material = signing.load_material({"SIGNING_DIR": str(old), "ORG_NAME": "Old Org"})
    assert material.cert.dump() == signing._load_certs(cert_pem)[0].dump()  # the same key signs on
    assert not (old / "signing-key.pem").exists()
    assert (old / "keys" / f"{material.kid}.key.pem").read_bytes().startswith(b"-----BEGIN ENCRYPTED")


@pytest.mark.postgres
def test_two_first_downloads_at_once_store_one_document(app, client, factory, admin):
    import threading

    run, (enrolment,) = completed_run(factory, ["Race Condition"])
    (code,) = _issue(client, admin, run)
    db.session.execute(update(Certificate).values(document_sha256=None))
    db.session.commit()
    token_client = api(app.test_client(), enrolment.user)
    callers = [api(app.test_client(), enrolment.user) for _ in range(2)]
    db.session.commit()
    barrier, results = threading.Barrier(2), []

    def download(caller):
        barrier.wait(timeout=BARRIER_SECONDS)
        response = caller.get(f"/api/v1/certificates/{code}/pdf")
        results.append((response.status_code, response.data))

    threads = [threading.Thread(target=download, args=(caller,)) for caller in callers]
    for t in threads:
        t.start()
    join_all(threads)
    assert [status for status, _data in results] == [200, 200]
    assert results[0][1] == results[1][1]
    db.session.expire_all()
    recorded = db.session.scalar(db.select(Certificate.document_sha256).where(Certificate.code == code))
    assert recorded == hashlib.sha256(results[0][1]).hexdigest()
    assert token_client.get(f"/api/v1/certificates/{code}/pdf").data == results[0][1]


def test_a_pdf_dropped_on_the_verify_form_is_found_by_hash_or_by_the_code_it_names(client, factory, admin):
    run, _ = completed_run(factory, ["Huang Lei"])
    (code,) = _issue(client, admin, run)
    genuine = api(client, admin).get(f"/api/v1/certificates/{code}/pdf").data
    found = client.post(
        "/verify", data={"document": (io.BytesIO(genuine), "c.pdf")}, content_type="multipart/form-data"
    )
    assert found.status_code == 200
    assert _verdict(found.get_data(as_text=True)) == {
        "verdict": "genuine",
        "matches": "yes",
        "signature": "intact",
        "status": "valid",
    }

    changed = bytearray(genuine)
    at = genuine.index(b"/Contents <") + 60  # a hex digit of the signature value
    changed[at] = ord("0") if changed[at] != ord("0") else ord("1")
    named = client.post(
        "/verify", data={"document": (io.BytesIO(bytes(changed)), "c.pdf")}, content_type="multipart/form-data"
    )
    assert named.status_code == 200
    assert _verdict(named.get_data(as_text=True))["verdict"] == "not-genuine"
    assert "Huang Lei" in named.get_data(as_text=True)

    unknown = client.post(
        "/verify", data={"document": (io.BytesIO(b"%PDF-1.4 nothing"), "x.pdf")}, content_type="multipart/form-data"
    )
    assert unknown.status_code == 200
    assert 'data-verdict="unknown"' in unknown.get_data(as_text=True)
    assert client.post("/verify", data={}, content_type="multipart/form-data").status_code == 422


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://evil.localhost"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://attacker.example"},
        {"Origin": "null"},  # a sandboxed frame or a file opened in the browser
        {"Origin": "http://localhost.attacker.example"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},  # the browser's word wins
    ],
)
def test_a_pdf_check_posted_from_another_site_is_refused(client, factory, admin, headers):
    """The PDF check carries no CSRF token (it changes nothing and acts for no one); a browser's post from
    another site is refused before the file is read, on both forms."""
    run, _ = completed_run(factory, ["Huang Lei"])
    (code,) = _issue(client, admin, run)
    genuine = api(client, admin).get(f"/api/v1/certificates/{code}/pdf").data
    for url in (f"/verify/{code}", "/verify"):
        refused = client.post(
            url, data={"document": (io.BytesIO(genuine), "c.pdf")}, content_type="multipart/form-data", headers=headers
        )
        assert refused.status_code == 403, (url, refused.status_code)
        assert "doc-check-result" not in refused.get_data(as_text=True)


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
        {"Origin": "http://localhost"},  # an older browser: no Fetch Metadata
        {"Sec-Fetch-Site": "none"},
        {},  # no browser (a script, curl): no one's cookies to abuse
    ],
)
def test_a_pdf_check_from_this_sites_own_page_works_without_a_token(app, client, factory, admin, headers):
    run, _ = completed_run(factory, ["Huang Lei"])
    (code,) = _issue(client, admin, run)
    genuine = api(client, admin).get(f"/api/v1/certificates/{code}/pdf").data
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        checked = client.post(
            f"/verify/{code}",
            data={"document": (io.BytesIO(genuine), "c.pdf")},
            content_type="multipart/form-data",
            headers=headers,
        )
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert checked.status_code == 200
    assert _verdict(checked.get_data(as_text=True))["verdict"] == "genuine"
