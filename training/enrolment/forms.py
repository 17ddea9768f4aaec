"""Forms of the enrolment pages (trainee and admin)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token (and where to go back)."""

    next = HiddenField()


class CancelForm(ActionForm):
    reason = TextAreaField(_l("Reason (optional)"), validators=[Optional(), Length(max=2000)])


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)])


class StatusForm(FlaskForm):
    status = SelectField(
        _l("New status"),
        choices=[
            ("confirmed", _l("Confirmed")),
            ("waitlisted", _l("Waitlisted (end of the list)")),
            ("cancelled", _l("Cancelled")),
            ("rejected", _l("Declined")),
        ],
    )
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(message=_l("Give a reason.")), Length(max=2000)],
        description=_l("Kept with the enrolment and told to the trainee."),
    )


class AdminEnrolForm(FlaskForm):
    email = StringField(
        _l("E-mail"), validators=[DataRequired(), Email(message=_l("Enter a valid e-mail address.")), Length(max=254)]
    )
    name = StringField(
        _l("Name"), validators=[DataRequired(), Length(max=200)], description=_l("Used when a new account is created.")
    )
    company = StringField(_l("Company"), validators=[Optional(), Length(max=200)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=50)])


class ImportForm(FlaskForm):
    file = FileField(
        _l("CSV file"),
        validators=[FileRequired(message=_l("Choose a CSV file."))],
        description=_l(
            "Columns: email, name, and optionally company and phone. UTF-8, UTF-8 with BOM "
            "and GBK/GB18030 (Chinese Excel) are all fine; at most 5,000 rows and 2 MB."
        ),
    )


class ImportCommitForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])
