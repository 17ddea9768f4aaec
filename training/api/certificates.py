"""API: certificates (issue, verify, download, revoke, reissue, ZIP, Open Badges)."""

from __future__ import annotations

from flask import Response, current_app, url_for

from ..certificates import badges, services
from ..extensions import limiter
from . import bp
from .helpers import body, require

LOOKUP_LIMIT = "60 per minute"


@bp.post("/runs/<int:run_id>/certificates")
def issue_run_certificates(run_id: int):
    """Issue every eligible certificate: 200 {issued, skipped}; for more than
    CERT_SYNC_LIMIT certificates, 202 with the job to poll in Location."""
    actor = require("issue_certificates")
    data = body()
    email = bool(data.get("email", False))
    if services.eligible_count(run_id) > current_app.config.get("CERT_SYNC_LIMIT", 50):
        job = services.start_issue(actor, run_id, email=email)
        location = url_for("api.get_job", job_id=job.id)
        return {"job": job.to_dict(), "location": location}, 202, {"Location": location}
    result = services.issue_for_run(actor, run_id)
    if email and result["issued"]:
        result["emailed"] = services.email_holders(actor, run_id)
    return result, 200


@bp.get("/runs/<int:run_id>/certificates")
def list_run_certificates(run_id: int):
    require("issue_certificates")
    return {
        "items": [services.public_view(c) | {"enrolment_id": c.enrolment_id} for c in services.run_certificates(run_id)]
    }


@bp.get("/runs/<int:run_id>/certificates.zip")
def run_certificates_zip(run_id: int):
    actor = require("issue_certificates")
    pieces = services.zip_for_run(actor, run_id)  # streamed from the document store, never held whole
    return Response(
        pieces,
        mimetype="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="run-{run_id}-certificates.zip"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.get("/certificates/<code>")
@limiter.limit(LOOKUP_LIMIT)
def get_certificate(code: str):
    """The public record, with ``sha256`` of the issued document."""
    return services.public_record(code)


@bp.get("/certificates/<code>/pdf")
def certificate_pdf(code: str):
    from .helpers import caller

    filename, data = services.pdf_for(caller(), code)
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store"},
    )


@bp.post("/certificates/<code>/revoke")
def revoke_certificate(code: str):
    actor = require("revoke_certificate")
    certificate = services.revoke(actor, code, body().get("reason"))
    return services.public_view(certificate)


@bp.post("/certificates/<code>/reissue")
def reissue_certificate(code: str):
    actor = require("issue_certificates")
    certificate = services.reissue(actor, code, body().get("holder_name"))
    return services.public_view(certificate), 201, {"Location": url_for("api.get_certificate", code=certificate.code)}


@bp.get("/certificates/<code>/badge")
@limiter.limit(LOOKUP_LIMIT)
def certificate_badge(code: str):
    """The Open Badges 3.0 credential (JSON-LD)."""
    return Response(_json(badges.credential(services.get_by_code(code))), mimetype="application/ld+json")


def _json(data) -> str:
    import json

    return json.dumps(data, ensure_ascii=False)
