"""Admin pages: categories, courses, runs and their sessions. Thin views over
catalogue.services; every refusal of a rule comes back beside its field."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import content_forms, content_i18n
from ..catalogue import queries, services
from ..catalogue.forms import CancelRunForm, CategoryForm, CourseForm, MeetingForm, NewRunForm, RunForm
from ..catalogue.models import Meeting
from ..catalogue.search import CatalogueQuery, search_courses
from ..catalogue.seats import confirmed_count
from ..content_i18n import current_lang
from ..enrolment.services import cancel_run
from ..errors import DomainError, ValidationFailed
from ..extensions import db
from ..web import page_arg, show_form_error
from .routes import admin_required, bp

# Service field names -> form field names, where they differ.
FIELD_ALIASES = {"trainer_emails": "trainers", "prerequisite_course_id": "prerequisite_code", "meetings": "starts_on"}


COURSE_TEXTS = ("title", "summary", "description", "outcomes", "audience", "prerequisites")
RUN_TEXTS = ("location", "notes")


def _show_error(form, exc: DomainError, texts=()) -> None:
    aliases = dict(FIELD_ALIASES)
    if texts:
        aliases.update(content_forms.aliases(form, texts))
    show_form_error(form, exc, aliases)


# --- categories ----------------------------------------------------------------


@bp.route("/categories", methods=["GET", "POST"])
@admin_required
def categories():
    form = CategoryForm()
    if form.validate_on_submit():
        try:
            category = services.save_category(
                current_user,
                None,
                {
                    "name": form.name.data,
                    "name_zh": form.name_zh.data,
                    "slug": form.slug.data,
                    "original_language": form.original_language.data,
                },
            )
        except DomainError as exc:
            _show_error(form, exc)
        else:
            flash(_("Category %(name)s created.", name=category.label(current_lang())), "success")
            return redirect(url_for("admin.categories"))
    return render_template(
        "admin/catalogue/categories.html", rows=queries.list_categories(), form=form
    ), 422 if form.errors else 200


@bp.route("/categories/<int:category_id>/edit", methods=["GET", "POST"])
@admin_required
def category_edit(category_id):
    category = services.get_category(category_id)
    form = CategoryForm(obj=category)
    if form.validate_on_submit():
        try:
            services.save_category(
                current_user,
                category,
                {
                    "name": form.name.data,
                    "name_zh": form.name_zh.data,
                    "slug": form.slug.data,
                    "original_language": form.original_language.data,
                },
            )
        except DomainError as exc:
            _show_error(form, exc)
        else:
            flash(_("Category saved."), "success")
            return redirect(url_for("admin.categories"))
    return render_template(
        "admin/catalogue/category_form.html", form=form, category=category
    ), 422 if form.errors else 200


@bp.post("/categories/<int:category_id>/delete")
@admin_required
def category_delete(category_id):
    try:
        services.delete_category(current_user, services.get_category(category_id))
    except DomainError as exc:
        flash(exc.message, "danger")
    else:
        flash(_("Category deleted."), "success")
    return redirect(url_for("admin.categories"))


# --- courses -------------------------------------------------------------------


@bp.get("/courses")
@admin_required
def courses():
    args = request.args.to_dict()
    args.setdefault("sort", "title")
    query = CatalogueQuery.from_args(args, default_per_page=50)
    page = search_courses(query, include_unpublished=True)
    return render_template("admin/catalogue/courses.html", page=page, query=query)


def _course_form(course=None) -> CourseForm:
    if course is not None and request.method == "GET":
        form = CourseForm(obj=course)
        content_forms.fill(form, course, COURSE_TEXTS)
        form.category.data = course.category.slug if course.category else ""
        form.prerequisite_code.data = course.prerequisite_course.code if course.prerequisite_course else ""
    else:
        form = CourseForm()
    form.category.choices = [("", _("No category"))] + [
        (c.slug, c.label(current_lang())) for c, _n in queries.list_categories()
    ]
    return form


def _course_data(form: CourseForm, course=None) -> dict:
    data = {
        name: getattr(form, name).data
        for name in (
            "code",
            "level",
            "language",
            "hours",
            "min_attendance_pct",
            "excused_counts",
            "pass_mark",
            "validity_months",
            "published",
        )
    }
    data.update(content_forms.data(form, COURSE_TEXTS))
    data["category"] = form.category.data or ""
    code = (form.prerequisite_code.data or "").strip()
    if code:
        prereq = queries.course_by_code(code)
        if prereq is None:
            raise ValidationFailed(
                _("No course with code %(code)s.", code=code), fields={"prerequisite_course_id": "unknown"}
            )
        data["prerequisite_course_id"] = prereq.id
    else:
        data["prerequisite_course_id"] = None
    return data


@bp.route("/courses/new", methods=["GET", "POST"])
@admin_required
def course_new():
    form = _course_form()
    if form.validate_on_submit():
        try:
            course = services.create_course(current_user, _course_data(form))
        except DomainError as exc:
            _show_error(form, exc, COURSE_TEXTS)
        else:
            flash(_("Course %(code)s created. Now schedule a run.", code=course.code), "success")
            return redirect(url_for("admin.course_edit", course_id=course.id))
    return render_template(
        "admin/catalogue/course_form.html", form=form, course=None, runs=[], counts={}
    ), 422 if form.errors else 200


@bp.route("/courses/<int:course_id>/edit", methods=["GET", "POST"])
@admin_required
def course_edit(course_id):
    course, runs, counts = queries.course_runs_for_admin(course_id)
    form = _course_form(course)
    if form.validate_on_submit():
        try:
            services.update_course(current_user, course, _course_data(form, course))
        except DomainError as exc:
            _show_error(form, exc, COURSE_TEXTS)
        else:
            flash(_("Course saved."), "success")
            return redirect(url_for("admin.course_edit", course_id=course.id))
    return render_template(
        "admin/catalogue/course_form.html", form=form, course=course, runs=runs, counts=counts, has_history=bool(runs)
    ), 422 if form.errors else 200


@bp.post("/courses/<int:course_id>/archive")
@admin_required
def course_archive(course_id):
    course = services.get_course(course_id)
    services.archive_course(current_user, course)
    flash(_("%(code)s is archived: hidden from the catalogue, its history kept.", code=course.code), "success")
    return redirect(url_for("admin.course_edit", course_id=course.id))


@bp.post("/courses/<int:course_id>/restore")
@admin_required
def course_restore(course_id):
    course = services.restore_course(current_user, services.get_course(course_id))
    flash(_("%(code)s is restored, unpublished: publish it when ready.", code=course.code), "success")
    return redirect(url_for("admin.course_edit", course_id=course.id))


@bp.post("/courses/<int:course_id>/delete")
@admin_required
def course_delete(course_id):
    course = services.get_course(course_id)
    try:
        services.delete_course(current_user, course)
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("admin.course_edit", course_id=course_id))
    flash(_("Course deleted."), "success")
    return redirect(url_for("admin.courses"))


# --- runs ----------------------------------------------------------------------


@bp.get("/runs")
@admin_required
def runs():
    when_arg = request.args.get("when", "")
    when = when_arg if when_arg in ("upcoming", "past", "all") else "upcoming"
    status = request.args.get("status") or None
    page = page_arg()
    rows, total, counts = queries.list_runs_for_admin(when, status, page, 50)
    return render_template(
        "admin/catalogue/runs.html",
        runs=rows,
        total=total,
        counts=counts,
        when=when,
        status=status,
        page=page,
        per_page=50,
    )


def _trainer_choices(form) -> dict[int, str]:
    people = queries.trainer_choices()
    form.trainers.choices = [(u.id, f"{u.display_name} ({u.email})") for u in people]
    return {u.id: u.email for u in people}


def _local(value: datetime | None) -> str | None:
    # A wall-clock time from the form; the service reads it in the run's time zone.
    return value.isoformat() if value else None


def _run_data(form: RunForm, emails: dict[int, str]) -> dict:
    unknown = [i for i in form.trainers.data or [] if i not in emails]
    if unknown:
        raise ValidationFailed(_("Choose trainers from the list."), fields={"trainer_emails": "unknown"})
    return {
        "starts_on": form.starts_on.data,
        "ends_on": form.ends_on.data,
        "timezone": form.timezone.data,
        "mode": form.mode.data,
        "city": form.city.data,
        "capacity": form.capacity.data,
        "status": form.status.data,
        "trainer_emails": [emails[i] for i in form.trainers.data or []],
        "enrol_deadline": _local(form.enrol_deadline.data),
        "cancel_cutoff": _local(form.cancel_cutoff.data),
        "requires_approval": form.requires_approval.data,
        **content_forms.data(form, RUN_TEXTS),
    }


def _daily_sessions(form: NewRunForm) -> list[dict]:
    if not form.daily_sessions.data:
        return []
    starts, ends = form.day_starts.data or time(9, 0), form.day_ends.data or time(17, 0)
    if ends <= starts:
        raise ValidationFailed(_("Sessions must end after they start."), fields={"day_ends": "order"})
    day, last = form.starts_on.data, form.ends_on.data
    assert day is not None and last is not None  # DataRequired: a validated form has both
    sessions: list[dict[str, str]] = []
    while day <= last and len(sessions) < 100:
        if not (form.skip_weekends.data and day.weekday() >= 5):
            sessions.append(
                {
                    "starts_at": datetime.combine(day, starts).isoformat(),
                    "ends_at": datetime.combine(day, ends).isoformat(),
                }
            )
        day += timedelta(days=1)
    return sessions


@bp.route("/courses/<int:course_id>/runs/new", methods=["GET", "POST"])
@admin_required
def run_new(course_id):
    course = services.get_course(course_id)
    form = NewRunForm()
    emails = _trainer_choices(form)
    if request.method == "GET":
        form.day_starts.data, form.day_ends.data = time(9, 0), time(17, 0)
        form.original_language.data = content_i18n.original_language(course)
    if form.validate_on_submit():
        try:
            first_day, last_day = form.starts_on.data, form.ends_on.data
            assert first_day is not None and last_day is not None  # DataRequired: a validated form has both
            if last_day < first_day:
                raise ValidationFailed(_("The run ends before it starts."), fields={"ends_on": "order"})
            data = _run_data(form, emails)
            data["meetings"] = _daily_sessions(form)
            run = services.create_run(current_user, course, data)
        except DomainError as exc:
            _show_error(form, exc, RUN_TEXTS)
        else:
            flash(_("Run scheduled with %(n)s sessions.", n=len(run.meetings)), "success")
            return redirect(url_for("admin.run_edit", run_id=run.id))
    return render_template(
        "admin/catalogue/run_form.html", form=form, course=course, run=None
    ), 422 if form.errors else 200


@bp.route("/runs/<int:run_id>/edit", methods=["GET", "POST"])
@admin_required
def run_edit(run_id):
    run = queries.load_run_for_page(run_id)
    if request.method == "GET":
        form = RunForm(obj=run)
        content_forms.fill(form, run, RUN_TEXTS)
        tz = run.tz
        form.enrol_deadline.data = (
            run.enrol_deadline.astimezone(tz).replace(tzinfo=None) if run.enrol_deadline else None
        )
        form.cancel_cutoff.data = run.cancel_cutoff.astimezone(tz).replace(tzinfo=None) if run.cancel_cutoff else None
        form.trainers.data = [t.id for t in run.trainers]
    else:
        form = RunForm()
    emails = _trainer_choices(form)
    if run.status == "cancelled":
        form.status.choices = [("cancelled", _("Cancelled"))]
    if request.method == "POST" and form.validate_on_submit():
        try:
            services.update_run(current_user, run.id, _run_data(form, emails))
        except DomainError as exc:
            _show_error(form, exc, RUN_TEXTS)
        else:
            flash(_("Run saved."), "success")
            return redirect(url_for("admin.run_edit", run_id=run.id))
        run = queries.load_run_for_page(run_id)
    return _run_page(run, form), 422 if form.errors else 200


def _run_page(run, form, meeting_form=None, cancel_form=None):
    confirmed = confirmed_count(run.id)
    if meeting_form is None:
        meeting_form = MeetingForm()
        if run.meetings:
            last = run.meetings[-1]
            meeting_form.day.data = min(last.starts_at.astimezone(run.tz).date() + timedelta(days=1), run.ends_on)
            meeting_form.starts.data = last.starts_at.astimezone(run.tz).time()
            meeting_form.ends.data = last.ends_at.astimezone(run.tz).time()
        else:
            meeting_form.day.data = run.starts_on
    return render_template(
        "admin/catalogue/run_form.html",
        form=form,
        course=run.course,
        run=run,
        confirmed=confirmed,
        meeting_form=meeting_form,
        cancel_form=cancel_form or CancelRunForm(),
    )


@bp.post("/runs/<int:run_id>/meetings")
@admin_required
def meeting_add(run_id):
    run = queries.load_run_for_page(run_id)
    meeting_form = MeetingForm()
    if meeting_form.validate_on_submit():
        try:
            day, starts, ends = meeting_form.day.data, meeting_form.starts.data, meeting_form.ends.data
            assert day is not None and starts is not None and ends is not None  # DataRequired: given
            services.add_meeting(
                current_user,
                run.id,
                datetime.combine(day, starts),
                datetime.combine(day, ends),
                meeting_form.title.data or "",
            )
        except DomainError as exc:
            meeting_form.day.errors.append(exc.message)  # type: ignore[attr-defined]  # a list at run time (the stubs say Sequence)
        else:
            flash(_("Session added."), "success")
            return redirect(url_for("admin.run_edit", run_id=run.id) + "#sessions")
    run = queries.load_run_for_page(run_id)
    form = _run_form_for(run)
    return _run_page(run, form, meeting_form=meeting_form), 422


def _run_form_for(run) -> RunForm:
    form = RunForm(formdata=None, obj=run)
    form.trainers.data = [t.id for t in run.trainers]
    _trainer_choices(form)
    return form


@bp.post("/meetings/<int:meeting_id>/delete")
@admin_required
def meeting_delete(meeting_id):
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None:
        abort(404)
    run_id = meeting.run_id
    try:
        services.delete_meeting(current_user, meeting)
    except DomainError as exc:
        flash(exc.message, "danger")
    else:
        flash(_("Session removed."), "success")
    return redirect(url_for("admin.run_edit", run_id=run_id) + "#sessions")


@bp.post("/runs/<int:run_id>/cancel")
@admin_required
def run_cancel(run_id):
    run = queries.load_run_for_page(run_id)
    cancel_form = CancelRunForm()
    if cancel_form.validate_on_submit():
        try:
            count = cancel_run(current_user, run.id, cancel_form.reason.data or "")  # DataRequired: given
        except DomainError as exc:
            cancel_form.reason.errors.append(exc.message)  # type: ignore[attr-defined]  # a list at run time (the stubs say Sequence)
        else:
            flash(_("Run cancelled; %(n)s trainees are being told.", n=count), "success")
            return redirect(url_for("admin.run_edit", run_id=run.id))
    run = queries.load_run_for_page(run_id)
    return _run_page(run, _run_form_for(run), cancel_form=cancel_form), 422
