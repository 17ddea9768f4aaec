"""Pages: the matrix (and its XLSX / PDF), "who is qualified?", a person's
qualifications with gaps and the one-click enrolment, the evidence pack."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from ..errors import DomainError, Forbidden, NotFound, ValidationFailed
from ..permissions import can
from ..web import show_form_error
from . import evidence as evidence_files
from . import exports, services
from .forms import GrantForm, PositionForm, SkillForm
from .models import STATE_GLYPHS, QualificationState

bp = Blueprint("qualifications", __name__, url_prefix="/qualifications")


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise ValidationFailed(_("%(field)s must be a whole number.", field=name), fields={name: "invalid"})
    return int(raw)


def _locale() -> str:
    return str(get_locale() or "en")


def _file(data: bytes, mimetype: str, filename: str) -> Response:
    return Response(
        data,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store"},
    )


def _matrix():
    return services.matrix(
        current_user,
        site=request.args.get("site", "").strip()[:100],
        department=request.args.get("department", "").strip()[:100],
        position_id=_int_arg("position"),
        on=services.on_date(request.args.get("on")),
    )


def _rows(m, locale: str) -> list[Markup]:
    """Each person's row (name cell and skill cells) as one ready HTML string, built in one pass
    so the template does no lookups, translations, url_for or escaping per cell (a 200-person
    department has about 9,000 cells). A cell's HTML depends only on its skill, level, state and
    end date, so each distinct one is built once and reused."""
    labels = {state: str(state.label) for state in QualificationState}
    until_word = _("until")
    scales = {
        c.skill.id: (
            [c.skill.level_code(n) for n in range(1, c.skill.level_count + 1)],
            [c.skill.level_name(n, locale) for n in range(1, c.skill.level_count + 1)],
        )
        for c in m.columns
    }
    made: dict[tuple, str] = {}
    empty = '<td class="qm-cell" data-state="none"></td>'
    sentinel = str(MAX_USER_ID)
    person_url = url_for("qualifications.person", user_id=MAX_USER_ID, on=m.on.isoformat())
    skill_ids = [c.skill.id for c in m.columns]
    get = m.cells.get
    rows = []
    for person in m.people:
        parts = [
            '<th class="qm-person" scope="row"><a href="',
            person_url.replace(sentinel, str(person.id), 1),
            '">',
            str(escape(person.display_name)),
            '</a><div class="small text-muted">',
            str(escape(", ".join(p.code for p in m.positions_of.get(person.id, ())))),
            "</div></th>",
        ]
        for skill_id in skill_ids:
            cell = get((person.id, skill_id))
            if cell is None or cell.state is None:
                parts.append(empty)
                continue
            key = (skill_id, cell.level, cell.state, cell.valid_until)
            html = made.get(key)
            if html is None:
                codes, names = scales[skill_id]
                known = 1 <= cell.level <= len(codes)
                code = codes[cell.level - 1] if known else str(cell.level)
                title = f"{code} {names[cell.level - 1] if known else ''} · {labels[cell.state]}" + (
                    f" · {until_word} {cell.valid_until.isoformat()}" if cell.valid_until else ""
                )
                state = cell.state.value
                html = made[key] = (
                    f'<td class="qm-cell qm-{state}" data-state="{state}" title="{escape(title)}">{escape(code)}'
                    f'<span class="qm-glyph" aria-hidden="true">{STATE_GLYPHS[cell.state]}</span>'
                    f'<span class="visually-hidden"> {escape(labels[cell.state])}</span></td>'
                )
            parts.append(html)
        rows.append(Markup("".join(parts)))
    return rows


MAX_USER_ID = 2**31 - 1


@bp.get("/matrix")
@login_required
def matrix():
    m = _matrix()
    locale = _locale()
    return render_template(
        "qualifications/matrix.html",
        m=m,
        rows=_rows(m, locale),
        glyphs=STATE_GLYPHS,
        states=list(QualificationState),
        locale=locale,
        args={k: v for k, v in request.args.items() if v},
    )


@bp.get("/matrix.xlsx")
@login_required
def matrix_xlsx():
    m = _matrix()
    return _file(exports.matrix_xlsx(m), exports.XLSX_MIME, exports.matrix_filename(m, "xlsx"))


@bp.get("/matrix.pdf")
@login_required
def matrix_pdf():
    m = _matrix()
    return _file(exports.matrix_pdf(m), "application/pdf", exports.matrix_filename(m, "pdf"))


@bp.get("/qualified")
@login_required
def qualified():
    """For a position (its coverage and everyone who could work it) or a skill at a level, on a date."""
    on = services.on_date(request.args.get("on"))
    position_id, skill_id = _int_arg("position"), _int_arg("skill")
    level = _int_arg("level") or 1
    result = services.who_is_qualified(current_user, on, position_id=position_id, skill_id=skill_id, level=level)
    return render_template("qualifications/qualified.html", r=result, on=on, glyphs=STATE_GLYPHS, locale=_locale())


@bp.get("/skills/<code>")
def skill(code: str):
    """A skill's public description: where a credential's alignment points."""
    return render_template("qualifications/skill.html", skill=services.skill_by_code(code[:32]), locale=_locale())


@bp.get("/mine")
@login_required
def mine():
    return redirect(url_for("qualifications.person", user_id=current_user.id))


@bp.get("/people/<int:user_id>")
@login_required
def person(user_id: int):
    on = services.on_date(request.args.get("on"))
    view = services.person_view(current_user, user_id, on)
    form = GrantForm.for_skills(services.list_skills(), _locale())
    return render_template(
        "qualifications/person.html",
        v=view,
        form=form,
        glyphs=STATE_GLYPHS,
        locale=_locale(),
        can_grant=can(current_user, "grant_qualification"),
        can_enrol=can(current_user, "enrol_for_gap", view.person),
    )


@bp.get("/people/<int:user_id>/evidence.pdf")
@login_required
def evidence(user_id: int):
    on = services.on_date(request.args.get("on"))
    view = services.person_view(current_user, user_id, on)
    return _file(exports.evidence_pdf(view, _locale()), "application/pdf", f"evidence-{user_id}-{on.isoformat()}.pdf")


@bp.post("/people/<int:user_id>/grants")
@login_required
def add_grant(user_id: int):
    form = GrantForm.for_skills(services.list_skills(), _locale())
    form.validate()
    try:
        services.grant(current_user, user_id, form.to_data(), evidence_files.read(request.files.get("evidence_file")))
    except (Forbidden, NotFound):
        raise
    except DomainError as exc:
        flash(exc.message, "warning")
    else:
        flash(_("Qualification granted."), "success")
    return redirect(url_for("qualifications.person", user_id=user_id))


@bp.get("/grants/<int:grant_id>/evidence")
@login_required
def evidence_file(grant_id: int):
    """A grant's attached file, as an attachment of the type checked on upload."""
    row, data = services.evidence_file(current_user, grant_id)
    return evidence_files.response(row, data)


