from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from ..errors import DomainError
from ..extensions import db, limiter
from ..urls import external_url
from ..web import safe_next
from . import services
from .forms import (
    ConfirmForm,
    LoginForm,
    PasswordForm,
    RegisterForm,
    ResetForm,
    ResetRequestForm,
    SettingsForm,
    TokenForm,
)
from .models import ApiToken

bp = Blueprint("accounts", __name__)


def _login(user, remember=False):
    # A fresh session at login: nothing from before survives (no session fixation).
    # Never store the current_user proxy itself: it would then resolve to itself
    # forever (the password change crashed the worker this way).
    user = user._get_current_object() if hasattr(user, "_get_current_object") else user
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    services.start_session(user)
    login_user(user, remember=remember)


def _logout():
    """End this login on the server and in the browser (session and remember cookie)."""
    services.end_session(current_user._get_current_object())
    lang = session.get("lang")
    session.clear()
    # After clear(): logout_user() notes in the session that the remember cookie
    # is to be deleted; clearing after it wiped that note and kept the cookie.
    logout_user()
    if lang:
        session["lang"] = lang


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute;50/hour", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("catalogue.index"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = services.authenticate(form.email.data or "", form.password.data or "", source=request.remote_addr)
        if user is None:
            flash(_("The e-mail or password is not right, or the account is locked for a while."), "danger")
        else:
            _login(user, remember=form.remember.data)
            flash(_("Welcome, %(name)s.", name=user.display_name), "success")
            return redirect(safe_next(form.next.data) or url_for("accounts.home"))
    return render_template("accounts/login.html", form=form)


@bp.get("/home")
@login_required
def home():
    if current_user.role == "admin":
        return redirect(url_for("admin.dashboard"))
    if current_user.role == "trainer":
        return redirect(url_for("attendance.today"))
    return redirect(url_for("dashboard.my_training"))


@bp.post("/logout")
@login_required
def logout():
    _logout()
    flash(_("You are logged out."), "info")
    response = redirect(url_for("catalogue.index"))
    # A shared computer: the next person must not open the last roster the service worker kept (offline),
    # nor send the marks still waiting in localStorage as theirs. Cookies stay (the check-in device id).
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("5/minute;30/hour", methods=["POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("catalogue.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            locale = str(request.accept_languages.best_match(["en", "zh"]) or "en")
            email = services.register(
                email=form.email.data or "",  # DataRequired: given
                name=form.name.data or "",
                password=form.password.data or "",
                company=form.company.data or None,
                locale=session.get("lang") or locale,
                confirm_url_for=lambda token: external_url("accounts.confirm_registration", token=token),
                login_url=external_url("accounts.login"),
                reset_url=external_url("accounts.forgot_password"),
            )
        except DomainError as exc:
            target = getattr(form, next(iter(exc.fields), ""), None) if exc.fields else None
            if target is not None:
                target.errors.append(_(exc.message))
            else:
                flash(_(exc.message), "danger")
        else:
            # The same answer whether or not the address has an account (the e-mail differs).
            flash(_("We have sent an e-mail to %(email)s. Open the link in it to finish.", email=email), "info")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/register.html", form=form)


@bp.route("/register/confirm/<token>", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def confirm_registration(token):
    """The e-mailed link: a page with a button (mail scanners follow links, they do not press buttons)."""
    pending = services.pending_registration(token)
    if pending is None:
        flash(_("This link is invalid or expired. Please register again."), "danger")
        return redirect(url_for("accounts.register"))
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            user = services.confirm_registration(token)
        except DomainError as exc:
            if exc.code != "email_taken":
                raise
            flash(_("This account exists already. Please log in."), "info")
            return redirect(url_for("accounts.login"))
        _login(user)
        flash(_("Your account is ready. Find a course and enrol."), "success")
        return redirect(url_for("catalogue.index"))
    return render_template("accounts/register_confirm.html", form=form, pending=pending)


@bp.get("/lang/<code>")
def set_language(code):
    from flask import current_app

    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
        if current_user.is_authenticated:
            services.set_locale(current_user, code)
    return redirect(safe_next(request.args.get("next")) or url_for("catalogue.index"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def settings():
    form = SettingsForm(obj=current_user, name=current_user.display_name)
    if form.validate_on_submit():
        try:
            services.update_settings(
                current_user,
                name=form.name.data or "",  # DataRequired: given
                company=form.company.data,
                phone=form.phone.data,
                locale=form.locale.data,
            )
        except DomainError as exc:
            form.name.errors.append(_(exc.message))  # type: ignore[attr-defined]  # a list at run time (the stubs say Sequence)
        else:
            if form.locale.data:
                session["lang"] = form.locale.data
            else:
                session.pop("lang", None)
            flash(_("Your settings are saved."), "success")
            return redirect(url_for("accounts.settings"))
    tokens = list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == current_user.id).order_by(ApiToken.created_at.desc())
        )
    )
    return render_template(
        "accounts/settings.html",
        form=form,
        password_form=PasswordForm(),
        token_form=TokenForm(),
        confirm=ConfirmForm(),
        tokens=tokens,
    )


@bp.post("/account/password")
@login_required
def change_password():
    form = PasswordForm()
    if form.validate_on_submit():
        if services.authenticate(current_user.email, form.current.data or "", source=request.remote_addr) is None:
            flash(_("The current password is not right."), "danger")
        else:
            try:
                services.set_password(current_user, form.password.data or "")
            except DomainError as exc:
                flash(_(exc.message), "danger")
            else:
                _login(current_user)
                flash(_("Password changed. Other sessions were logged out."), "success")
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(error, "danger")
    return redirect(url_for("accounts.settings"))


@bp.post("/account/tokens")
@login_required
@limiter.limit("10/hour")
def create_token():
    form = TokenForm()
    if form.validate_on_submit():
        token = services.create_token(current_user, form.name.data or "")
        flash(_("Your new API token (shown only once): %(token)s", token=token), "warning")
    return redirect(url_for("accounts.settings"))


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id):
    if ConfirmForm().validate_on_submit():
        services.revoke_token(current_user, token_id)
        flash(_("The token is revoked."), "info")
    return redirect(url_for("accounts.settings"))


@bp.post("/account/logout-everywhere")
@login_required
def logout_everywhere():
    if ConfirmForm().validate_on_submit():
        services.end_all_sessions(current_user)
        _logout()
        flash(_("You are logged out on every device and all your API tokens are revoked."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit("5/minute;20/hour", methods=["POST"])
def forgot_password():
    form = ResetRequestForm()
    if form.validate_on_submit():
        services.request_password_reset(
            form.email.data or "", lambda token: external_url("accounts.reset_password", token=token)
        )
        flash(_("If an account exists for this address, we have sent a link to reset the password."), "info")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/forgot.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def reset_password(token):
    user = services.user_for_reset_token(token)
    if user is None:
        flash(_("This reset link is invalid, used or expired. Ask for a new one."), "danger")
        return redirect(url_for("accounts.forgot_password"))
    form = ResetForm()
    if form.validate_on_submit():
        try:
            services.reset_password(token, form.password.data or "")
        except DomainError as exc:
            if exc.code == "invalid_link":  # spent meanwhile (the same link used at the same moment)
                flash(_(exc.message), "danger")
                return redirect(url_for("accounts.forgot_password"))
            form.password.errors.append(_(exc.message))  # type: ignore[attr-defined]  # a list at run time (the stubs say Sequence)
        else:
            flash(_("Your password is set. Please log in."), "success")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/reset.html", form=form)
