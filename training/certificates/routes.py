"""Public certificate pages: verification (anyone, rate-limited), the holder's list, downloads."""

from __future__ import annotations

import json

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..errors import NotFound
from ..extensions import csrf, limiter
from ..web import same_origin_only
from . import badges, codes, pages, services

bp = Blueprint("certificates", __name__)

LOOKUP_LIMIT = "30 per minute;300 per hour"
PUBLIC_DOCUMENT = {"Access-Control-Allow-Origin": "*"}  # verifiers may fetch credentials and keys from any origin


def _pdf_response(filename: str, data: bytes, inline: bool = False) -> Response:
    response = Response(data, mimetype="application/pdf")
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/verify")
@limiter.limit(LOOKUP_LIMIT)
def verify_form():
    text = request.args.get("code", "")
    if not text.strip():
        return render_template("certificates/verify_form.html", code_text="", error=None)
    code = codes.normalise(text)
    if code is None:
        error = _(
            "This is not a valid certificate code. A code has 28 letters and digits, "
            "like 7K3M-QX9T-…; check for typing mistakes."
        )
        return render_template("certificates/verify_form.html", code_text=text[:80], error=error), 422
    return redirect(url_for("certificates.verify", code=code))


@bp.get("/verify/<code>")
@limiter.limit(LOOKUP_LIMIT)
def verify(code: str):
    canonical = codes.normalise(code)
    if canonical is not None and canonical != code:
        return redirect(url_for("certificates.verify", code=canonical), 301)
    try:
        response = pages.verification_response(code)
    except NotFound as exc:
        return render_template("certificates/verify_form.html", code_text=code[:80], error=exc.message), 404
    response.headers["Cache-Control"] = "no-store"  # revocation shows at once
    return response


CHECK_MAX_BYTES = 20 * 1024 * 1024


def _uploaded_pdf() -> tuple[bytes, str, str | None]:
    """The uploaded file's bytes (at most CHECK_MAX_BYTES), its name, and an error to show."""
    upload = request.files.get("document")
    data = upload.stream.read(CHECK_MAX_BYTES + 1) if upload is not None else b""
    if upload is None or not data:
        return b"", "", _("Choose a PDF file to check.")
    if len(data) > CHECK_MAX_BYTES:
        return b"", "", _("Choose a PDF file of at most 20 MB.")
    return data, (upload.filename or "")[:120], None


@bp.post("/verify")
@limiter.limit(LOOKUP_LIMIT)
@csrf.exempt  # changes nothing and acts for no one: see web.same_origin_only
@same_origin_only
def check_any_document():
    """A PDF dropped on the verification form, without a code: found by its hash
    (or by the code it names), then checked as on the certificate's page."""
    data, filename, error = _uploaded_pdf()
    if error:
        return render_template("certificates/verify_form.html", code_text="", error=None, check_error=error), 422
    page = services.check_any_document(data)
    if page["cert"] is None:
        body = render_template("certificates/verify_form.html", code_text="", error=None, unknown_file=page["check"])
    else:
        body = render_template("certificates/verify.html", filename=filename, **page)
    return Response(body, headers={"Cache-Control": "no-store"})


@bp.post("/verify/<code>")
@limiter.limit(LOOKUP_LIMIT)
@csrf.exempt  # changes nothing and acts for no one: see web.same_origin_only
@same_origin_only
def check_document(code: str):
    """A PDF dropped onto (or chosen on) the verification page: compared with the
    issued document and its signature checked, here; the file is not kept."""
    data, filename, error = _uploaded_pdf()
    try:
        if error:
            page, status = services.verification_page(code), 422
        else:
            page, status = services.check_document(code, data), 200
    except NotFound as exc:
        return render_template("certificates/verify_form.html", code_text=code[:80], error=exc.message), 404
    body = render_template("certificates/verify.html", filename=filename, check_error=error, **page)
    return Response(body, status=status, headers={"Cache-Control": "no-store"})


