"""Attendance pages: the trainer's day, the roster, self check-in, the run's
register and the printable sheets. Rules live in services and checkin."""
from __future__ import annotations

from flask import Blueprint, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from ..errors import DomainError, Forbidden
from ..extensions import limiter
from ..permissions import can
from ..types import utcnow
from ..urls import external_url
from . import checkin, services, sheets
from .forms import AssessmentForm, CheckinForm, RosterForm, TicketForm, assessment_scores, roster_records

bp = Blueprint("attendance", __name__)

STATUS_LABELS = {"present": _l("Present"), "late": _l("Late"), "absent": _l("Absent"), "excused": _l("Excused")}


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
    return {"initials": initials, "avatar_class": avatar_class,
            "local_time": lambda dt, run: dt.astimezone(run.tz), "now": utcnow(), "status_labels": STATUS_LABELS}


def _require(action: str, obj, message: str | None = None) -> None:
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
    if current_user.role not in ("trainer", "admin"):
        raise Forbidden(_("This page is for trainers."))
    day = services.teaching_day(current_user)
    return render_template("attendance/today.html", day=day)


# --- roster --------------------------------------------------------------------

def _roster_page(meeting, form, posted=None, status=200):
    rows = services.roster(meeting)
    return render_template("attendance/roster.html", meeting=meeting, run=meeting.run, rows=rows, form=form,
                           counts=services.roster_counts(rows), may_mark=can(current_user, "mark_attendance", meeting),
                           posted=posted or {}, statuses=services.STATUSES), status


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
        records = roster_records(request.form, ids,
                                 fill_unmarked="present" if "all_present" in request.form else None)
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
    return {"enrolment_id": enrolment.id, "status": record.status if record else None,
            "note": record.note if record else "",
            "marked_by": record.marked_by.display_name if record and record.marked_by else None,
            "marked_at": record.marked_at.isoformat() if record else None,
            "source": record.source if record else None}


@bp.post("/meetings/<int:meeting_id>/attendance.json")
@login_required
def save_roster_json(meeting_id: int):
    """The roster's script saves here (session and CSRF header), also when
    replaying marks made offline, each with its idempotency key."""
    try:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise DomainError(_("The body must be a JSON object."), code="bad_json", status=400)
        changed = services.mark(current_user, meeting_id, data.get("records"), source=data.get("source") or "roster")
    except DomainError as exc:
        return jsonify(error={"code": exc.code, "message": exc.message, "fields": exc.fields}), exc.status
    meeting = services.get_meeting(meeting_id)
    rows = services.roster(meeting)
    return jsonify(changed=len(changed), counts=services.roster_counts(rows),
                   rows=[_row_json(e, r) for e, r in rows])


@bp.get("/meetings/<int:meeting_id>/attendance/history")
@login_required
def history(meeting_id: int):
    meeting = services.get_meeting(meeting_id)
    _require("view_meeting_roster", meeting, _("Only the run's trainers and admins can see this roster."))
    return render_template("attendance/history.html", meeting=meeting, run=meeting.run,
                           changes=services.history(meeting))


@bp.get("/meetings/<int:meeting_id>/sign-in-sheet.pdf")
@login_required
def sign_in_sheet(meeting_id: int):
    meeting = services.get_meeting(meeting_id)
    _require("view_meeting_roster", meeting, _("Only the run's trainers and admins can see this roster."))
    pdf = sheets.sign_in_sheet(meeting, services.roster(meeting))
    local = meeting.starts_at.astimezone(meeting.run.tz)
    return _download(pdf, "application/pdf", f"sign-in-{meeting.run.course.code}-{local:%Y%m%d-%H%M}.pdf",
                     inline=True)


# --- self check-in -------------------------------------------------------------

@bp.get("/meetings/<int:meeting_id>/checkin/screen")
@login_required
def checkin_screen(meeting_id: int):
    meeting = services.get_meeting(meeting_id)
    _require("view_meeting_roster", meeting, _("Only the run's trainers and admins can show the check-in code."))
    return render_template("attendance/checkin_screen.html", meeting=meeting, run=meeting.run,
                           screen=_screen_json(meeting), opens_at=checkin.window(meeting)[0])


