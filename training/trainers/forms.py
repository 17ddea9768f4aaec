from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from ..content_forms import original_field, pair


class ProfileForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    original_language = original_field()
    title_en, title_zh = pair(StringField, _l("Job title"), 200, description=_l("e.g. Senior Automation Engineer"))
    organisation = StringField(_l("Organisation"), validators=[Length(max=200)])
    expertise = StringField(
        _l("Expertise"),
        validators=[Length(max=500)],
        description=_l("Tags separated by commas, e.g. PLC, OPC UA, Machine vision"),
    )
    bio_en, bio_zh = pair(
        TextAreaField,
        _l("Bio"),
        20000,
        render_kw={"rows": 10},
        description=_l("Markdown: **bold**, *italic*, lists and links. Scripts and HTML are removed."),
    )
    public = BooleanField(_l("Show my profile in the public trainer directory"))
    submit = SubmitField(_l("Save profile"))


class PhotoForm(FlaskForm):
    photo = FileField(
        _l("New photo"),
        validators=[FileRequired(_l("Choose a photo to upload."))],
        description=_l("JPEG, PNG or WebP, up to 5 MB. It is cropped to a square."),
        render_kw={"accept": "image/jpeg,image/png,image/webp"},
    )
    upload = SubmitField(_l("Upload photo"))


class RemovePhotoForm(FlaskForm):
    remove = SubmitField(_l("Remove photo"))
