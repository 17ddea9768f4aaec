"""Attendance pages: the trainer's day, the roster, self check-in, the run's
register and the printable sheets. Rules live in services and checkin."""

from __future__ import annotations

from flask import Blueprint, flash, g, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from ..enrolment.queries import get_enrolment
from ..errors import DomainError, Forbidden
from ..extensions import limiter
from ..labels import ATTENDANCE_STATUS_TITLES
from ..permissions import Action, can
from ..types import utcnow
from ..urls import external_url
from . import checkin, meetings, registers, services, sheets
from .forms import (
    AssessmentForm,
    CancelMeetingForm,
    CheckinForm,
    FinaliseForm,
    MoveMeetingForm,
    ReopenForm,
    RosterForm,
    TicketForm,
    assessment_scores,
    roster_records,
)

bp = Blueprint("attendance", __name__)

STATUS_LABELS = ATTENDANCE_STATUS_TITLES  # the one wording of each mark, in training/labels.py
SOURCE_LABELS = {
    "roster": _l("roster"),
    "offline": _l("offline mark"),
    "checkin": _l("self check-in"),
    "api": _l("API"),
    "admin": _l("admin"),
}


def initials(name: str) -> str:
    """Two letters for an avatar: the given name's last two characters for a
    Chinese name (欧阳晓燕 -> 晓燕), else the first letters of the first and last words."""
    name = (name or "").strip()
    if not name:
        return "?"
    if any("\u4e00" <= ch <= "\u9fff" for ch in name) and " " not in name:
        return name[-2:] if len(name) > 2 else name
    words = name.split()
    return (words[0][0] + (words[-1][0] if len(words) > 1 else "")).upper()


def avatar_class(seed: int) -> str:
    return f"avatar-c{seed % 8}"


@bp.context_processor
def helpers():
    return {
        "initials": initials,
        "avatar_class": avatar_class,
        "local_time": lambda dt, run: dt.astimezone(run.tz),
        "now": utcnow(),
        "status_labels": STATUS_LABELS,
        "source_labels": SOURCE_LABELS,
    }


def _require(action: Action, obj, message: str | None = None) -> None:
    if not can(current_user, action, obj):
        raise Forbidden(message or _("You are not allowed to see this page."))


