"""Report pages: the dashboard and its XLSX, the feedback survey, the
question set and the scheduled-report subscriptions (admins)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..errors import DomainError
from ..figures import metrics
from ..permissions import can
from . import charts, exports, feedback, scheduled, services

bp = Blueprint("reports", __name__)


@bp.app_context_processor
def _surveys():
    # "My training" lists the trainee's open surveys (the enrolment area knows nothing of reports).
    return {"open_surveys": feedback.open_surveys}


@bp.app_template_filter("pct")
def _pct(value) -> str:
    """A rate (0-1) as a whole percentage; a dash when undefined."""
    return "–" if value is None else f"{value * 100:.0f}%"


@bp.app_template_filter("dec")
def _dec(value) -> str:
    return "–" if value is None else f"{value:.1f}"


@bp.app_template_filter("org_time")
def _org_time(value) -> str:
    """A moment in the organisation's time zone, in the page's language."""
    from ..mail import local_time
    from ..types import org_tz

    return local_time(value, org_tz())


def _admin() -> None:
    if not can(current_user, "manage_reports"):
        abort(403)


@bp.get("/reports")
@login_required
def dashboard():
    d = services.dashboard(current_user, request.args)
    args = {k: v for k, v in request.args.items() if v}
    return render_template("reports/dashboard.html", d=d, charts=charts.dashboard_charts(d), args=args)


@bp.get("/reports/export.xlsx")
@login_required
def export():
    d = services.dashboard(current_user, request.args)
    name = f"training-report-{d.scope.date_from}-{d.scope.date_to}.xlsx"
    response = Response(
        exports.workbook(d), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/feedback/<survey_token>", methods=["GET", "POST"])
@login_required
def survey(survey_token):
    errors = {}
    if request.method == "POST":
        try:
            feedback.submit(current_user, survey_token, request.form, locale=str(get_locale() or "en"))
        except DomainError as exc:
            if exc.status in (403, 404):
                raise
            if exc.status != 422:
                flash(exc.message, "danger")
                return redirect(url_for("reports.survey", survey_token=survey_token))
            errors = exc.fields or {"": exc.message}
            flash(exc.message, "danger")
        else:
            flash(_("Thank you for your feedback."), "success")
            return redirect(url_for("dashboard.my_training"))
    s = feedback.get_survey(current_user, survey_token)
    return render_template(
        "reports/survey.html", s=s, errors=errors, form=request.form, min_answers=metrics.MIN_ANSWERS
    ), 422 if errors else 200


def _questions_page(error: str | None = None, status: int = 200):
    return render_template(
        "reports/questions.html",
        questions=feedback.question_set(),
        courses=services.course_choices(),
        kinds=feedback.KIND_LABELS,
        error=error,
    ), status


@bp.route("/reports/questions", methods=["GET", "POST"])
@login_required
def questions():
    _admin()
    if request.method == "POST":
        try:
            feedback.add_question(current_user, request.form)
        except DomainError as exc:
            return _questions_page(exc.message, exc.status)
        flash(_("Question added."), "success")
        return redirect(url_for("reports.questions"))
    return _questions_page()


@bp.post("/reports/questions/<int:question_id>")
@login_required
def question_edit(question_id):
    _admin()
    try:
        feedback.update_question(current_user, question_id, request.form)
    except DomainError as exc:
        return _questions_page(exc.message, exc.status)
    flash(_("Saved."), "success")
    return redirect(url_for("reports.questions"))


def _subscriptions_page(error: str | None = None, status: int = 200):
    return render_template(
        "reports/subscriptions.html",
        subscriptions=scheduled.subscriptions(),
        courses=services.course_choices(),
        labels=scheduled.FREQUENCY_LABELS,
        error=error,
    ), status


@bp.route("/reports/subscriptions", methods=["GET", "POST"])
@login_required
def subscriptions():
    _admin()
    if request.method == "POST":
        course = request.form.get("course_id", "")
        try:
            scheduled.subscribe(
                current_user,
                request.form.get("email", ""),
                request.form.get("frequency", ""),
                int(course) if course.isdigit() and len(course) < 10 else None,
            )
        except DomainError as exc:
            return _subscriptions_page(exc.message, exc.status)
        flash(_("Subscribed."), "success")
        return redirect(url_for("reports.subscriptions"))
    return _subscriptions_page()


@bp.post("/reports/subscriptions/<int:subscription_id>/delete")
@login_required
def unsubscribe(subscription_id):
    _admin()
    try:
        scheduled.unsubscribe(current_user, subscription_id)
    except DomainError as exc:
        flash(exc.message, "danger")
    else:
        flash(_("Unsubscribed."), "success")
    return redirect(url_for("reports.subscriptions"))


# --- scheduled tasks ---------------------------------------------------------------------------


@bp.cli.command("send-surveys")
def send_surveys_command():
    """Invite trainees of runs that just ended to the feedback survey (hourly; idempotent)."""
    import click

    click.echo(f"Invited {feedback.send_due_surveys()} trainees.")


@bp.cli.command("send-scheduled")
def send_scheduled_command():
    """Deliver due weekly and monthly reports (daily; each delivery once)."""
    import click

    result = scheduled.send_scheduled()
    click.echo(f"Sent {result['sent']} reports, skipped {result['skipped']} empty ones.")
