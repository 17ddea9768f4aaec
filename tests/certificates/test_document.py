"""The certificate document: CJK text layer, a QR code a real decoder reads,
a PAdES signature that validates and breaks when one byte changes, fonts."""

from __future__ import annotations

import io
from datetime import date

import pypdfium2 as pdfium
import pytest
import zxingcpp
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from tests.certificates.conftest import completed_run
from tests.conftest import api, login
from training.certificates import codes, pdf, signing
from training.pdf_fonts import fonts


def _text(data: bytes) -> str:
    document = pdfium.PdfDocument(data)
    try:
        return document[0].get_textpage().get_text_range()
    finally:
        document.close()


def _qr_texts(data: bytes) -> list[str]:
    document = pdfium.PdfDocument(data)
    try:
        image = document[0].render(scale=3).to_pil()
    finally:
        document.close()
    return [r.text for r in zxingcpp.read_barcodes(image)]


def _issue(client, admin, run) -> dict:
    response = api(client, admin).post(f"/api/v1/runs/{run.id}/certificates")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_chinese_name_text_layer_qr_and_verification_page(client, factory, admin):
    run, (enrolment,) = completed_run(factory, ["欧阳晓燕"])
    trainee = enrolment.user
    result = _issue(client, admin, run)
    assert [i["enrolment_id"] for i in result["issued"]] == [enrolment.id]
    code = result["issued"][0]["code"]

    response = api(client, trainee).get(f"/api/v1/certificates/{code}/pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    data = response.data
    assert "欧阳晓燕" in _text(data)

    url = f"http://localhost/verify/{code}"
    assert _qr_texts(data) == [url]

    page = client.get(url.removeprefix("http://localhost"))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "欧阳晓燕" in html and 'data-status="valid"' in html
    assert trainee.email not in html


def _validate(data: bytes):
    reader = PdfFileReader(io.BytesIO(data))
    (signature,) = reader.embedded_signatures
    return validate_pdf_signature(signature, ValidationContext(trust_roots=[signing.current_signer().certificate]))


def test_signature_validates_and_one_changed_byte_breaks_it(client, factory, admin):
    run, (enrolment,) = completed_run(factory, ["Zoë Ångström"])
    code = _issue(client, admin, run)["issued"][0]["code"]
    data = api(client, admin).get(f"/api/v1/certificates/{code}/pdf").data

    status = _validate(data)
    assert status.intact and status.valid and status.trusted and status.bottom_line
    assert status.coverage.name == "ENTIRE_FILE"
    assert b"/SubFilter /ETSI.CAdES.detached" in data

    at = data.index(b"/Creator (") + len(b"/Creator (")
    tampered = bytearray(data)
    tampered[at] = ord("X") if tampered[at] != ord("X") else ord("Y")
    broken = _validate(bytes(tampered))
    assert not broken.intact and not broken.bottom_line
    assert broken.summary().startswith("INVALID")


def test_embedded_key_is_generated_once_encrypted_and_kept(tmp_path):
    settings = {"SIGNING_DIR": str(tmp_path / "keys"), "ORG_NAME": "Test Org"}
    first = signing.load_material(settings)
    key_file = tmp_path / "keys" / "keys" / f"{first.kid}.key.pem"
    assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert key_file.stat().st_mode & 0o077 == 0
    passphrase = tmp_path / "signing-passphrase"  # generated next to SIGNING_DIR (the embedded default)
    assert passphrase.stat().st_mode & 0o077 == 0
    second = signing.load_material(settings)
    assert first.cert.dump() == second.cert.dump()
    assert "Test Org" in first.cert.subject.human_friendly


def test_signer_uses_configured_key_files(tmp_path):
    from cryptography.hazmat.primitives import serialization

    material = signing.load_material({"SIGNING_DIR": str(tmp_path / "k"), "ORG_NAME": "Org"})
    (tmp_path / "key.pem").write_bytes(
        material.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"file secret"),
        )
    )
    (tmp_path / "cert.pem").write_bytes(
        b"-----BEGIN CERTIFICATE-----\n"
        + __import__("base64").encodebytes(material.cert.dump())
        + b"-----END CERTIFICATE-----\n"
    )
    (tmp_path / "pass").write_text("file secret\n")
    settings = {
        "SIGNING_KEY_FILE": str(tmp_path / "key.pem"),
        "SIGNING_CERT_FILE": str(tmp_path / "cert.pem"),
        "SIGNING_KEY_PASSPHRASE_FILE": str(tmp_path / "pass"),
    }
    loaded = signing.load_material(settings)
    assert loaded.source.startswith("files:") and loaded.kid == material.kid
    with pytest.raises(signing.SigningUnavailable):
        signing.load_material(
            {"SIGNING_KEY_FILE": str(tmp_path / "missing.pem"), "SIGNING_CERT_FILE": str(tmp_path / "missing.pem")}
        )


