"""An employer checks a certificate PDF they were e-mailed: on the verification
page they drop the genuine file, then a copy with one byte changed, and read
both verdicts; without JavaScript the same form works with its file field.
Screenshots (phone and desktop) go to test-artifacts/."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import expect

from tests.certificates.conftest import completed_run
from training.certificates import services
from training.extensions import db

from .conftest import TIMEOUT_MS, screenshot

pytestmark = pytest.mark.e2e
DESKTOP = {"width": 1280, "height": 900}


def _issued_pdf(factory) -> tuple[str, bytes]:
    admin = factory.admin(name="Admin Zhang")
    run, _ = completed_run(factory, ["欧阳晓燕"])
    (issued,) = services.issue_for_run(admin, run.id)["issued"]
    code = issued["code"]
    data = services.document_for(services.get_by_code(code))
    db.session.rollback()  # end the test's transaction before the browser acts
    return code, data


def _tampered(data: bytes) -> bytes:
    changed = bytearray(data)
    at = data.index(b"/Title (") + 9
    changed[at] = ord("X") if changed[at] != ord("X") else ord("Y")
    return bytes(changed)


def _drop(page, data: bytes, name: str) -> None:
    """Drag a file from the desktop onto the drop zone (as the browser would deliver it)."""
    page.evaluate(
        """([b64, name]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, {type: "application/pdf"}));
        const zone = document.getElementById("doc-drop");
        for (const type of ["dragenter", "dragover", "drop"]) {
            zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }
    }""",
        [base64.b64encode(data).decode(), name],
    )


def test_dropping_a_genuine_and_a_tampered_pdf(browser, live_server, factory):
    code, genuine = _issued_pdf(factory)
    for label, viewport, mobile in (("phone", {"width": 390, "height": 844}, True), ("desktop", DESKTOP, False)):
        context = browser.new_context(
            viewport=viewport, base_url=live_server.url, is_mobile=mobile, has_touch=mobile, locale="en-GB"
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        try:
            page.goto(f"/verify/{code}")
            expect(page.locator(".doc-drop-hint")).to_be_visible()  # the script is running
            screenshot(page, f"verify-document-{label}-0-page")

            with page.expect_navigation():
                _drop(page, genuine, "certificate.pdf")
            result = page.locator("#doc-check-result")
            expect(result).to_have_attribute("data-verdict", "genuine")
            expect(result).to_contain_text("This file is the document issued for this certificate.")
            expect(result.locator("[data-check=hash]")).to_contain_text("Exact copy")
            expect(result.locator("[data-check=signature]")).to_contain_text("Digital signature intact")
            expect(result.locator("[data-check=status]")).to_contain_text("valid")
            screenshot(page, f"verify-document-{label}-1-genuine")
            page.locator("#verifier-steps summary").click()  # the steps an HR system's developer copies
            steps = page.locator("#verifier-steps")
            expect(steps).to_contain_text("did:web:127.0.0.1%3A")
            expect(steps).to_contain_text("statusListIndex")
            expect(steps.get_by_role("link", name="/.well-known/jwks.json")).to_be_visible()
            screenshot(page, f"verify-document-{label}-1b-developer-steps")

            with page.expect_navigation():
                _drop(page, _tampered(genuine), "certificate-edited.pdf")
            result = page.locator("#doc-check-result")
            expect(result).to_have_attribute("data-verdict", "not-genuine")
            expect(result).to_contain_text("This file is not the document issued for this certificate.")
            expect(result.locator("[data-check=hash]")).to_contain_text("Not an exact copy")
            expect(result.locator("[data-check=signature]")).to_contain_text("Digital signature broken")
            screenshot(page, f"verify-document-{label}-2-tampered")
            assert not errors, errors
        finally:
            context.close()


def test_the_check_works_without_javascript(browser, live_server, factory, tmp_path):
    code, genuine = _issued_pdf(factory)
    path = tmp_path / "certificate.pdf"
    path.write_bytes(_tampered(genuine))
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, java_script_enabled=False, locale="en-GB")
    try:
        page = context.new_page()
        page.goto(f"/verify/{code}")
        page.set_input_files("#doc-file", str(path))
        page.click("#doc-check-submit")
        result = page.locator("#doc-check-result")
        expect(result).to_have_attribute("data-verdict", "not-genuine")
        expect(result).to_have_attribute("data-signature", "broken")
        screenshot(page, "verify-document-nojs-tampered")
    finally:
        context.close()
