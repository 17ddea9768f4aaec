"""API: skills, positions, people's qualifications, coverage, "who is qualified", the matrix as XLSX."""

from __future__ import annotations

from flask import Response, request, url_for
from flask_babel import gettext as _

from ..errors import ValidationFailed
from ..qualifications import evidence as evidence_files
from ..qualifications import exports, services
from ..qualifications.models import Grant, Position, Skill
from ..types import org_today
from . import bp
from .helpers import body, caller, require


def skill_to_dict(skill: Skill) -> dict:
    return {
        "id": skill.id,
        "code": skill.code,
        "name": skill.name,
        "name_zh": skill.name_zh or None,
        "category": skill.category or None,
        "levels": [
            {"level": i, "code": lv.get("code"), "name": lv.get("name"), "name_zh": lv.get("name_zh") or None}
            for i, lv in enumerate(skill.levels, 1)
        ],
        "validity_months": skill.validity_months,
    }


def position_to_dict(position: Position) -> dict:
    return {
        "id": position.id,
        "code": position.code,
        "name": position.name,
        "name_zh": position.name_zh or None,
        "site": position.site or None,
        "department": position.department or None,
        "requirements": [
            {"skill_id": r.skill_id, "level": r.level, "min_people": r.min_people} for r in position.requirements
        ],
        "user_ids": [p.user_id for p in position.people],
    }


def grant_to_dict(g: Grant, state) -> dict:
    return {
        "id": g.id,
        "skill_id": g.skill_id,
        "skill_code": g.skill.code,
        "level": g.level,
        "source": g.source,
        "certificate_code": g.certificate.code if g.certificate_id and g.certificate else None,
        "valid_from": g.valid_from.isoformat(),
        "valid_until": g.valid_until.isoformat() if g.valid_until else None,
        "state": state.value if state is not None else None,
        "evidence_file": {
            "name": g.evidence_filename,
            "mimetype": g.evidence_mimetype,
            "size": g.evidence_size,
            "sha256": g.evidence_sha256,
            "url": url_for("api.grant_evidence_file", grant_id=g.id, _external=False),
        }
        if g.evidence_sha256
        else None,
    }


def _on():
    return services.on_date(request.args.get("on"))


@bp.post("/skills")
def create_skill():
    skill = services.create_skill(require("manage_qualifications"), body())
    return skill_to_dict(skill), 201


@bp.get("/skills")
def list_skills():
    caller()
    return {"items": [skill_to_dict(s) for s in services.list_skills()]}


@bp.put("/courses/<int:course_id>/skills")
def set_course_skills(course_id: int):
    rows = services.set_course_skills(require("manage_qualifications"), course_id, body())
    return {
        "course_id": course_id,
        "grants": [{"skill_id": cs.skill_id, "skill_code": cs.skill.code, "level": cs.level} for cs in rows],
    }


@bp.post("/positions")
def create_position():
    position = services.create_position(require("manage_qualifications"), body())
    return position_to_dict(position), 201, {"Location": url_for("api.position_coverage", position_id=position.id)}


@bp.put("/positions/<int:position_id>/people")
def set_position_people(position_id: int):
    position = services.set_position_people(require("manage_qualifications"), position_id, body())
    return position_to_dict(position)


@bp.get("/people/<int:user_id>/qualifications")
def person_qualifications(user_id: int):
    on = _on()
    _person, rows = services.person_qualifications(caller(), user_id, on)
    return {"user_id": user_id, "on": on.isoformat(), "items": [grant_to_dict(r.grant, r.state) for r in rows]}


def _grant_body() -> tuple[dict, evidence_files.Upload | None]:
    """JSON as ever; or multipart/form-data with the same fields and the evidence in a part named ``file``."""
    if request.mimetype != "multipart/form-data":
        return body(), None
    data: dict = {
        k: v
        for k, v in request.form.items()
        if k in ("skill_id", "level", "valid_from", "valid_until", "source", "evidence")
    }
    raw = data.get("skill_id")
    if isinstance(raw, str) and raw.strip().isdigit() and len(raw.strip()) < 12:
        data["skill_id"] = int(raw)
    if any("\x00" in v for v in data.values() if isinstance(v, str)):
        raise ValidationFailed(_("Text must not contain NUL characters."), code="nul_character")
    return data, evidence_files.read(request.files.get("file"))


@bp.post("/people/<int:user_id>/qualifications")
def grant_qualification(user_id: int):
    actor = require("grant_qualification")
    data, upload = _grant_body()
    g = services.grant(actor, user_id, data, upload)
    return grant_to_dict(g, g.state_on(org_today(), services.expiring_window())), 201


@bp.get("/qualifications/<int:grant_id>/evidence")
def grant_evidence_file(grant_id: int):
    row, data = services.evidence_file(caller(), grant_id)
    return evidence_files.response(row, data)


@bp.get("/positions/<int:position_id>/coverage")
def position_coverage(position_id: int):
    viewer = require("view_matrix")
    on = _on()
    position, items = services.position_coverage(viewer, position_id, on)
    return {
        "position_id": position.id,
        "on": on.isoformat(),
        "requirements": [
            {
                "skill_id": c.requirement.skill_id,
                "level": c.requirement.level,
                "min_people": c.requirement.min_people,
                "qualified": c.qualified,
                "expiring": c.expiring,
                "gap": c.gap,
            }
            for c in items
        ],
    }


@bp.get("/qualified")
def qualified():
    viewer = require("view_matrix")
    on = _on()
    code = request.args.get("skill", "")
    if not code:
        raise ValidationFailed(_("skill is required (a skill code)."), fields={"skill": "required"})
    skill = services.skill_by_code(code)
    raw = request.args.get("level", "1")
    if not raw.isdigit() or len(raw) > 3:
        raise ValidationFailed(_("level must be a whole number."), fields={"level": "invalid"})
    level = int(raw)
    if not 1 <= level <= skill.level_count:
        raise ValidationFailed(_("level must be between 1 and %(n)s.", n=skill.level_count), fields={"level": "range"})
    items = services.qualified_for_skill(viewer, skill, level, on)
    return {
        "items": [
            {
                "user_id": q.user.id,
                "name": q.user.display_name,
                "level": q.level,
                "valid_until": q.valid_until.isoformat() if q.valid_until else None,
            }
            for q in items
        ]
    }


@bp.get("/matrix.xlsx")
def matrix_xlsx():
    viewer = require("view_matrix")
    position = request.args.get("position")
    site = request.args.get("site", "")
    if position in (None, "") and not site:
        raise ValidationFailed(_("Give a position or a site."), fields={"position": "required"})
    position_id = None
    if position not in (None, ""):
        if not position.isdigit() or len(position) > 12:
            raise ValidationFailed(_("position must be a position id."), fields={"position": "invalid"})
        position_id = int(position)
    m = services.matrix(viewer, site=site, position_id=position_id, on=_on())
    return Response(
        exports.matrix_xlsx(m),
        mimetype=exports.XLSX_MIME,
        headers={
            "Content-Disposition": f'attachment; filename="{exports.matrix_filename(m, "xlsx")}"',
            "Cache-Control": "private, no-store",
        },
    )