@bp.get("/verify/<code>/badge.json")
@limiter.limit(LOOKUP_LIMIT)
def badge(code: str):
    certificate = services.get_by_code(code)
    body = json.dumps(badges.credential(certificate), ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/ld+json", headers={**PUBLIC_DOCUMENT, "Cache-Control": "no-store"})


@bp.get("/verify/<code>/badge.jwt")
@limiter.limit(LOOKUP_LIMIT)
def badge_jwt(code: str):
    return Response(
        services.credential_jwt(code),
        mimetype="application/vc+jwt",
        headers={**PUBLIC_DOCUMENT, "Cache-Control": "no-store"},
    )


# --- what a relying party fetches: keys, the issuer's DID, status lists ---------------


@bp.get("/.well-known/jwks.json")
def jwks():
    """Every key that ever signed a credential here (current and retired), with kid."""
    return Response(
        json.dumps(badges.jwks(), indent=2),
        mimetype="application/jwk-set+json",
        headers={**PUBLIC_DOCUMENT, "Cache-Control": "public, max-age=60"},
    )


@bp.get("/.well-known/did.json")
def did_document():
    """The did:web document of the issuer (the same keys as verification methods)."""
    return Response(
        json.dumps(badges.did_document(), indent=2),
        mimetype="application/did+json",
        headers={**PUBLIC_DOCUMENT, "Cache-Control": "public, max-age=60"},
    )


@bp.get("/credentials/status/<int:number>")
@limiter.limit("120 per minute")
def status_list(number: int):
    """A Bitstring Status List credential (revocation), signed as a VC-JWT, made
    from the database on each request: a revocation shows at once."""
    if number < 1 or number > badges.list_count():
        raise NotFound(_("No such status list."))
    token = badges.sign_jwt(badges.status_list_credential(number))
    return Response(token, mimetype="application/vc+jwt", headers={**PUBLIC_DOCUMENT, "Cache-Control": "no-store"})


@bp.get("/my/certificates")
@login_required
def mine():
    certificates = services.certificates_of(current_user)
    return render_template("certificates/mine.html", certificates=certificates)


@bp.get("/certificates/<code>.pdf")
@login_required
def download(code: str):
    """The issued document: the same bytes on every download."""
    filename, data = services.pdf_for(current_user, code)
    return _pdf_response(filename, data)


@bp.get("/certificates/<code>/status.pdf")
@login_required
def download_status_copy(code: str):
    """A copy stamped with the current status (revoked, superseded, expired)."""
    filename, data = services.status_pdf_for(current_user, code)
    return _pdf_response(filename, data)


# flask --app wsgi certificates auto-issue | remind-expiring (for cron or a scheduler)
@bp.cli.command("auto-issue")
def auto_issue_command():
    """Issue the certificates of ended runs whose course issues automatically."""
    import click

    from ..urls import require_public_base_url

    require_public_base_url()  # certificates and their e-mails carry links
    summary = services.auto_issue_due()
    click.echo(f"Issued {sum(summary.values())} certificates in {len(summary)} runs.")


@bp.cli.command("store-documents")
def store_documents_command():
    """Make and store the issued document of every certificate that has none yet
    (certificates issued before documents were stored); safe to run again."""
    import click
    from sqlalchemy import select

    from ..extensions import db
    from ..urls import require_public_base_url
    from .models import Certificate

    require_public_base_url()  # the documents' QR codes carry links
    done = 0
    while True:
        batch = list(
            db.session.scalars(
                select(Certificate).where(Certificate.document_sha256.is_(None)).order_by(Certificate.id).limit(200)
            )
        )
        if not batch:
            break
        services.ensure_documents(batch)
        done += len(batch)
        click.echo(f"{done} documents stored")
    click.echo(f"Done: {done} documents stored.")


@bp.cli.command("remind-expiring")
def remind_expiring_command():
    """E-mail holders whose certificate expires within 60 days (once each)."""
    import click

    from ..urls import require_public_base_url

    require_public_base_url()
    click.echo(f"Sent {services.send_expiry_reminders(None, within_days=60)} reminders.")
