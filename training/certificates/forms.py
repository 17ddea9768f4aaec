"""Forms of the certificate admin pages (validation of content lives in certificates.templates)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length


class TemplateForm(FlaskForm):
    name = StringField(_l("Template name"), validators=[DataRequired(), Length(max=100)])
    course_id = SelectField(
        _l("Course"),
        choices=[],
        validate_choice=False,
        description=_l("Leave empty for the default template used by every other course."),
    )
    language = SelectField(
        _l("Layout"),
        choices=[("bilingual", _l("Bilingual (Chinese and English)")), ("en", _l("English")), ("zh", _l("Chinese"))],
    )
    title_en = StringField(_l("Title (English)"), validators=[DataRequired(), Length(max=120)])
    title_zh = StringField(_l("Title (Chinese)"), validators=[DataRequired(), Length(max=60)])
    intro_en = StringField(_l("Opening line (English)"), validators=[Length(max=200)])
    intro_zh = StringField(_l("Opening line (Chinese)"), validators=[Length(max=100)])
    body_en = StringField(_l("Completion line (English)"), validators=[Length(max=200)])
    body_zh = StringField(_l("Completion line (Chinese)"), validators=[Length(max=100)])
    primary_color = StringField(_l("Main colour"), render_kw={"type": "color"})
    accent_color = StringField(_l("Accent colour"), render_kw={"type": "color"})
    paper_color = StringField(_l("Paper colour"), render_kw={"type": "color"})
    border = SelectField(
        _l("Border"),
        choices=[("guilloche", _l("Guilloche band")), ("double", _l("Double frame")), ("simple", _l("Simple frame"))],
    )
    logo = FileField(
        _l("Logo"),
        description=_l("PNG, JPEG, GIF or WebP, at most 2 MB."),
        render_kw={"accept": "image/png,image/jpeg,image/gif,image/webp"},
    )
    remove_logo = BooleanField(_l("Remove the logo"))
    signatory1_name = StringField(_l("First signatory: name"), validators=[Length(max=120)])
    signatory1_title = StringField(_l("First signatory: title"), validators=[Length(max=120)])
    signatory1_image = FileField(
        _l("First signatory: signature image"), render_kw={"accept": "image/png,image/jpeg,image/gif,image/webp"}
    )
    remove_signatory1_image = BooleanField(_l("Remove the first signature image"))
    signatory2_name = StringField(_l("Second signatory: name"), validators=[Length(max=120)])
    signatory2_title = StringField(_l("Second signatory: title"), validators=[Length(max=120)])
    signatory2_image = FileField(
        _l("Second signatory: signature image"), render_kw={"accept": "image/png,image/jpeg,image/gif,image/webp"}
    )
    remove_signatory2_image = BooleanField(_l("Remove the second signature image"))