def _doc(name="欧阳晓燕", title="PLC Programming", **kw) -> pdf.CertificateDoc:
    code = codes.generate()
    return pdf.CertificateDoc(
        code=code,
        holder_name=name,
        course_title=title,
        hours=16,
        starts_on=date(2026, 3, 2),
        ends_on=date(2026, 3, 3),
        completed_on=date(2026, 3, 3),
        issued_on=date(2026, 3, 4),
        verify_url=f"http://localhost/verify/{code}",
        trainers=("王建国",),
        **kw,
    )


@pytest.fixture
def builtin_cjk_font(monkeypatch):
    monkeypatch.setenv("PDF_CJK_FONT", "builtin")
    fonts.cache_clear()
    yield
    monkeypatch.delenv("PDF_CJK_FONT")
    fonts.cache_clear()


def test_builtin_stsong_fallback_keeps_the_name_as_text(builtin_cjk_font):
    assert fonts().cjk == "STSong-Light" and not fonts().cjk_embedded
    data = pdf.render(_doc(), pdf.Design())
    assert b"STSong-Light" in data
    assert "欧阳晓燕" in _text(data)


def test_embedded_truetype_cjk_font(app):
    fonts.cache_clear()
    chosen = fonts()
    if not chosen.cjk_embedded:
        pytest.fail("no TrueType CJK font installed (WenQuanYi Micro Hei or Droid Sans Fallback expected)")
    data = pdf.render(_doc(), pdf.Design())
    assert b"/FontFile2" in data  # the subset is embedded
    assert "欧阳晓燕" in _text(data)


@pytest.mark.parametrize(
    "name,title",
    [
        ("爱新觉罗·欧阳司马慕容晓燕" * 4, "OPC UA 信息建模与工业物联网集成实战" * 3),
        (
            "Maximiliane Josephine Würtemberg-Hohenzollern von Schönfeld-Aldringen " * 2,
            "Advanced Industrial Robotics: Offline Programming, Simulation, Safety-Rated Monitored Stops and "
            "Collaborative Applications with ABB, KUKA and FANUC Controllers in Mixed Production Cells",
        ),
    ],
)
def test_long_names_and_titles_stay_inside_the_frame(name, title):
    data = pdf.render(_doc(name, title, expires_on=date(2029, 3, 3)), pdf.Design())
    document = pdfium.PdfDocument(data)
    try:
        textpage = document[0].get_textpage()
        boxes = [textpage.get_charbox(i) for i in range(textpage.count_chars())]
    finally:
        document.close()
    inner_left, inner_right = 52 + 4, pdf.PAGE_W - 52 - 4
    outside = [b for b in boxes if b[2] > b[0] and (b[0] < inner_left or b[2] > inner_right)]
    assert not outside
    text = _text(data).replace("\r", "").replace("\n", "")
    assert name.split()[0][:6] in text


def test_holder_page_lists_and_downloads_certificates(client, factory, admin):
    run, (enrolment,) = completed_run(factory, ["王小明"])
    code = _issue(client, admin, run)["issued"][0]["code"]
    login(client, enrolment.user)
    page = client.get("/my/certificates").get_data(as_text=True)
    assert codes.display(code) in page
    response = client.get(f"/certificates/{code}.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")


def test_the_fast_qr_matrix_is_exactly_the_qrcode_packages():
    """certificates.qr makes the same modules as the qrcode package, for verification
    URLs and for any text (every mode, many versions), and uses itself, not qrcode."""
    import random
    import string

    from training.certificates import qr

    assert qr._fast_is_exact()
    rnd = random.Random(13)
    texts = [f"https://training.example.com/verify/{codes.generate()}" for _ in range(60)]
    texts += ["x", "0", "HTTPS://A.B/" + "7" * 40, "https://例子.中国/verify/" + codes.generate()]
    alphabet = string.ascii_letters + string.digits + "/:.-_?=&% 证书"
    for length in (*range(1, 200, 7), 400, 900):
        texts.append("".join(rnd.choice(alphabet) for _ in range(length)))
        texts.append("https://x.example/" + "".join(rnd.choice(string.digits) for _ in range(length)))
        texts.append("HTTPS://X.EXAMPLE/" + "".join(rnd.choice(string.ascii_uppercase) for _ in range(length)))
    for text in texts:
        assert qr.fast(text) == qr.reference(text), text
        assert qr.modules(text) == qr.reference(text)
