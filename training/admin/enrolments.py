"""Admin pages: enrolments. Rosters per run (seats and waitlist at a glance,
filters, status changes with a reason, approvals, CSV export), enrolling
someone by e-mail, and CSV import (upload, preview, commit)."""

from __future__ import annotations

import csv
import io

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from ..catalogue.queries import load_run_for_page
from ..catalogue.seats import waitlist_position
from ..enrolment import exports, imports, offers, queries, services
from ..enrolment.forms import AdminEnrolForm, ImportCommitForm, ImportForm, ReasonForm, StatusForm
from ..enrolment.notifications import run_moment
from ..errors import DomainError
from ..spreadsheets import safe_cell
from ..types import utcnow
from ..web import safe_next
from .routes import admin_required, bp

STATUS_FILTERS = ("confirmed", "offered", "waitlisted", "pending", "cancelled", "rejected")


def _roster_url(run_id: int, **args) -> str:
    return url_for("admin.run_enrolments", run_id=run_id, **args)


def _back(run_id: int) -> str:
    return safe_next(request.form.get("next")) or _roster_url(run_id)


@bp.get("/enrolments")
@admin_required
def enrolments():
    return render_template("admin/enrolments/index.html", runs=queries.runs_overview())


@bp.get("/runs/<int:run_id>/enrolments")
@admin_required
def run_enrolments(run_id):
    status = request.args.get("status") or None
    if status not in (None, *STATUS_FILTERS):
        status = None
    q = request.args.get("q", "")[:100]
    data = queries.roster(run_id, status, q)
    return render_template(
        "admin/enrolments/roster.html",
        r=data,
        status=status,
        q=q,
        filters=STATUS_FILTERS,
        status_labels=queries.STATUS_LABELS,
        status_form=StatusForm(),
        reason_form=ReasonForm(),
        enrol_form=AdminEnrolForm(),
        now=utcnow(),
        offering=offers.waitlist_for_offers(data.run),
    )


@bp.get("/runs/<int:run_id>/enrolments.csv")
@admin_required
def export_enrolments(run_id):
    rows = exports.export_rows(run_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    # BOM: Excel (also Chinese Excel) opens UTF-8 CSV correctly only with it.
    data = "\ufeff" + buffer.getvalue()
    return Response(
        data.encode("utf-8"),
        mimetype="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="run-{run_id}-enrolments.csv"',
            "Cache-Control": "no-store",
        },
    )


@bp.post("/runs/<int:run_id>/enrolments/add")
@admin_required
def add_enrolment(run_id):
    form = AdminEnrolForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "danger")
        return redirect(_roster_url(run_id))
    try:
        enrolment, created = services.enrol_person(
            current_user,
            run_id,
            form.email.data or "",  # DataRequired: given
            form.name.data or "",
            company=form.company.data,
            phone=form.phone.data,
        )
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(_roster_url(run_id))
    label = queries.status_label(enrolment.status)
    if created:
        flash(
            _(
                "Created an account for %(email)s and enrolled them: %(status)s.",
                email=enrolment.user.email,
                status=label,
            ),
            "success",
        )
    else:
        flash(_("Enrolled %(name)s: %(status)s.", name=enrolment.user.display_name, status=label), "success")
    return redirect(_roster_url(run_id))


@bp.post("/enrolments/<int:enrolment_id>/status")
@admin_required
def enrolment_status(enrolment_id):
    form = StatusForm()
    enrolment = queries.get_enrolment(enrolment_id)
    run_id = enrolment.run_id
    if not form.validate_on_submit():
        flash(_("Choose a status and give a reason."), "danger")
        return redirect(_back(run_id))
    try:
        enrolment = services.change_status(
            current_user, enrolment_id, form.status.data, form.reason.data or ""
        )  # DataRequired
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(_back(run_id))
    flash(
        _(
            "%(name)s is now %(status)s.",
            name=enrolment.user.display_name,
            status=queries.status_label(enrolment.status),
        ),
        "success",
    )
    return redirect(_back(run_id))


