"""The assessor's grant form (the API takes the same fields as JSON)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, IntegerField, SelectField, TextAreaField
from wtforms.validators import Optional

from .models import GrantSource


class GrantForm(FlaskForm):
    skill_id = SelectField(_l("Skill"), coerce=str)
    level = IntegerField(_l("Level"), validators=[Optional()])
    source = SelectField(_l("Source"), choices=[(GrantSource.assessment.value, _l("assessment")),
                                                (GrantSource.manual.value, _l("manual sign-off"))])
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
        return {"skill_id": int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 12 else raw,
                "level": self.level.data if self.level.data is not None else self.level.raw_data[0]
                if self.level.raw_data else None,
                "source": self.source.data, "evidence": self.evidence.data or "",
                "valid_until": self.valid_until.data.isoformat() if self.valid_until.data else
                (self.valid_until.raw_data[0] if self.valid_until.raw_data and self.valid_until.raw_data[0] else None)}
