"""Forms of the company pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length, NumberRange, Optional

from .models import MembershipTier


class PersonForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    submit = SubmitField(_l("Add and invite"))


class ImportForm(FlaskForm):
    file = FileField(
        _l("CSV file"),
        validators=[FileRequired()],
        description=_l(
            "Columns: e-mail and name (English or Chinese headers). UTF-8, UTF-16 or GBK, as Excel saves it."
        ),
    )
    submit = SubmitField(_l("Import"))


class EnrolForm(FlaskForm):
    run_id = SelectField(_l("Course run"), coerce=int, validators=[DataRequired()])
    email = EmailField(
        _l("E-mail"),
        validators=[DataRequired(), Length(max=254)],
        description=_l("One of your people, or a new colleague (added to your company)."),
    )
    name = StringField(
        _l("Full name"), validators=[Optional(), Length(max=200)], description=_l("Needed only for a new colleague.")
    )
    submit = SubmitField(_l("Enrol"))


class CancelForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Cancel enrolment"))


class CompanyForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)])
    name = StringField(_l("Name (English)"), validators=[DataRequired(), Length(max=200)])
    name_zh = StringField(_l("Name (Chinese)"), validators=[Optional(), Length(max=200)])
    credit_code = StringField(_l("Unified social credit code or VAT id"), validators=[Optional(), Length(max=32)])
    tier = SelectField(_l("Membership tier"), choices=[(t.value, t.label) for t in MembershipTier])
    address = TextAreaField(_l("Address"), validators=[Optional(), Length(max=2000)])
    contact_name = StringField(_l("Contact"), validators=[Optional(), Length(max=200)])
    contact_email = EmailField(_l("Contact e-mail"), validators=[Optional(), Length(max=254)])
    contact_phone = StringField(_l("Contact phone"), validators=[Optional(), Length(max=50)])
    submit = SubmitField(_l("Save company"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tier.choices = [(t.value, t.label) for t in MembershipTier]


class AllocationForm(FlaskForm):
    run_id = SelectField(_l("Course run"), coerce=int, validators=[DataRequired()])
    seats = IntegerField(_l("Reserved seats"), validators=[DataRequired(), NumberRange(min=0, max=100000)])
    release_on = DateField(
        _l("Release unused seats on"),
        validators=[Optional()],
        description=_l("At the start of this day in the run's time zone; empty: never."),
    )
    overflow = BooleanField(_l("Coordinators may also take public seats"), default=True)
    submit = SubmitField(_l("Reserve seats"))


class ResolveForm(FlaskForm):
    key = StringField(validators=[DataRequired(), Length(max=400)])
    company_id = SelectField(_l("Company"), coerce=int, validators=[DataRequired()])
    submit = SubmitField(_l("Put into this company"))


class MergeForm(FlaskForm):
    into = SelectField(_l("Merge into"), coerce=int, validators=[DataRequired()])
    submit = SubmitField(_l("Merge"))


class JoinForm(FlaskForm):
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=10, max=256)])
    confirm = PasswordField(_l("Repeat the password"), validators=[DataRequired(), EqualTo("password")])
    submit = SubmitField(_l("Join"))