def _download(data: bytes, mimetype: str, filename: str, *, inline: bool = False):
    response = make_response(data)
    response.headers["Content-Type"] = mimetype
    response.headers["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- the trainer's day -------------------------------------------------------


@bp.get("/teaching")
@login_required
def today():
    if not can(current_user, "view_teaching_day"):
        raise Forbidden(_("This page is for trainers."))
    day = services.teaching_day(current_user)
    return render_template("attendance/today.html", day=day)


# --- roster --------------------------------------------------------------------


def _roster_page(meeting, form, posted=None, status=200, reopen_form=None):
    rows = services.roster(meeting)
    open_register = meeting.finalised_at is None and meeting.cancelled_at is None
    return render_template(
        "attendance/roster.html",
        meeting=meeting,
        run=meeting.run,
        rows=rows,
        form=form,
        counts=services.roster_counts(rows),
        may_mark=open_register and can(current_user, "mark_attendance", meeting),
        may_finalise=open_register
        and can(current_user, "finalise_register", meeting)
        and utcnow() >= meeting.starts_at,
        may_reopen=meeting.finalised_at is not None and can(current_user, "reopen_register", meeting),
        finalise_form=FinaliseForm(),
        reopen_form=reopen_form or ReopenForm(),
        flagged=services.device_flags(meeting),
        posted=posted or {},
        statuses=services.STATUSES,
    ), status


@bp.get("/meetings/<int:meeting_id>/roster")
@login_required
def roster(meeting_id: int):
    meeting = services.get_meeting(meeting_id)
    _require("view_meeting_roster", meeting, _("Only the run's trainers and admins can see this roster."))
    return _roster_page(meeting, RosterForm())


@bp.post("/meetings/<int:meeting_id>/roster")
@login_required
def save_roster(meeting_id: int):
    meeting = services.get_meeting(meeting_id)
    _require("view_meeting_roster", meeting, _("Only the run's trainers and admins can see this roster."))
    form = RosterForm()
    if not form.validate_on_submit():
        flash(_("The form expired. Please save again."), "danger")
        return _roster_page(meeting, form, posted=request.form, status=400)
    ids = [e.id for e, _r in services.roster(meeting)]
    try:
        records = roster_records(request.form, ids, fill_unmarked="present" if "all_present" in request.form else None)
        if not records:
            flash(_("Nothing to save: choose a status for at least one trainee."), "warning")
            return redirect(url_for(".roster", meeting_id=meeting.id))
        changed = services.mark(current_user, meeting.id, records, source="roster")
    except DomainError as exc:
        flash(exc.message, "danger")
        return _roster_page(meeting, form, posted=request.form, status=exc.status)
    flash(_("Attendance saved: %(n)s changed.", n=len(changed)), "success")
    return redirect(url_for(".roster", meeting_id=meeting.id))


def _row_json(enrolment, record) -> dict:
    return {
        "enrolment_id": enrolment.id,
        "status": record.status if record else None,
        "note": record.note if record else "",
        "marked_by": record.marked_by.display_name if record and record.marked_by else None,
        "marked_at": record.marked_at.isoformat() if record else None,
        "recorded_at": services.recorded_time(record).isoformat() if record else None,
        "source": record.source if record else None,
    }


@bp.post("/meetings/<int:meeting_id>/attendance.json")
@login_required
def save_roster_json(meeting_id: int):
    """The roster's script saves here (session and CSRF header), also when
    replaying marks made offline, each with its idempotency key."""
    try:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise DomainError(_("The body must be a JSON object."), code="bad_json", status=400)
        # Any "source" the client sends is ignored: the server decides it.
        changed = services.mark(current_user, meeting_id, data.get("records"), source="roster")
    except DomainError as exc:
        return jsonify(error={"code": exc.code, "message": exc.message, "fields": exc.fields}), exc.status
    meeting = services.get_meeting(meeting_id)
    rows = services.roster(meeting)
    return jsonify(
        changed=len(changed),
        counts=services.roster_counts(rows),
        conflicts=changed.conflicts,
        finalised_at=meeting.finalised_at.isoformat() if meeting.finalised_at else None,
        rows=[_row_json(e, r) for e, r in rows],
    )


@bp.post("/meetings/<int:meeting_id>/attendance/finalise")
@login_required
def finalise(meeting_id: int):
    if not FinaliseForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "danger")
        return redirect(url_for(".roster", meeting_id=meeting_id))
    try:
        registers.finalise(current_user, meeting_id)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        flash(exc.message, "danger")
        return _roster_page(services.get_meeting(meeting_id), RosterForm(), status=exc.status)
    flash(_("Register finalised."), "success")
    return redirect(url_for(".roster", meeting_id=meeting_id))


@bp.post("/meetings/<int:meeting_id>/attendance/reopen")
@login_required
def reopen(meeting_id: int):
    form = ReopenForm()
    try:
        registers.reopen(current_user, meeting_id, form.reason.data if form.validate_on_submit() else None)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        form.reason.errors = [*form.reason.errors, exc.message]
        return _roster_page(services.get_meeting(meeting_id), RosterForm(), status=exc.status, reopen_form=form)
    flash(_("Register reopened: the trainer can change it and finalise it again."), "success")
    return redirect(url_for(".roster", meeting_id=meeting_id))


# --- cancelling and moving a meeting (admins) ----------------------------------------


