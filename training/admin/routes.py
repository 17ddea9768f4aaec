"""Admin pages: dashboard, users, audit log. Each area adds its own admin
pages to ``bp`` in a module of its own (catalogue, enrolments, certificates)."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.services import create_user
from ..errors import DomainError
from ..labels import label
from ..permissions import can
from ..web import page_arg
from . import services
from .forms import UserCreateForm, UserEditForm

bp = Blueprint("admin", __name__)


def admin_required(view):
    """Logged in (else the login page) and an admin (else 403)."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not can(current_user, "manage"):
            abort(403)
        return view(*args, **kwargs)

    return wrapped


# Admin sections of the other areas, shown in the admin navigation when present.
AREA_LINKS = [
    ("admin.courses", "Courses"),
    ("admin.runs", "Runs"),
    ("admin.categories", "Categories"),
    ("admin.enrolments", "Enrolments"),
    ("admin.certificates", "Certificates"),
    ("admin.certificate_templates", "Certificate templates"),
    ("admin.renewals", "Renewals"),
    ("companies.admin_list", "Member companies"),
    ("qualifications.admin_skills", "Skills"),
    ("qualifications.admin_positions", "Positions"),
]


@bp.app_context_processor
def _admin_links():
    from flask import current_app
    from flask_babel import lazy_gettext

    def admin_links():
        return [
            (endpoint, lazy_gettext(label)) for endpoint, label in AREA_LINKS if endpoint in current_app.view_functions
        ]

    return {"admin_links": admin_links}


@bp.get("/")
@admin_required
def dashboard():
    return render_template("admin/dashboard.html", d=services.dashboard())


@bp.get("/users")
@admin_required
def users():
    q, role, page = request.args.get("q", "")[:100], request.args.get("role", ""), page_arg()
    rows, total = services.list_users(q, role, page)
    return render_template("admin/users.html", users=rows, total=total, q=q, role=role, page=page, per_page=50)


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def user_new():
    form = UserCreateForm()
    if form.validate_on_submit():
        try:
            user = create_user(
                email=form.email.data or "",  # DataRequired: given
                name=form.name.data or "",
                role=form.role.data,
                password=form.password.data or None,
                company=form.company.data or None,
                actor=current_user,
            )
        except DomainError as exc:
            field = (
                getattr(
                    form,
                    {"name": "name", "email": "email", "password": "password"}.get(next(iter(exc.fields), ""), ""),
                    None,
                )
                if exc.fields
                else None
            )
            (field.errors.append(exc.message) if field is not None else flash(exc.message, "danger"))
        else:
            flash(_("Created %(name)s (%(role)s).", name=user.display_name, role=label(user.role)), "success")
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def user_edit(user_id):
    user = services.get_user(user_id)
    form = UserEditForm(obj=user, name=user.display_name)
    if form.validate_on_submit():
        try:
            services.update_user(
                current_user,
                user,
                name=form.name.data or "",  # DataRequired: given
                role=form.role.data,
                company=form.company.data,
                phone=form.phone.data,
                active=form.active.data,
            )
        except DomainError as exc:
            flash(exc.message, "danger")
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return render_template("admin/user_form.html", form=form, user=user)


@bp.get("/audit")
@admin_required
def audit():
    args = {k: request.args.get(k, "")[:100] for k in ("action", "actor", "target")}
    page = page_arg()
    entries, total = services.audit_log(
        action=args["action"], actor_q=args["actor"], target_type=args["target"], page=page
    )
    return render_template("admin/audit.html", entries=entries, total=total, page=page, per_page=50, args=args)


# Each area adds its admin pages to bp in its own module.
from . import catalogue, certificates, enrolments  # noqa: E402,F401 - the routes register on the blueprint defined above