def _screen_json(meeting) -> dict:
    screen = checkin.screen_code(meeting)
    data = {"state": screen.state, "seconds_left": screen.seconds_left, "period": checkin._seconds(),
            "opens_at": screen.opens_at.isoformat(), "closes_at": screen.closes_at.isoformat(),
            "typed_url": external_url("attendance.checkin_form")}
    if screen.state == "open":
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
        flash(_("You were already marked %(status)s for this meeting.", status=str(STATUS_LABELS[status]).lower()), "info")
    elif status == "late":
        flash(_("Checked in: you are marked late."), "warning")
    else:
        flash(_("Checked in: you are marked present. Welcome!"), "success")
    return render_template("attendance/checkin_done.html", result=result, meeting=result.meeting,
                           run=result.meeting.run)


def _checkin_limit_key():
    return f"checkin:{current_user.get_id() if current_user.is_authenticated else request.remote_addr}"


@bp.route("/checkin", methods=["GET", "POST"])
@login_required
@limiter.limit("12/minute", methods=["POST"], key_func=_checkin_limit_key)
def checkin_form():
    form = CheckinForm()
    if form.validate_on_submit():
        try:
            return _checked_in(checkin.check_in(current_user, code=form.code.data))
        except DomainError as exc:
            form.code.errors = [*form.code.errors, exc.message]
            return render_template("attendance/checkin.html", form=form), exc.status
    return render_template("attendance/checkin.html", form=form)


@bp.get("/checkin/<int:meeting_id>")
@limiter.limit("30/minute", key_func=_checkin_limit_key)
def scan(meeting_id: int):
    """Where the QR code leads: the code is checked at once (it lives 30 to 60
    seconds), then exchanged for a short ticket so logging in does not make it expire."""
    try:
        meeting, step = checkin.verify_code(request.args.get("c"), meeting_id=meeting_id)
    except DomainError as exc:
        form = CheckinForm() if current_user.is_authenticated else None
        return render_template("attendance/checkin.html", form=form, refusal=exc.message), exc.status
    user_id = current_user.id if current_user.is_authenticated else None
    ticket = checkin.make_ticket(meeting, step, user_id)
    return redirect(url_for(".confirm", t=ticket))


@bp.route("/checkin/confirm", methods=["GET", "POST"])
@login_required
def confirm():
    form = TicketForm()
    ticket = request.form.get("ticket") if request.method == "POST" else request.args.get("t", "")
    try:
        meeting = services.get_meeting(checkin.read_ticket(ticket or "", current_user).id)
        if form.validate_on_submit():
            return _checked_in(checkin.check_in(current_user, ticket=ticket))
    except DomainError as exc:
        return render_template("attendance/checkin.html", form=CheckinForm(), refusal=exc.message), exc.status
    form.ticket.data = ticket
    return render_template("attendance/checkin_confirm.html", form=form, meeting=meeting, run=meeting.run)


# --- the run's register and completion -----------------------------------------

@bp.get("/runs/<int:run_id>/attendance")
@login_required
def run_register(run_id: int):
    register = services.run_register(run_id)
    _require("view_roster", register.run, _("Only the run's trainers and admins can see its register."))
    return render_template("attendance/register.html", register=register, run=register.run,
                           form=AssessmentForm())


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
        return render_template("attendance/register.html", register=register, run=run, form=form,
                               posted=request.form), exc.status
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
    from ..enrolment.services import get_enrolment
    enrolment = get_enrolment(enrolment_id)
    _require("view_enrolment", enrolment)
    meetings, verdict = services.enrolment_attendance(enrolment)
    return render_template("attendance/mine.html", enrolment=enrolment, run=enrolment.run, meetings=meetings,
                           verdict=verdict, progress=verdict.progress)

