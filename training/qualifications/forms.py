"""The assessor's grant form (the API takes the same fields as JSON); the admin forms for skills and
positions (the services validate every field again: the forms only parse)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    DateField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from .models import GrantSource


def _named_parts():
    """What was posted, without parts that carry no name: a malformed multipart part arrives with the
    name None, which a FieldList cannot index (a 500 instead of a refusal). None when nothing was posted."""
    from flask import request
    from werkzeug.datastructures import CombinedMultiDict, MultiDict

    if request.method not in {"POST", "PUT", "PATCH", "DELETE"}:
        return None
    form = MultiDict([(k, v) for k, v in request.form.items(multi=True) if isinstance(k, str)])
    files = MultiDict([(k, v) for k, v in request.files.items(multi=True) if isinstance(k, str)])
    return CombinedMultiDict([files, form]) if files else form


class GrantForm(FlaskForm):
    skill_id = SelectField(_l("Skill"), coerce=str)
    level = IntegerField(_l("Level"), validators=[Optional()])
    source = SelectField(
        _l("Source"),
        choices=[(GrantSource.assessment.value, _l("assessment")), (GrantSource.manual.value, _l("manual sign-off"))],
    )
    valid_until = DateField(_l("Valid until (empty: the skill's validity)"), validators=[Optional()])
    evidence = TextAreaField(_l("Evidence (what was assessed, by whom, the record's reference)"))
    # Read by the route (training.qualifications.evidence), checked by the service.
    evidence_file = FileField(_l("Attach a file (PDF, JPEG, PNG or WebP, at most 10 MB)"))

    @classmethod
    def for_skills(cls, skills, locale: str = "en") -> GrantForm:
        form = cls()
        form.skill_id.choices = [(str(s.id), f"{s.code} · {s.display_name(locale)}") for s in skills]
        return form

    def to_data(self) -> dict:
        """The fields as the service takes them; the service validates every one."""
        raw = self.skill_id.data
        return {
            "skill_id": int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 12 else raw,
            "level": self.level.data
            if self.level.data is not None
            else self.level.raw_data[0]
            if self.level.raw_data
            else None,
            "source": self.source.data,
            "evidence": self.evidence.data or "",
            "valid_until": self.valid_until.data.isoformat()
            if self.valid_until.data
            else (self.valid_until.raw_data[0] if self.valid_until.raw_data and self.valid_until.raw_data[0] else None),
        }


def _levels_text(levels) -> str:
    return "\n".join(
        " | ".join([lv.get("code", ""), lv.get("name", ""), lv.get("name_zh", "")]).rstrip(" |") for lv in levels
    )


class SkillForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(), Length(max=32)],
        description=_l("Letters, digits, dots, dashes or underscores, e.g. SMT-OP."),
    )
    name = StringField(_l("Name (English)"), validators=[DataRequired(), Length(max=200)])
    name_zh = StringField(_l("Name (Chinese)"), validators=[Length(max=200)])
    category = StringField(_l("Category"), validators=[Length(max=100)])
    levels = TextAreaField(
        _l("Level scale"),
        validators=[DataRequired()],
        description=_l("One level per line, lowest first: code | English name | Chinese name."),
    )
    validity_months = IntegerField(
        _l("Validity in months (empty: no expiry)"), validators=[Optional(), NumberRange(min=1, max=600)]
    )
    submit = SubmitField(_l("Save"))

    @classmethod
    def for_skill(cls, skill=None) -> SkillForm:
        from .models import DEFAULT_LEVELS

        form = cls()
        if not form.is_submitted():  # what was sent, else the skill's values (never a mix of both)
            if skill is not None:
                for name in ("code", "name", "name_zh", "category", "validity_months"):
                    getattr(form, name).data = getattr(skill, name)
            form.levels.data = _levels_text(skill.levels if skill is not None else DEFAULT_LEVELS)
        return form

    def to_data(self) -> dict:
        levels = []
        for line in str(self.levels.data or "").splitlines():
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split("|")]
            if len(parts) == 1:
                levels.append({"name": parts[0]})
            else:
                levels.append({"code": parts[0], "name": parts[1], "name_zh": parts[2] if len(parts) > 2 else ""})
        return {
            "code": self.code.data or "",
            "name": self.name.data or "",
            "name_zh": self.name_zh.data or "",
            "category": self.category.data or "",
            "levels": levels,
            "validity_months": self.validity_months.data,
        }


class RequirementForm(Form):
    """One row of a position's requirements; a row without a skill is left out."""

    skill_id = SelectField(_l("Skill"), coerce=str, validate_choice=False)
    level = IntegerField(_l("Minimum level"), validators=[Optional()])
    min_people = IntegerField(_l("People per shift"), validators=[Optional()])


class PositionForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(), Length(max=32)],
        description=_l("Letters, digits, dots, dashes or underscores, e.g. L3-PP."),
    )
    name = StringField(_l("Name (English)"), validators=[DataRequired(), Length(max=200)])
    name_zh = StringField(_l("Name (Chinese)"), validators=[Length(max=200)])
    site = StringField(_l("Site"), validators=[Length(max=100)])
    department = StringField(_l("Department"), validators=[Length(max=100)])
    requirements = FieldList(FormField(RequirementForm), min_entries=0, max_entries=300)
    people = TextAreaField(
        _l("People on this position"), description=_l("Their e-mail addresses, one per line (or separated by commas).")
    )
    submit = SubmitField(_l("Save"))

    BLANK_ROWS = 3

    @classmethod
    def for_position(cls, skills, locale: str, position=None, emails: list[str] | None = None) -> PositionForm:
        form = cls(formdata=_named_parts())
        if not form.is_submitted():  # what was sent, else the position's values (never a mix of both)
            if position is not None:
                for name in ("code", "name", "name_zh", "site", "department"):
                    getattr(form, name).data = getattr(position, name)
            while len(form.requirements.entries):
                form.requirements.pop_entry()
            for r in position.requirements if position is not None else []:
                form.requirements.append_entry(
                    {"skill_id": str(r.skill_id), "level": r.level, "min_people": r.min_people}
                )
            for _i in range(cls.BLANK_ROWS):
                form.requirements.append_entry({"skill_id": "", "level": None, "min_people": None})
            form.people.data = "\n".join(emails or [])
        choices = [("", "—")] + [(str(s.id), f"{s.code} · {s.display_name(locale)}") for s in skills]
        for entry in form.requirements.entries:
            entry.form.skill_id.choices = choices
        return form

    def to_data(self) -> dict:
        requirements = []
        for entry in self.requirements.entries:
            raw = entry.form.skill_id.data
            if not raw or not isinstance(raw, str):
                continue
            level, people = entry.form.level, entry.form.min_people
            requirements.append(
                {
                    "skill_id": int(raw) if raw.isdigit() and len(raw) < 12 else raw,
                    "level": level.data if level.data is not None else (level.raw_data[0] if level.raw_data else None),
                    "min_people": people.data
                    if people.data is not None
                    else (people.raw_data[0] if people.raw_data and people.raw_data[0] else 1),
                }
            )
        emails = [e for e in re.split(r"[\s,;]+", self.people.data or "") if e]
        return {
            "code": self.code.data or "",
            "name": self.name.data or "",
            "name_zh": self.name_zh.data or "",
            "site": self.site.data or "",
            "department": self.department.data or "",
            "requirements": requirements,
            "emails": emails,
        }