def _manage_page(meeting, cancel_form=None, move_form=None, status=200):
    tz = meeting.run.tz
    if move_form is None:
        move_form = MoveMeetingForm(formdata=None)
        local_start, local_end = meeting.starts_at.astimezone(tz), meeting.ends_at.astimezone(tz)
        move_form.day.data, move_form.starts.data, move_form.ends.data = (
            local_start.date(),
            local_start.time(),
            local_end.time(),
        )
    return render_template(
        "attendance/manage_meeting.html",
        meeting=meeting,
        run=meeting.run,
        cancel_form=cancel_form or CancelMeetingForm(),
        move_form=move_form,
    ), status


@bp.get("/meetings/<int:meeting_id>/manage")
@login_required
def manage_meeting(meeting_id: int):
    meeting = services.get_meeting(meeting_id)
    _require("cancel_meeting", meeting, _("Only an admin can cancel or move a meeting."))
    return _manage_page(meeting)


@bp.post("/meetings/<int:meeting_id>/cancel")
@login_required
def cancel_meeting(meeting_id: int):
    meeting = services.get_meeting(meeting_id)
    _require("cancel_meeting", meeting, _("Only an admin can cancel or move a meeting."))
    form = CancelMeetingForm()
    try:
        meetings.cancel(current_user, meeting_id, form.reason.data if form.validate_on_submit() else None)
    except DomainError as exc:
        form.reason.errors = [*form.reason.errors, exc.message]
        return _manage_page(services.get_meeting(meeting_id), cancel_form=form, status=exc.status)
    flash(_("Meeting cancelled; the trainees and trainers are being told."), "success")
    return redirect(url_for(".manage_meeting", meeting_id=meeting_id))


@bp.post("/meetings/<int:meeting_id>/move")
@login_required
def move_meeting(meeting_id: int):
    meeting = services.get_meeting(meeting_id)
    _require("move_meeting", meeting, _("Only an admin can cancel or move a meeting."))
    form = MoveMeetingForm()
    try:
        if not form.validate_on_submit():
            raise DomainError(_("Give the day and the new start and end times."), code="validation_failed")
        starts, ends = form.moments(meeting.run.tz)
        meetings.move(current_user, meeting_id, starts.isoformat(), ends.isoformat())
    except DomainError as exc:
        form.day.errors = [*form.day.errors, exc.message]
        return _manage_page(services.get_meeting(meeting_id), move_form=form, status=exc.status)
    flash(_("Meeting moved; the trainees and trainers are being told."), "success")
    return redirect(url_for(".manage_meeting", meeting_id=meeting_id))


@bp.get("/meetings/roster-sw.js")
def service_worker():
    """The roster's service worker, served under /meetings/ so that it may
    control the roster pages (a script under /static/ could not)."""
    response = make_response(render_template("attendance/roster-sw.js"))
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/meetings/"
    return response


@bp.get("/meetings/<int:meeting_id>/attendance/history")
@login_required
def history(meeting_id: int):
    meeting = services.get_meeting(meeting_id)
    _require("view_meeting_roster", meeting, _("Only the run's trainers and admins can see this roster."))
    return render_template(
        "attendance/history.html", meeting=meeting, run=meeting.run, changes=services.history(meeting)
    )


@bp.get("/meetings/<int:meeting_id>/sign-in-sheet.pdf")
@login_required
def sign_in_sheet(meeting_id: int):
    meeting = services.get_meeting(meeting_id)
    _require("view_meeting_roster", meeting, _("Only the run's trainers and admins can see this roster."))
    pdf = sheets.sign_in_sheet(meeting, services.roster(meeting))
    local = meeting.starts_at.astimezone(meeting.run.tz)
    return _download(pdf, "application/pdf", f"sign-in-{meeting.run.course.code}-{local:%Y%m%d-%H%M}.pdf", inline=True)


# --- self check-in -------------------------------------------------------------


@bp.get("/meetings/<int:meeting_id>/checkin/screen")
@login_required
def checkin_screen(meeting_id: int):
    meeting = services.get_meeting(meeting_id)
    _require("view_meeting_roster", meeting, _("Only the run's trainers and admins can show the check-in code."))
    return render_template(
        "attendance/checkin_screen.html",
        meeting=meeting,
        run=meeting.run,
        screen=_screen_json(meeting),
        opens_at=checkin.window(meeting)[0],
    )


