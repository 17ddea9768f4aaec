"""Admin pages: certificates (issue per run with progress, revoke, reissue, ZIP and
print downloads, e-mail, templates with preview, renewals)."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from ..catalogue.models import Course
from ..certificates import codes, pdf, services, templates
from ..certificates.forms import TemplateForm
from ..certificates.models import Certificate
from ..enrolment.models import Enrolment
from ..errors import DomainError
from ..extensions import db
from ..jobs import Job
from ..types import org_today
from .routes import admin_required, bp


def _file(data, mimetype: str, filename: str) -> Response:
    """A download; ``data`` is bytes or an iterator of pieces (streamed)."""
    return Response(
        data,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store"},
    )


# --- issuing per run --------------------------------------------------------------------


@bp.get("/runs/<int:run_id>/certificates")
@admin_required
def run_certificates(run_id: int):
    data = services.issue_page(run_id)
    return render_template("admin/certificates/run.html", **data)


@bp.post("/runs/<int:run_id>/certificates/issue")
@admin_required
def issue_run(run_id: int):
    try:
        job = services.start_issue(current_user, run_id, email=bool(request.form.get("email")))
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.run_certificates", run_id=run_id))
    return redirect(url_for("admin.certificate_job", job_id=job.id, run_id=run_id))


@bp.post("/runs/<int:run_id>/certificates/email")
@admin_required
def email_run(run_id: int):
    try:
        job = services.start_email(current_user, run_id, only_new=not request.form.get("all"))
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.run_certificates", run_id=run_id))
    return redirect(url_for("admin.certificate_job", job_id=job.id, run_id=run_id))


@bp.get("/certificates/jobs/<job_id>")
@admin_required
def certificate_job(job_id: str):
    job = db.session.get(Job, job_id[:36])
    if job is None or not job.kind.startswith("certificates."):
        abort(404)
    if request.args.get("format") == "json":
        return jsonify(job.to_dict())
    run_id = request.args.get("run_id", type=int)
    return render_template("admin/certificates/job.html", job=job, run_id=run_id)


@bp.get("/runs/<int:run_id>/certificates.zip")
@admin_required
def run_zip(run_id: int):
    return _file(services.zip_for_run(current_user, run_id), "application/zip", f"run-{run_id}-certificates.zip")


@bp.get("/runs/<int:run_id>/certificates-print.pdf")
@admin_required
def run_print(run_id: int):
    try:
        data = services.print_pdf_for_run(current_user, run_id)
    except DomainError as exc:
        if exc.status != 404 or exc.code == "not_found":
            raise
        flash(exc.message, "warning")
        return redirect(url_for("admin.run_certificates", run_id=run_id))
    return _file(data, "application/pdf", f"run-{run_id}-certificates-print.pdf")


# --- one certificate -------------------------------------------------------------------


@bp.get("/certificates")
@admin_required
def certificates():
    q = (request.args.get("q") or "").strip()[:100]
    stmt = (
        select(Certificate)
        .options(selectinload(Certificate.enrolment).selectinload(Enrolment.run))
        .order_by(Certificate.issued_at.desc(), Certificate.id.desc())
        .limit(100)
    )
    if q:
        code = codes.normalise(q)
        like = f"%{q}%"
        stmt = stmt.where(
            or_(
                Certificate.code == code,
                Certificate.holder_name.ilike(like),
                Certificate.course_code.ilike(like),
                Certificate.course_title.ilike(like),
            )
        )
    rows = list(db.session.scalars(stmt))
    runs = [] if q else services.runs_to_certify()
    return render_template("admin/certificates/list.html", certificates=rows, q=q, runs=runs)


@bp.get("/certificates/<code>")
@admin_required
def certificate(code: str):
    cert = services.get_by_code(code)
    return render_template("admin/certificates/detail.html", cert=cert, view=services.public_view(cert))


@bp.post("/certificates/<code>/revoke")
@admin_required
def revoke(code: str):
    try:
        cert = services.revoke(current_user, code, request.form.get("reason", ""))
        flash(_("Certificate %(code)s revoked.", code=codes.display(cert.code)), "success")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for("admin.certificate", code=codes.normalise(code) or code))


@bp.post("/certificates/<code>/reissue")
@admin_required
def reissue(code: str):
    try:
        new = services.reissue(current_user, code, request.form.get("holder_name") or None)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.certificate", code=codes.normalise(code) or code))
    flash(_("Reissued as %(code)s; the old certificate is marked superseded.", code=codes.display(new.code)), "success")
    return redirect(url_for("admin.certificate", code=new.code))


# --- renewals ----------------------------------------------------------------------------


@bp.get("/certificates/renewals")
@admin_required
def renewals():
    days = request.args.get("days", 90, type=int)
    days = min(max(days or 90, 1), 3650)
    today = org_today()
    from ..qualifications.services import renewals as qualification_renewals

    return render_template(
        "admin/certificates/renewals.html",
        certificates=services.renewals(days),
        days=days,
        today=today,
        soon=today + timedelta(days=60),
        grants=qualification_renewals(days),
    )


@bp.post("/certificates/renewals/remind")
@admin_required
def send_reminders():
    sent = services.send_expiry_reminders(current_user, within_days=60)
    flash(_("Sent %(n)s reminders.", n=sent) if sent else _("Nobody needed a reminder."), "success")
    return redirect(url_for("admin.renewals"))


# --- templates ---------------------------------------------------------------------------


@bp.get("/certificates/templates")
@admin_required
def certificate_templates():
    return render_template("admin/certificates/templates.html", items=templates.list_templates())


def _course_choices():
    courses = db.session.execute(
        select(Course.id, Course.code, Course.title).where(Course.archived.is_(False)).order_by(Course.code)
    ).all()
    return [("", _("— default template —"))] + [(str(i), f"{c} {t}") for i, c, t in courses]


def _read_upload(storage) -> bytes | None:
    if storage is None or not getattr(storage, "filename", ""):
        return None
    data = storage.stream.read(templates.MAX_IMAGE_BYTES + 1)
    return data or None


@bp.route("/certificates/templates/new", methods=["GET", "POST"])
@bp.route("/certificates/templates/<int:template_id>", methods=["GET", "POST"])
@admin_required
def certificate_template(template_id: int | None = None):
    template = templates.get_template(template_id) if template_id else None
    form = TemplateForm(obj=template)
    form.course_id.choices = _course_choices()
    if request.method == "GET":
        if template is None:
            defaults = templates.default_template()
            for field in templates.TEXT_FIELDS:
                if field != "name":
                    getattr(form, field).data = getattr(defaults, field)
            for field in ("primary_color", "accent_color", "paper_color", "language", "border"):
                getattr(form, field).data = getattr(defaults, field)
            form.course_id.data = request.args.get("course_id", "")
        else:
            form.course_id.data = str(template.course_id or "")
    if form.validate_on_submit():
        data = {field: getattr(form, field).data for field in templates.TEXT_FIELDS}
        data.update(
            {
                field: getattr(form, field).data
                for field in ("language", "border", "primary_color", "accent_color", "paper_color", "course_id")
            }
        )
        if template is not None and template.course_id is None:
            data["course_id"] = None
        images = {field: _read_upload(getattr(form, field).data) for field in templates.IMAGE_FIELDS}
        remove = {
            f
            for f, box in (
                ("logo", form.remove_logo),
                ("signatory1_image", form.remove_signatory1_image),
                ("signatory2_image", form.remove_signatory2_image),
            )
            if box.data
        }
        try:
            saved = templates.save_template(current_user, template, data, images, remove)
        except DomainError as exc:
            placed = False
            for field, message in exc.fields.items():
                if hasattr(form, field):
                    getattr(form, field).errors = list(getattr(form, field).errors) + [
                        message if " " in str(message) else exc.message
                    ]
                    placed = True
            if not placed:
                flash(exc.message, "error")
            return render_template("admin/certificates/template_form.html", form=form, template=template), exc.status
        flash(_("Template saved."), "success")
        return redirect(url_for("admin.certificate_template", template_id=saved.id))
    status = 422 if form.errors else 200
    return render_template(
        "admin/certificates/template_form.html", form=form, template=template, samples=templates.SAMPLES
    ), status


@bp.post("/certificates/templates/<int:template_id>/delete")
@admin_required
def delete_certificate_template(template_id: int):
    try:
        templates.delete_template(current_user, templates.get_template(template_id))
        flash(_("Template deleted."), "success")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for("admin.certificate_templates"))


def _preview_pdf(template_id: int) -> bytes:
    template = templates.get_template(template_id)
    sample = request.args.get("sample", "cjk")
    doc = templates.sample_doc(sample if sample in templates.SAMPLES else "cjk")
    return pdf.render(doc, templates.design_of(template), specimen=True)


@bp.get("/certificates/templates/<int:template_id>/preview.pdf")
@admin_required
def certificate_template_preview(template_id: int):
    return Response(
        _preview_pdf(template_id),
        mimetype="application/pdf",
        headers={"Content-Disposition": 'inline; filename="preview.pdf"', "Cache-Control": "no-store"},
    )


@bp.get("/certificates/templates/<int:template_id>/preview.png")
@admin_required
def certificate_template_preview_png(template_id: int):
    png = templates.pdf_to_png(_preview_pdf(template_id))
    if png is None:
        abort(404)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "no-store"})
