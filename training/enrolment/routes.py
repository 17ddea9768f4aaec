"""Enrolment pages for trainees: enrol, cancel, answer an offered seat ("My training" is in training.dashboard)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..catalogue.seats import waitlist_position
from ..catalogue.services import get_run
from ..errors import DomainError
from ..mail import local_date, local_time
from ..types import utcnow
from ..web import safe_next
from . import offers, queries, services
from .forms import ActionForm, CancelForm

bp = Blueprint("enrolment", __name__)


@bp.app_template_filter("run_time")
def _run_time(value, run, fmt: str = "medium") -> str:
    """A moment in the run's own time zone, in the page's language."""
    return local_time(value, run.tz, fmt)


@bp.app_template_filter("long_date")
def _long_date(value, fmt: str = "medium") -> str:
    return local_date(value, fmt)


def _course_url(run_id: int) -> str:
    try:
        run = get_run(run_id)
    except DomainError:
        return url_for("dashboard.my_training")
    return url_for("catalogue.course", course_id=run.course_id, _anchor=f"run-{run.id}")


def _flash_enrolled(enrolment) -> None:
    course = enrolment.run.course.title
    if enrolment.status == "confirmed":
        flash(
            _(
                "You are enrolled in %(course)s. A confirmation with a calendar file is on its way to %(email)s.",
                course=course,
                email=enrolment.user.email,
            ),
            "success",
        )
    elif enrolment.status == "waitlisted":
        flash(
            _(
                "%(course)s is full: you are on the waitlist at position %(position)s. We will write to you as "
                "soon as a place is yours.",
                course=course,
                position=waitlist_position(enrolment),
            ),
            "info",
        )
    else:
        flash(
            _("Your request to join %(course)s has been sent. The training office will confirm it.", course=course),
            "info",
        )


@bp.post("/runs/<int:run_id>/enrol")
def enrol(run_id):
    back = safe_next(request.form.get("next")) or _course_url(run_id)
    if not current_user.is_authenticated:
        flash(_("Log in or register to enrol."), "info")
        return redirect(url_for("accounts.login", next=back))
    form = ActionForm()
    if not form.validate_on_submit():
        flash(_("The form expired. Please try again."), "danger")
        return redirect(back)
    try:
        enrolment = services.enrol(current_user, run_id, source="self")
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(back)
    _flash_enrolled(enrolment)
    return redirect(back)


@bp.post("/enrolments/<int:enrolment_id>/cancel")
@login_required
def cancel(enrolment_id):
    form = CancelForm()
    enrolment = None
    try:
        enrolment = queries.get_enrolment(enrolment_id)
        back = safe_next(form.next.data) or _course_url(enrolment.run_id)
        if not form.validate_on_submit():
            flash(_("The form expired. Please try again."), "danger")
            return redirect(back)
        was = enrolment.status
        services.cancel(current_user, enrolment_id, form.reason.data or "")
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(
            safe_next(form.next.data)
            or (_course_url(enrolment.run_id) if enrolment is not None else url_for("dashboard.my_training"))
        )
    course = enrolment.run.course.title
    if was == "waitlisted":
        flash(_("You have left the waitlist of %(course)s.", course=course), "success")
    elif was == "pending":
        flash(_("Your request to join %(course)s has been withdrawn.", course=course), "success")
    else:
        flash(
            _(
                "Your enrolment in %(course)s is cancelled. Your place has been offered to the next person "
                "on the waitlist.",
                course=course,
            ),
            "success",
        )
    return redirect(back)


@bp.get("/enrolments/<int:enrolment_id>/offer")
@login_required
def offer(enrolment_id):
    """The page the offer e-mail links to: the seat, until when, accept or decline."""
    enrolment = offers.offer_for(current_user, enrolment_id)
    return render_template(
        "enrolment/offer.html",
        e=enrolment,
        run=enrolment.run,
        form=ActionForm(),
        now=utcnow(),
        status_label=queries.status_label,
    )


@bp.post("/enrolments/<int:enrolment_id>/offer/accept")
@login_required
def accept_offer(enrolment_id):
    return _answer_offer(enrolment_id, accept=True)


@bp.post("/enrolments/<int:enrolment_id>/offer/decline")
@login_required
def decline_offer(enrolment_id):
    return _answer_offer(enrolment_id, accept=False)


def _answer_offer(enrolment_id: int, *, accept: bool):
    form = ActionForm()
    back = safe_next(form.next.data) or url_for("enrolment.offer", enrolment_id=enrolment_id)
    if not form.validate_on_submit():
        flash(_("The form expired. Please try again."), "danger")
        return redirect(back)
    try:
        if accept:
            enrolment = offers.accept_offer(current_user, enrolment_id)
        else:
            enrolment = offers.decline_offer(current_user, enrolment_id)
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(back)
    course = enrolment.run.course.title
    if accept:
        flash(
            _(
                "The place is yours: you are enrolled in %(course)s. A confirmation with a calendar file is on "
                "its way to %(email)s.",
                course=course,
                email=enrolment.user.email,
            ),
            "success",
        )
    else:
        flash(
            _("You declined the place in %(course)s; it goes to the next person on the waitlist.", course=course),
            "info",
        )
    return redirect(back)
