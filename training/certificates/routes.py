"""Public certificate pages: verification (anyone, rate-limited), the holder's list, downloads."""
from __future__ import annotations

import json

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..errors import NotFound
from ..extensions import limiter
from . import badges, codes, services

bp = Blueprint("certificates", __name__)

LOOKUP_LIMIT = "30 per minute;300 per hour"


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
        error = _("This is not a valid certificate code. A code has 28 letters and digits, "
                  "like 7K3M-QX9T-…; check for typing mistakes.")
        return render_template("certificates/verify_form.html", code_text=text[:80], error=error), 422
    return redirect(url_for("certificates.verify", code=code))


@bp.get("/verify/<code>")
@limiter.limit(LOOKUP_LIMIT)
def verify(code: str):
    canonical = codes.normalise(code)
    if canonical is not None and canonical != code:
        return redirect(url_for("certificates.verify", code=canonical), 301)
    try:
        certificate = services.get_by_code(code)
    except NotFound as exc:
        return render_template("certificates/verify_form.html", code_text=code[:80], error=exc.message), 404
    view = services.public_view(certificate)
    response = Response(render_template("certificates/verify.html", cert=view))
    response.headers["Cache-Control"] = "no-store"  # revocation shows at once
    return response


@bp.get("/verify/<code>/badge.json")
@limiter.limit(LOOKUP_LIMIT)
def badge(code: str):
    certificate = services.get_by_code(code)
    body = json.dumps(badges.credential(certificate), ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/ld+json", headers={"Cache-Control": "no-store"})


@bp.get("/verify/<code>/badge.jwt")
@limiter.limit(LOOKUP_LIMIT)
def badge_jwt(code: str):
    certificate = services.get_by_code(code)
    return Response(badges.credential_jwt(certificate), mimetype="application/vc+jwt",
                    headers={"Cache-Control": "no-store"})


@bp.get("/my/certificates")
@login_required
def mine():
    certificates = services.certificates_of(current_user)
    return render_template("certificates/mine.html", certificates=certificates)


@bp.get("/certificates/<code>.pdf")
@login_required
def download(code: str):
    filename, data = services.pdf_for(current_user, code)
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


@bp.cli.command("remind-expiring")
def remind_expiring_command():
    """E-mail holders whose certificate expires within 60 days (once each)."""
    import click

    from ..urls import require_public_base_url
    require_public_base_url()
    click.echo(f"Sent {services.send_expiry_reminders(None, within_days=60)} reminders.")
