"""Admin forms for the catalogue: categories, courses, runs and meetings.
They check shapes; the rules (dates in order, capacity, meetings inside the
run) live in catalogue.services and come back as field errors."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    FloatField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..content_forms import original_field, pair

LEVELS = [("beginner", _l("Beginner")), ("intermediate", _l("Intermediate")), ("advanced", _l("Advanced"))]
LANGUAGE_CHOICES = [
    ("zh", _l("Chinese")),
    ("en", _l("English")),
    ("en+zh", _l("English and Chinese")),
    ("de", _l("German")),
]
MODES = [("in_person", _l("In person")), ("online", _l("Online")), ("blended", _l("Blended"))]
RUN_STATUSES = [
    ("draft", _l("Draft (not shown)")),
    ("open", _l("Open for enrolment")),
    ("closed", _l("Enrolment closed")),
]
MARKDOWN_HELP = _l("Markdown: **bold**, *italic*, lists, links, tables.")


class CategoryForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=120)])
    name_zh = StringField(_l("Chinese name"), validators=[Length(max=120)])
    original_language = original_field()
    slug = StringField(
        _l("Slug"),
        validators=[Length(max=64)],
        description=_l("Used in links, e.g. plc. Left empty, it is made from the name."),
    )
    submit = SubmitField(_l("Save category"))


class CourseForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)], description=_l("e.g. PLC-101"))
    # Texts in English and Chinese (training.content_forms); the original is required.
    original_language = original_field()
    title_en, title_zh = pair(StringField, _l("Title"), 200)
    summary_en, summary_zh = pair(
        TextAreaField,
        _l("Summary"),
        500,
        render_kw={"rows": 2},
        description=_l("One or two sentences for the course card and search engines."),
    )
    category = SelectField(_l("Category"), choices=[], validate_choice=False)
    level = SelectField(_l("Level"), choices=LEVELS)
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
    hours = FloatField(_l("Hours"), validators=[DataRequired(), NumberRange(min=0.5, max=10000)])
    description_en, description_zh = pair(
        TextAreaField, _l("Description"), 50000, render_kw={"rows": 8}, description=MARKDOWN_HELP
    )
    outcomes_en, outcomes_zh = pair(
        TextAreaField, _l("Learning outcomes"), 20000, render_kw={"rows": 5}, description=MARKDOWN_HELP
    )
    audience_en, audience_zh = pair(TextAreaField, _l("Who it is for"), 20000, render_kw={"rows": 3})
    prerequisites_en, prerequisites_zh = pair(TextAreaField, _l("Prerequisites"), 20000, render_kw={"rows": 3})
    prerequisite_code = StringField(
        _l("Required certificate (course code)"),
        validators=[Length(max=32)],
        description=_l("Trainees need a valid certificate of this course to enrol."),
    )
    min_attendance_pct = IntegerField(
        _l("Minimum attendance %"), default=80, validators=[DataRequired(), NumberRange(min=0, max=100)]
    )
    excused_counts = BooleanField(_l("Excused absences count as attended"))
    pass_mark = IntegerField(
        _l("Pass mark of the final assessment %"), validators=[Optional(), NumberRange(min=0, max=100)]
    )
    validity_months = IntegerField(
        _l("Certificate valid for (months)"), validators=[Optional(), NumberRange(min=1, max=600)]
    )
    published = BooleanField(_l("Published in the catalogue"), default=True)
    submit = SubmitField(_l("Save course"))


class RunForm(FlaskForm):
    starts_on = DateField(_l("First day"), validators=[DataRequired()])
    ends_on = DateField(_l("Last day"), validators=[DataRequired()])
    timezone = StringField(
        _l("Time zone"),
        default="Asia/Shanghai",
        validators=[DataRequired(), Length(max=64)],
        description=_l("IANA name, e.g. Asia/Shanghai or Europe/Berlin."),
    )
    mode = SelectField(_l("Delivery"), choices=MODES)
    city = StringField(_l("City"), validators=[Length(max=100)])
    original_language = original_field()
    location_en, location_zh = pair(
        StringField, _l("Place or link"), 300, description=_l("Address and room, or the meeting link for online runs.")
    )
    capacity = IntegerField(_l("Capacity"), validators=[DataRequired(), NumberRange(min=1, max=100000)])
    status = SelectField(_l("Status"), choices=RUN_STATUSES, default="open")
    trainers = SelectMultipleField(_l("Trainers"), coerce=int, choices=[], validate_choice=False, render_kw={"size": 6})
    enrol_deadline = DateTimeLocalField(
        _l("Enrolment deadline"),
        validators=[Optional()],
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        description=_l("Local time. Empty: when the first session starts."),
    )
    cancel_cutoff = DateTimeLocalField(
        _l("Cancellation cut-off"),
        validators=[Optional()],
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        description=_l("Local time. Empty: when the first session starts."),
    )
    requires_approval = BooleanField(_l("Enrolments need an admin's approval"))
    notes_en, notes_zh = pair(TextAreaField, _l("Internal notes"), 5000, render_kw={"rows": 2})
    submit = SubmitField(_l("Save run"))


class NewRunForm(RunForm):
    daily_sessions = BooleanField(_l("Create one session per day"), default=True)
    skip_weekends = BooleanField(_l("Skip Saturdays and Sundays"), default=True)
    day_starts = TimeField(_l("Sessions start"), validators=[Optional()])
    day_ends = TimeField(_l("Sessions end"), validators=[Optional()])


class MeetingForm(FlaskForm):
    day = DateField(_l("Day"), validators=[DataRequired()])
    starts = TimeField(_l("Starts"), validators=[DataRequired()])
    ends = TimeField(_l("Ends"), validators=[DataRequired()])
    title = StringField(_l("Topic"), validators=[Length(max=200)])
    add = SubmitField(_l("Add session"))


class CancelRunForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason (sent to every trainee)"), validators=[DataRequired(), Length(max=2000)], render_kw={"rows": 2}
    )
    cancel = SubmitField(_l("Cancel this run"))
