"""Issue 18: a certificate keeps the course title in both languages as issued,
prints both (the original first), and its Open Badges credential carries both
as a JSON-LD language map beside the plain ``name``, under a valid signature."""

from __future__ import annotations

import pypdfium2 as pdfium

from tests.certificates.conftest import completed_run
from tests.certificates.test_credentials import _fetcher, _parts, _script
from tests.conftest import api, login
from training.certificates import badges, pdf, services
from training.content_i18n import assign
from training.extensions import db

ZH = "机械功能安全：ISO 13849 实战"
EN = "Functional safety of machinery"


def _course(factory, original="zh", en=EN, zh=ZH):
    course = factory.course(code="FS-200", title="x")
    assign(course, {"title": {"en": en, "zh": zh}}, original=original)
    db.session.commit()
    return course


def _text(data: bytes) -> str:
    document = pdfium.PdfDocument(data)
    try:
        return " ".join(document[0].get_textpage().get_text_range().split())
    finally:
        document.close()


def _glyph_height(data: bytes, text: str, letter: str) -> float:
    """The height of ``letter`` (a capital) in ``text`` as drawn on the page."""
    document = pdfium.PdfDocument(data)
    try:
        page = document[0].get_textpage()
        index = page.get_text_range().index(text)
        _left, bottom, _right, top = page.get_charbox(index + text.index(letter))
        return top - bottom
    finally:
        document.close()


def _issue(factory, admin, course, name="欧阳晓燕"):
    run, _ = completed_run(factory, [name], course=course)
    (item,) = services.issue_for_run(admin, run.id)["issued"]
    return services.get_by_code(item["code"])


def test_the_issued_certificate_prints_both_titles_the_original_first(factory, admin):
    course = _course(factory, original="zh")
    certificate = _issue(factory, admin, course)
    assert (certificate.course_title, certificate.course_title_translation) == (ZH, EN)
    assert certificate.course_title_language == "zh"
    assert certificate.course_titles == {"zh": ZH, "en": EN}
    issued = services.document_for(certificate)
    text = _text(issued)
    assert ZH in text and EN in text
    assert text.index(ZH) < text.index(EN)
    # The other language beneath is smaller than the original.
    assert _glyph_height(issued, ZH, "I") > _glyph_height(issued, EN, "F") * 1.2  # capitals of one font
    # Renaming the course later changes neither the record nor the stored document.
    assign(course, {"title": {"en": "Machine safety, renamed", "zh": "改名后的课程"}})
    db.session.commit()
    db.session.refresh(certificate)
    assert certificate.course_titles == {"zh": ZH, "en": EN}
    assert services.document_for(certificate) == issued


def test_an_english_original_comes_first_and_a_one_language_course_prints_one_title(factory, admin):
    english_first = _issue(factory, admin, _course(factory, original="en"), name="Anna Müller")
    text = _text(services.document_for(english_first))
    assert text.index(EN) < text.index(ZH)

    only_english = factory.course(code="FS-300", title="IEC 61508 for control systems")
    certificate = _issue(factory, admin, only_english, name="Lukas Weber")
    assert certificate.course_titles == {"en": "IEC 61508 for control systems", "zh": ""}
    assert "IEC 61508 for control systems" in _text(services.document_for(certificate))


def test_a_one_language_design_puts_its_language_first(factory):
    from datetime import date

    doc = pdf.CertificateDoc(
        code="X",
        holder_name="欧阳晓燕",
        course_title=ZH,
        course_title_translation=EN,
        course_title_language="zh",
        hours=16,
        starts_on=date(2026, 3, 2),
        ends_on=date(2026, 3, 3),
        completed_on=date(2026, 3, 3),
        issued_on=date(2026, 3, 4),
        verify_url="https://training.example.com/verify/X",
    )
    assert pdf.course_titles(doc, pdf.Design(language="en")) == (EN, ZH)
    assert pdf.course_titles(doc, pdf.Design(language="zh")) == (ZH, EN)
    assert pdf.course_titles(doc, pdf.Design(language="bilingual")) == (ZH, EN)
    text = _text(pdf.render(doc, pdf.Design(language="en")))
    assert text.index(EN) < text.index(ZH)


def test_the_badge_carries_both_titles_as_a_language_map_under_a_valid_signature(client, factory, admin):
    certificate = _issue(factory, admin, _course(factory, original="zh"))
    credential = client.get(f"/verify/{certificate.code}/badge.json").get_json()
    assert credential["name"] == ZH  # OB 3.0: a plain string, the original title
    assert {"nameMap": {"@id": "https://schema.org/name", "@container": "@language"}} in credential["@context"]
    assert credential["@context"][:2] == badges.CONTEXT
    assert credential["nameMap"] == {"zh-Hans": ZH, "en": EN}
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["name"] == ZH and achievement["inLanguage"] == "zh-Hans"
    assert achievement["nameMap"] == {"zh-Hans": ZH, "en": EN}

    token = client.get(f"/verify/{certificate.code}/badge.jwt").get_data(as_text=True)
    _header, payload = _parts(token)
    assert payload["nameMap"] == {"zh-Hans": ZH, "en": EN}
    result = _script().verify(token, _fetcher(client), scheme="http")
    assert result["signature"] == "valid" and result["name"] == ZH


def test_a_one_language_title_gives_a_one_entry_map(client, factory, admin):
    certificate = _issue(factory, admin, factory.course(code="AM-140", title="Metal additive manufacturing"))
    credential = client.get(f"/verify/{certificate.code}/badge.json").get_json()
    assert credential["nameMap"] == {"en": "Metal additive manufacturing"}
    assert credential["credentialSubject"]["achievement"]["inLanguage"] == "en"


def test_api_and_verification_page_show_both_titles(client, factory, admin):
    certificate = _issue(factory, admin, _course(factory, original="en"))
    data = api(client, admin).get(f"/api/v1/certificates/{certificate.code}").get_json()
    assert data["course_title"] == EN and data["course_title_i18n"] == {"en": EN, "zh": ZH}
    page = client.get(f"/verify/{certificate.code}").get_data(as_text=True)
    assert EN in page and f'<span class="text-muted" lang="zh-Hans">{ZH}</span>' in page


def test_my_certificates_show_the_title_in_the_readers_language(client, factory, admin):
    certificate = _issue(factory, admin, _course(factory, original="en"))
    holder = certificate.enrolment.user
    holder.locale = "zh"
    db.session.commit()
    login(client, holder)
    page = client.get("/my/certificates").get_data(as_text=True)
    assert f'lang="zh-Hans">{ZH}</h2>' in page


def test_admin_pages_show_the_issued_titles(client, factory, admin):
    certificate = _issue(factory, admin, _course(factory, original="zh"))
    login(client, admin)
    detail = client.get(f"/admin/certificates/{certificate.code}").get_data(as_text=True)
    assert ZH in detail and f'<span class="text-muted" lang="en">{EN}</span>' in detail
    listing = client.get("/admin/certificates?lang=en").get_data(as_text=True)
    assert EN in listing  # in the reader's language
    assert ZH in client.get("/admin/certificates?lang=zh").get_data(as_text=True)
