from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

ROLE_CHOICES = [
    ("trainee", _l("Trainee")),
    ("trainer", _l("Trainer")),
    ("assessor", _l("Assessor")),
    ("admin", _l("Admin")),
    ("coordinator", _l("Coordinator")),
]


class UserCreateForm(FlaskForm):
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="trainee")
    company = StringField(_l("Company"), validators=[Optional(), Length(max=200)])
    password = PasswordField(
        _l("Initial password"),
        validators=[Optional(), Length(min=10, max=256)],
        description=_l("Leave empty to let the person set one with “Forgot your password?”."),
    )
    submit = SubmitField(_l("Create user"))


class UserEditForm(FlaskForm):
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    company = StringField(_l("Company"), validators=[Optional(), Length(max=200)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=50)])
    active = BooleanField(_l("Active (may log in)"))
    submit = SubmitField(_l("Save"))