def _screen_json(meeting) -> dict:
    screen = checkin.screen_code(meeting)
    data = {
        "state": screen.state,
        "seconds_left": screen.seconds_left,
        "period": checkin._seconds(),
        "opens_at": screen.opens_at.isoformat(),
        "closes_at": screen.closes_at.isoformat(),
        "typed_url": external_url("attendance.checkin_form"),
    }
    if screen.state == "open" and screen.code is not None:  # an open screen always has its code
        url = external_url("attendance.scan", meeting_id=meeting.id, c=screen.long_code)
        data.update(code=checkin.display(screen.code), url=url, qr=checkin.qr_data_uri(url))
    return data


@bp.get("/meetings/<int:meeting_id>/checkin/code.json")
@login_required
def checkin_code(meeting_id: int):
    meeting = services.get_meeting(meeting_id)
    if not can(current_user, "view_meeting_roster", meeting):
        return jsonify(error={"code": "forbidden", "message": _("Not allowed.")}), 403
    response = jsonify(_screen_json(meeting))
    response.headers["Cache-Control"] = "no-store"
    return response


def _checked_in(result):
    status = result.attendance.status
    if result.already:
        flash(
            _("You were already marked %(status)s for this meeting.", status=str(STATUS_LABELS[status]).lower()), "info"
        )
    elif status == "late":
        flash(_("Checked in: you are marked late."), "warning")
    else:
        flash(_("Checked in: you are marked present. Welcome!"), "success")
    return render_template(
        "attendance/checkin_done.html", result=result, meeting=result.meeting, run=result.meeting.run
    )


def _checkin_limit_key():
    # Per person (not per login session: logging in again must not buy more tries), else per address.
    return f"checkin:user:{current_user.id}" if current_user.is_authenticated else f"checkin:{request.remote_addr}"


def device_cookie() -> str:
    """This browser's check-in device id (a random cookie, set on first use)."""
    value = request.cookies.get(checkin.DEVICE_COOKIE)
    if value is None or checkin.device_hash(value) is None:
        value = g.get("new_device_cookie") or checkin.new_device_cookie()
        g.new_device_cookie = value
    return value


@bp.after_app_request
def _set_device_cookie(response):
    value = g.pop("new_device_cookie", None)
    if value:
        response.set_cookie(
            checkin.DEVICE_COOKIE,
            value,
            max_age=400 * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure,
            path="/",
        )
    return response


@bp.route("/checkin", methods=["GET", "POST"])
@login_required
@limiter.limit("12/minute", methods=["POST"], key_func=_checkin_limit_key)
def checkin_form():
    form = CheckinForm()
    device = device_cookie()
    if form.validate_on_submit():
        try:
            return _checked_in(
                checkin.check_in(current_user, code=form.code.data, device=device, ip=request.remote_addr)
            )
        except DomainError as exc:
            form.code.errors = [*form.code.errors, exc.message]
            return render_template("attendance/checkin.html", form=form), exc.status
    return render_template("attendance/checkin.html", form=form)


@bp.get("/checkin/<int:meeting_id>")
@limiter.limit("30/minute", key_func=_checkin_limit_key)
def scan(meeting_id: int):
    """Where the QR code leads: the code is checked at once, then exchanged for a
    ticket bound to this browser and to the code's lifetime, so signing in
    first does not lose it but forwarding the link does not work."""
    device = device_cookie()
    try:
        meeting, step = checkin.verify_code(request.args.get("c"), meeting_id=meeting_id)
    except DomainError as exc:
        form = CheckinForm() if current_user.is_authenticated else None
        return render_template("attendance/checkin.html", form=form, refusal=exc.message), exc.status
    user_id = current_user.id if current_user.is_authenticated else None
    ticket = checkin.make_ticket(meeting, step, user_id, checkin.device_hash(device))
    return redirect(url_for(".confirm", t=ticket))