@bp.post("/people/<int:user_id>/enrol")
@login_required
def enrol_gap(user_id: int):
    try:
        enrolment = services.enrol_for_gap(
            current_user, user_id, request.form.get("skill_id", ""), request.form.get("level", "")
        )
    except (Forbidden, NotFound) as exc:
        if exc.code != "no_run":
            raise
        flash(exc.message, "warning")
    except DomainError as exc:
        flash(exc.message, "warning")
    else:
        flash(
            _(
                "Enrolled in %(course)s (%(start)s): %(status)s.",
                course=enrolment.run.course.title,
                start=enrolment.run.starts_on.isoformat(),
                status=_(enrolment.status),
            ),
            "success",
        )
    back = request.form.get("back", "")
    return redirect(back if back.startswith("/qualifications/") else url_for("qualifications.person", user_id=user_id))


# --- admin pages: skills and positions (the API's POST /skills and /positions as forms) ----------


def _admin_only() -> None:
    if not can(current_user, "manage_qualifications"):
        raise Forbidden(_("Only an admin can manage skills and positions."))


@bp.get("/admin/skills")
@login_required
def admin_skills():
    return render_template("qualifications/admin_skills.html", rows=services.skill_rows(current_user), locale=_locale())


@bp.route("/admin/skills/new", methods=["GET", "POST"])
@login_required
def admin_skill_new():
    _admin_only()
    form = SkillForm.for_skill()
    if form.validate_on_submit():
        try:
            skill = services.create_skill(current_user, form.to_data())
        except DomainError as exc:
            show_form_error(form, exc)
        else:
            flash(_("Skill %(code)s saved.", code=skill.code), "success")
            return redirect(url_for("qualifications.admin_skills"))
    return render_template("qualifications/admin_skill_form.html", form=form, skill=None)


@bp.route("/admin/skills/<int:skill_id>", methods=["GET", "POST"])
@login_required
def admin_skill_edit(skill_id: int):
    skill = services.skill_for_edit(current_user, skill_id)
    form = SkillForm.for_skill(skill)
    if form.validate_on_submit():
        try:
            skill = services.update_skill(current_user, skill_id, form.to_data())
        except DomainError as exc:
            show_form_error(form, exc)
        else:
            flash(_("Skill %(code)s saved.", code=skill.code), "success")
            return redirect(url_for("qualifications.admin_skills"))
    return render_template("qualifications/admin_skill_form.html", form=form, skill=skill)


@bp.get("/admin/positions")
@login_required
def admin_positions():
    return render_template(
        "qualifications/admin_positions.html", positions=services.positions_for_admin(current_user), locale=_locale()
    )


def _position_form(position=None, emails=None) -> PositionForm:
    return PositionForm.for_position(services.list_skills(), _locale(), position, emails)


@bp.route("/admin/positions/new", methods=["GET", "POST"])
@login_required
def admin_position_new():
    _admin_only()
    form = _position_form()
    if form.validate_on_submit():
        try:
            position = services.create_position(current_user, form.to_data())
        except DomainError as exc:
            show_form_error(form, exc, POSITION_FIELDS)
        else:
            flash(_("Position %(code)s saved.", code=position.code), "success")
            return redirect(url_for("qualifications.admin_positions"))
    return render_template("qualifications/admin_position_form.html", form=form, position=None)


@bp.route("/admin/positions/<int:position_id>", methods=["GET", "POST"])
@login_required
def admin_position_edit(position_id: int):
    position, emails = services.position_for_edit(current_user, position_id)
    form = _position_form(position, emails)
    if form.validate_on_submit():
        try:
            position = services.update_position(current_user, position_id, form.to_data())
        except DomainError as exc:
            show_form_error(form, exc, POSITION_FIELDS)
        else:
            flash(_("Position %(code)s saved.", code=position.code), "success")
            return redirect(url_for("qualifications.admin_positions"))
    return render_template("qualifications/admin_position_form.html", form=form, position=position)


# Service field names that the position form shows under another name ("requirements" is a list of
# rows, whose refusal is shown at the top of the page: "-" names no field).
POSITION_FIELDS = {"emails": "people", "user_ids": "people", "requirements": "-"}
