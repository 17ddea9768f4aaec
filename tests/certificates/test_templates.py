"""Certificate templates: bad uploads and markup are refused with a message and
change nothing; good ones are used; the preview renders; badges are sound."""

from __future__ import annotations

import base64
import io
import json

from PIL import Image
from sqlalchemy import select

from tests.certificates.conftest import completed_run
from tests.conftest import api, login
from training.certificates import services, templates
from training.certificates.models import Certificate, CertificateTemplate
from training.extensions import db


def _png(size=(200, 80), colour=(200, 30, 30, 255)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, colour).save(out, "PNG")
    return out.getvalue()


def _form(template, **overrides):
    data = {f: getattr(template, f) for f in templates.TEXT_FIELDS}
    data.update(
        language=template.language,
        border=template.border,
        primary_color=template.primary_color,
        accent_color=template.accent_color,
        paper_color=template.paper_color,
        course_id="",
    )
    data.update(overrides)
    return data


def test_logo_that_is_not_an_image_is_refused_and_nothing_changes(client, admin):
    template = templates.default_template()
    login(client, admin)
    data = _form(template, title_en="Changed title")
    data["logo"] = (io.BytesIO(b"%PDF-1.4 not an image at all"), "logo.png")
    response = client.post(
        f"/admin/certificates/templates/{template.id}", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert "not an image we can use" in response.get_data(as_text=True)
    db.session.expire_all()
    assert templates.default_template().title_en == "Certificate of Completion"
    assert templates.default_template().logo is None


def test_a_40_mb_upload_is_refused_with_a_message(client, admin):
    template = templates.default_template()
    login(client, admin)
    data = _form(template)
    data["logo"] = (io.BytesIO(b"\x89PNG" + b"\0" * (40 * 1024 * 1024)), "huge.png")
    response = client.post(
        f"/admin/certificates/templates/{template.id}", data=data, content_type="multipart/form-data"
    )
    assert 400 <= response.status_code < 500
    assert "larger than 2 MB" in response.get_data(as_text=True)
    db.session.expire_all()
    assert templates.default_template().logo is None


def test_markup_in_template_text_is_refused(client, admin):
    template = templates.default_template()
    login(client, admin)
    response = client.post(
        f"/admin/certificates/templates/{template.id}",
        data=_form(template, title_en="<b>Certificate</b><script>x()</script>"),
    )
    assert response.status_code == 422
    assert "Plain text only" in response.get_data(as_text=True)
    db.session.expire_all()
    assert templates.default_template().title_en == "Certificate of Completion"


def test_bad_colour_is_refused(admin):
    template = templates.default_template()
    try:
        templates.save_template(admin, template, _form(template, primary_color="red; drop"))
    except Exception as exc:  # noqa: BLE001 - asserted below
        assert getattr(exc, "status", None) == 422
    else:
        raise AssertionError("a bad colour was accepted")


def test_course_template_with_logo_and_signatures_is_used_and_previewed(client, factory, admin):
    course = factory.course(title="Machine Vision Basics")
    login(client, admin)
    base = templates.default_template()
    data = _form(
        base,
        name="Vision",
        course_id=str(course.id),
        language="en",
        title_en="Certificate of Attendance",
        signatory1_name="Dr. Hans Becker",
        signatory1_title="Lead Assessor",
    )
    data["logo"] = (io.BytesIO(_png()), "logo.png")
    data["signatory1_image"] = (io.BytesIO(_png((300, 100), (0, 0, 0, 0))), "sig.png")
    response = client.post("/admin/certificates/templates/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    template = db.session.scalar(select(CertificateTemplate).where(CertificateTemplate.course_id == course.id))
    assert template.logo.startswith(b"\xff\xd8")  # stored as JPEG
    preview = client.get(f"/admin/certificates/templates/{template.id}/preview.png?sample=latin")
    assert preview.status_code == 200 and preview.data.startswith(b"\x89PNG")
    page = client.get(f"/admin/certificates/templates/{template.id}")
    assert page.status_code == 200 and "preview.png" in page.get_data(as_text=True)

    run, (enrolment,) = completed_run(factory, ["Anna Müller"], course=course)
    code = services.issue_for_run(admin, run.id)["issued"][0]["code"]
    data = api(client, admin).get(f"/api/v1/certificates/{code}/pdf").data
    assert b"/DCTDecode" in data  # the logo
    import pypdfium2 as pdfium

    text = pdfium.PdfDocument(data)[0].get_textpage().get_text_range()
    assert "CERTIFICATE OF ATTENDANCE" in text and "Dr. Hans Becker" in text and "结业证书" not in text

    duplicate = client.post(
        "/admin/certificates/templates/new", data=_form(base, name="Again", course_id=str(course.id))
    )
    assert duplicate.status_code == 409


def test_open_badges_credential_and_its_signed_form(client, factory, admin):
    run, (enrolment,) = completed_run(factory, ["欧阳晓燕"])
    code = services.issue_for_run(admin, run.id)["issued"][0]["code"]
    response = client.get(f"/verify/{code}/badge.json")
    assert response.mimetype == "application/ld+json"
    credential = response.get_json(force=True)
    assert "https://www.w3.org/ns/credentials/v2" in credential["@context"]
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    subject = credential["credentialSubject"]
    assert subject["identifier"][0]["identityHash"] == "欧阳晓燕"
    assert subject["achievement"]["type"] == ["Achievement"]
    assert "badge.json" in client.get(f"/verify/{code}").get_data(as_text=True)

    token = client.get(f"/verify/{code}/badge.jwt").get_data(as_text=True)
    header_b64, payload_b64, signature_b64 = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731 - a one-line local helper
    header = json.loads(base64.urlsafe_b64decode(pad(header_b64)))
    assert header["alg"] == "RS256" and header["typ"] == "vc+jwt"
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    cert = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    cert.public_key().verify(
        base64.urlsafe_b64decode(pad(signature_b64)),
        f"{header_b64}.{payload_b64}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    assert json.loads(base64.urlsafe_b64decode(pad(payload_b64)))["id"] == credential["id"]


def test_unknown_badge_is_a_404(client):
    response = client.get("/verify/NOPE/badge.json")
    assert response.status_code == 404
    assert db.session.scalar(select(Certificate.id)) is None