@bp.route("/checkin/confirm", methods=["GET", "POST"])
@login_required
def confirm():
    form = TicketForm()
    device = device_cookie()
    ticket = request.form.get("ticket") if request.method == "POST" else request.args.get("t", "")
    try:
        parsed = checkin.read_ticket(ticket or "", current_user, device_hash=checkin.device_hash(device))
        meeting = services.get_meeting(parsed.meeting.id)
        if form.validate_on_submit():
            return _checked_in(checkin.check_in(current_user, ticket=ticket, device=device, ip=request.remote_addr))
    except DomainError as exc:
        return render_template("attendance/checkin.html", form=CheckinForm(), refusal=exc.message), exc.status
    form.ticket.data = ticket
    return render_template(
        "attendance/checkin_confirm.html",
        form=form,
        meeting=meeting,
        run=meeting.run,
        expires_at=checkin.expires_at(parsed.step),
    )


# --- the run's register and completion -----------------------------------------


@bp.get("/runs/<int:run_id>/attendance")
@login_required
def run_register(run_id: int):
    register = services.run_register(run_id)
    _require("view_roster", register.run, _("Only the run's trainers and admins can see its register."))
    return render_template("attendance/register.html", register=register, run=register.run, form=AssessmentForm())


@bp.post("/runs/<int:run_id>/assessment")
@login_required
def save_assessment(run_id: int):
    run = services.get_run(run_id)
    _require("view_roster", run, _("Only the run's trainers and admins can see its register."))
    form = AssessmentForm()
    if not form.validate_on_submit():
        flash(_("The form expired. Please save again."), "danger")
        return redirect(url_for(".run_register", run_id=run.id))
    ids = [e.id for e in services.confirmed_enrolments(run.id)]
    try:
        changed = services.set_assessments(current_user, run.id, assessment_scores(request.form, ids))
    except DomainError as exc:
        flash(exc.message, "danger")
        register = services.run_register(run_id)
        return render_template(
            "attendance/register.html", register=register, run=run, form=form, posted=request.form
        ), exc.status
    flash(_("Assessment scores saved: %(n)s changed.", n=changed), "success")
    return redirect(url_for(".run_register", run_id=run.id))


@bp.get("/runs/<int:run_id>/register.csv")
@login_required
def register_csv(run_id: int):
    register = services.run_register(run_id)
    _require("view_roster", register.run, _("Only the run's trainers and admins can see its register."))
    name = f"register-{register.run.course.code}-{register.run.starts_on:%Y%m%d}.csv"
    return _download(sheets.register_csv(register), "text/csv; charset=utf-8", name)


@bp.get("/runs/<int:run_id>/register.pdf")
@login_required
def register_pdf(run_id: int):
    register = services.run_register(run_id)
    _require("view_roster", register.run, _("Only the run's trainers and admins can see its register."))
    name = f"register-{register.run.course.code}-{register.run.starts_on:%Y%m%d}.pdf"
    return _download(sheets.register_pdf(register), "application/pdf", name, inline=True)


@bp.get("/my/attendance/<int:enrolment_id>")
@login_required
def my_attendance(enrolment_id: int):
    enrolment = get_enrolment(enrolment_id)
    _require("view_enrolment", enrolment)
    meetings, verdict = services.enrolment_attendance(enrolment)
    return render_template(
        "attendance/mine.html",
        enrolment=enrolment,
        run=enrolment.run,
        meetings=meetings,
        verdict=verdict,
        progress=verdict.progress,
    )


# flask --app wsgi attendance remind-open-registers (each morning, from cron or a scheduler)
@bp.cli.command("remind-open-registers")
def remind_open_registers_command():
    """E-mail trainers the registers of theirs still open from before today (once per meeting)."""
    import click

    result = registers.remind_open_registers()
    click.echo(f"Reminded {len(result)} trainers of {sum(result.values())} open registers.")