@bp.post("/enrolments/<int:enrolment_id>/offer")
@admin_required
def enrolment_offer(enrolment_id):
    """Offer a free seat (after the enrolment deadline) to the next on the waitlist."""
    form = ReasonForm()
    enrolment = queries.get_enrolment(enrolment_id)
    run_id = enrolment.run_id
    if not form.validate_on_submit():
        flash(_("The form expired. Please try again."), "danger")
        return redirect(_back(run_id))
    try:
        enrolment = offers.offer_seat(current_user, enrolment_id)
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(_back(run_id))
    assert enrolment.offer_expires_at is not None  # an offered seat has its deadline
    flash(
        _(
            "Offered the seat to %(name)s until %(until)s; they have been e-mailed a link to accept it.",
            name=enrolment.user.display_name,
            until=run_moment(enrolment.offer_expires_at, enrolment.run),
        ),
        "success",
    )
    return redirect(_back(run_id))


@bp.post("/enrolments/<int:enrolment_id>/approve")
@admin_required
def enrolment_approve(enrolment_id):
    return _decide(enrolment_id, True)


@bp.post("/enrolments/<int:enrolment_id>/reject")
@admin_required
def enrolment_reject(enrolment_id):
    return _decide(enrolment_id, False)


def _decide(enrolment_id: int, approve: bool):
    form = ReasonForm()
    enrolment = queries.get_enrolment(enrolment_id)
    run_id = enrolment.run_id
    if not form.validate_on_submit():
        flash(_("The form expired. Please try again."), "danger")
        return redirect(_back(run_id))
    try:
        enrolment = services.decide(current_user, enrolment_id, approve, form.reason.data or "")
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(_back(run_id))
    if not approve:
        flash(
            _("Declined the request of %(name)s; they have been told why.", name=enrolment.user.display_name), "success"
        )
    elif enrolment.status == "confirmed":
        flash(_("Approved: %(name)s has a confirmed place.", name=enrolment.user.display_name), "success")
    else:
        flash(
            _(
                "Approved, but the run is full: %(name)s is on the waitlist at position %(n)s.",
                name=enrolment.user.display_name,
                n=waitlist_position(enrolment),
            ),
            "warning",
        )
    return redirect(_back(run_id))


# --- CSV import: upload -> preview -> commit ------------------------------------------


@bp.route("/runs/<int:run_id>/import", methods=["GET", "POST"])
@admin_required
def import_enrolments(run_id):
    run = load_run_for_page(run_id)
    form = ImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        upload.stream.seek(0, 2)
        size = upload.stream.tell()
        upload.stream.seek(0)
        data = upload.stream.read(imports.MAX_BYTES + 1)
        try:
            rows = imports.read_csv(data, size)
            plan = imports.preview(current_user, run_id, rows)
        except DomainError as exc:
            form.file.errors = [exc.message]
            return render_template("admin/enrolments/import.html", run=run, form=form), 422
        token = imports.stash(current_user, run_id, upload.filename or "import.csv", rows)
        return render_template(
            "admin/enrolments/import_preview.html",
            run=run,
            plan=plan,
            filename=upload.filename,
            commit_form=ImportCommitForm(token=token),
        )
    status = 422 if form.errors else 200
    return render_template("admin/enrolments/import.html", run=run, form=form), status


@bp.post("/runs/<int:run_id>/import/commit")
@admin_required
def import_commit(run_id):
    form = ImportCommitForm()
    if not form.validate_on_submit():
        flash(_("The form expired. Please upload the file again."), "danger")
        return redirect(url_for("admin.import_enrolments", run_id=run_id))
    try:
        _filename, rows = imports.unstash(current_user, run_id, form.token.data or "")
        result = imports.commit(current_user, run_id, rows, source="import")
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("admin.import_enrolments", run_id=run_id))
    imports.discard(form.token.data or "")
    flash(
        _(
            "Import done: %(enrolled)s confirmed, %(waitlisted)s waitlisted, %(existing)s unchanged; "
            "%(created)s new accounts.",
            enrolled=result.enrolled,
            waitlisted=result.waitlisted,
            existing=result.existing,
            created=result.accounts_created,
        ),
        "success",
    )
    if result.enrolled or result.waitlisted:
        flash(
            ngettext(
                "%(num)s trainee is being told by e-mail.",
                "%(num)s trainees are being told by e-mail.",
                result.enrolled + result.waitlisted,
            ),
            "info",
        )
    return redirect(_roster_url(run_id))
