"""Company pages: a coordinator's people, enrolments, attendance, certificates
and report (admins see every company's); the admins' company list and review
page; the invitation page. Routes parse, call one service, render or redirect.

Every ``/companies/<id>`` page loads the company with
``services.visible_company``: another company's coordinator gets 404."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, user_logged_in

from ..enrolment.imports import MAX_BYTES
from ..enrolment.queries import status_label
from ..errors import DomainError
from ..permissions import can, is_admin, is_coordinator
from . import reports, services
from .forms import (
    AllocationForm,
    CancelForm,
    CompanyForm,
    EnrolForm,
    ImportForm,
    JoinForm,
    MergeForm,
    PersonForm,
    ResolveForm,
)

bp = Blueprint("companies", __name__)


@user_logged_in.connect
def _join_invited_company(_app, user, **_extra):
    """An invited address joins its company when the person signs in or registers."""
    services.link_invitations(user)


@bp.context_processor
def _helpers():
    return {"can": can, "status_label": status_label}


def _fail(exc: DomainError) -> None:
    flash(exc.message, "danger")
    for row in (exc.extra.get("rows") or [])[:20]:
        flash(
            _(
                "Row %(row)s (%(email)s): %(message)s",
                row=row["row"],
                email=row.get("email") or "",
                message=row["message"],
            ),
            "danger",
        )


# --- a company's pages (its coordinators, admins) -------------------------------------------


@bp.get("/company")
@login_required
def mine():
    if is_admin(current_user):
        return redirect(url_for("companies.admin_list"))
    return redirect(url_for("companies.home", company_id=services.company_of(current_user).id))


@bp.get("/companies/<int:company_id>")
@login_required
def home(company_id):
    company = services.visible_company(company_id, current_user)
    allocations = services.company_allocations(company.id, current_user)
    form = AllocationForm()
    if can(current_user, "manage_companies"):
        form.run_id.choices = [
            (c.run.id, f"{c.run.course.code} {c.run.course.title} · {c.run.starts_on}")
            for c in services.runs_to_enrol(company.id, current_user)
        ]
    return render_template(
        "companies/home.html",
        company=company,
        allocations=allocations,
        usage=services.allocation_usage(allocations),
        form=form,
        coordinator_form=PersonForm(),
    )


@bp.post("/companies/<int:company_id>/allocations")
@login_required
def reserve(company_id):
    services.visible_company(company_id, current_user)
    form = AllocationForm()
    form.run_id.choices = None
    run_id = request.form.get("run_id", type=int) or 0
    data = {
        "company_id": company_id,
        "seats": request.form.get("seats", type=int),
        "overflow": bool(request.form.get("overflow")),
    }
    if request.form.get("release_on"):
        data["release_at"] = request.form["release_on"] + "T00:00:00"
    try:
        services.reserve_seats(current_user, run_id, data)
        flash(_("Seats reserved."), "success")
    except DomainError as exc:
        _fail(exc)
    return redirect(url_for("companies.home", company_id=company_id))


@bp.post("/companies/<int:company_id>/coordinators")
@login_required
def add_coordinator(company_id):
    form = PersonForm()
    try:
        services.add_coordinator(current_user, company_id, form.email.data, form.name.data)
        flash(_("Coordinator added; an invitation is on its way."), "success")
    except DomainError as exc:
        _fail(exc)
    return redirect(url_for("companies.home", company_id=company_id))


@bp.get("/companies/<int:company_id>/people")
@login_required
def people(company_id):
    company = services.visible_company(company_id, current_user)
    return render_template(
        "companies/people.html",
        company=company,
        people=services.people(company.id, current_user),
        form=PersonForm(),
        import_form=ImportForm(),
        may_manage=can(current_user, "manage_company_people", company),
    )


@bp.post("/companies/<int:company_id>/people")
@login_required
def add_person(company_id):
    form = PersonForm()
    try:
        person, created = services.add_person(current_user, company_id, form.email.data, form.name.data)
        flash(
            _("%(name)s was added and invited.", name=person.name)
            if created
            else _("%(email)s already has an account: it joins your company when signing in next.", email=person.email),
            "success",
        )
    except DomainError as exc:
        _fail(exc)
    return redirect(url_for("companies.people", company_id=company_id))


@bp.post("/companies/<int:company_id>/people/import")
@login_required
def import_people(company_id):
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        services.visible_company(company_id, current_user, "manage_company_people")
        flash(_("Choose a CSV file to import."), "warning")
        return redirect(url_for("companies.people", company_id=company_id))
    data = upload.stream.read(MAX_BYTES + 1)
    try:
        outcome = services.import_people(current_user, company_id, data)
        flash(
            _(
                "Imported: %(created)s new, %(invited)s invited, %(already)s already in the company.",
                created=outcome.created,
                invited=outcome.invited,
                already=outcome.already,
            ),
            "success",
        )
    except DomainError as exc:
        _fail(exc)
    return redirect(url_for("companies.people", company_id=company_id))


@bp.get("/companies/<int:company_id>/enrolments")
@login_required
def enrolments(company_id):
    company = services.visible_company(company_id, current_user)
    status = request.args.get("status") or None
    form = EnrolForm()
    choices = services.runs_to_enrol(company.id, current_user)
    form.run_id.choices = [
        (
            c.run.id,
            _(
                "%(code)s %(title)s · %(date)s · reserved %(reserved)s, public %(public)s",
                code=c.run.course.code,
                title=c.run.course.title,
                date=c.run.starts_on,
                reserved=c.reserved,
                public=c.public,
            ),
        )
        for c in choices
    ]
    return render_template(
        "companies/enrolments.html",
        company=company,
        status=status,
        enrolments=services.company_enrolments(company.id, current_user, status=status),
        form=form,
        cancel_form=CancelForm(),
        choices=choices,
        may_enrol=is_coordinator(current_user),
    )


@bp.post("/companies/<int:company_id>/enrolments")
@login_required
def enrol(company_id):
    company = services.visible_company(company_id, current_user)
    try:
        enrolment = services.enrol_person(
            current_user,
            request.form.get("run_id", type=int) or 0,
            request.form.get("email", ""),
            request.form.get("name", ""),
            company_id=company.id,
        )
        flash(
            _("%(name)s is %(status)s.", name=enrolment.user.display_name, status=status_label(enrolment.status)),
            "success",
        )
    except DomainError as exc:
        _fail(exc)
    return redirect(url_for("companies.enrolments", company_id=company.id))


@bp.post("/companies/<int:company_id>/enrolments/<int:enrolment_id>/cancel")
@login_required
def cancel(company_id, enrolment_id):
    company = services.visible_company(company_id, current_user)
    try:
        services.cancel_for_company(current_user, enrolment_id, request.form.get("reason", ""), company.id)
        flash(_("The enrolment was cancelled."), "success")
    except DomainError as exc:
        if exc.status == 404:
            abort(404)
        _fail(exc)
    return redirect(url_for("companies.enrolments", company_id=company.id))


@bp.get("/companies/<int:company_id>/attendance")
@login_required
def attendance(company_id):
    company = services.visible_company(company_id, current_user)
    return render_template(
        "companies/attendance.html", company=company, rows=services.company_attendance(company.id, current_user)
    )


@bp.get("/companies/<int:company_id>/certificates")
@login_required
def certificates(company_id):
    from ..types import org_today

    company = services.visible_company(company_id, current_user)
    return render_template(
        "companies/certificates.html",
        company=company,
        today=org_today(),
        certificates=services.company_certificates(company.id, current_user),
    )


@bp.get("/companies/<int:company_id>/qualifications")
@login_required
def qualifications(company_id):
    from ..types import org_today

    company = services.visible_company(company_id, current_user)
    return render_template(
        "companies/qualifications.html",
        company=company,
        q=services.company_qualifications(company.id, current_user, org_today()),
    )


@bp.get("/companies/<int:company_id>/report")
@login_required
def report(company_id):
    company = services.visible_company(company_id, current_user)
    try:
        first, last = reports.parse_period(request.args.get("from"), request.args.get("to"))
    except DomainError as exc:
        flash(exc.message, "danger")
        first, last = reports.parse_period(None, None)
    figures = reports.company_report(company, first, last)
    chart = reports.bar_chart_svg(figures.monthly, title=_("Confirmed enrolments per month"))
    return render_template("companies/report.html", company=company, report=figures, chart=chart)


@bp.get("/companies/<int:company_id>/report.xlsx")
@login_required
def report_xlsx(company_id):
    company = services.visible_company(company_id, current_user)
    first, last = reports.parse_period(request.args.get("from"), request.args.get("to"))
    data = reports.to_xlsx(company, reports.company_report(company, first, last))
    name = f"report-{company.code}-{first.isoformat()}-{last.isoformat()}.xlsx"
    return Response(
        data,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- admins -------------------------------------------------------------------------------


def _admin():
    if not can(current_user, "manage_companies"):
        abort(403)


@bp.route("/admin/companies", methods=["GET", "POST"])
@login_required
def admin_list():
    _admin()
    form = CompanyForm()
    if form.validate_on_submit():
        data = {
            k: getattr(form, k).data or ""
            for k in (
                "code",
                "name",
                "name_zh",
                "credit_code",
                "tier",
                "address",
                "contact_name",
                "contact_email",
                "contact_phone",
            )
        }
        try:
            company = services.create_company(current_user, data)
            flash(_("Company %(code)s added.", code=company.code), "success")
            return redirect(url_for("companies.home", company_id=company.id))
        except DomainError as exc:
            _fail(exc)
    elif request.method == "POST":
        flash(_("Check the form: some fields are missing or invalid."), "danger")
    return render_template("companies/admin_list.html", companies=services.list_companies(current_user), form=form)


@bp.route("/admin/companies/review", methods=["GET", "POST"])
@login_required
def admin_review():
    _admin()
    companies = services.list_companies(current_user)
    form = ResolveForm()
    form.company_id.choices = [(c.id, f"{c.code} {c.name}") for c, _n in companies]
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                n = services.resolve_free_text(
                    current_user, form.key.data or "", form.company_id.data
                )  # DataRequired: set
                flash(_("%(n)s people were put into the company.", n=n), "success")
            except DomainError as exc:
                _fail(exc)
        else:
            flash(_("Check the form: some fields are missing or invalid."), "danger")
        return redirect(url_for("companies.admin_review"))
    merge = MergeForm()
    merge.into.choices = form.company_id.choices
    return render_template(
        "companies/admin_review.html",
        unresolved=services.unresolved_free_text(current_user),
        unreviewed=[(c, n) for c, n in companies if not c.reviewed],
        form=form,
        merge=merge,
    )


@bp.post("/admin/companies/<int:company_id>/merge")
@login_required
def admin_merge(company_id):
    _admin()
    try:
        target = services.merge_company(current_user, company_id, request.form.get("into", type=int) or 0)
        flash(_("Merged into %(code)s.", code=target.code), "success")
    except DomainError as exc:
        _fail(exc)
    return redirect(url_for("companies.admin_review"))


@bp.post("/admin/companies/<int:company_id>/reviewed")
@login_required
def admin_reviewed(company_id):
    _admin()
    try:
        services.update_company(current_user, company_id, {"reviewed": True})
        flash(_("Marked as reviewed."), "success")
    except DomainError as exc:
        _fail(exc)
    return redirect(url_for("companies.admin_review"))


# --- invitations -----------------------------------------------------------------------------


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def join(token):
    invitation = services.invitation_for_token(token)
    form = JoinForm()
    if request.method == "GET":
        form.name.data = invitation.name
    if form.validate_on_submit():
        try:
            user = services.accept_invitation(token, form.name.data, form.password.data)
        except DomainError as exc:
            if exc.code == "log_in_instead":
                flash(exc.message, "info")
                return redirect(url_for("accounts.login"))
            _fail(exc)
        else:
            login_user(user)
            flash(_("Welcome: you are one of the people of %(company)s.", company=invitation.company.name), "success")
            return redirect(url_for("catalogue.index"))
    return render_template("companies/join.html", form=form, invitation=invitation)
