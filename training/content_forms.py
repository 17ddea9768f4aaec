"""Form fields for bilingual content (training.content_i18n): one field per
language (``<name>_en``, ``<name>_zh``) and the original-language selector,
shown side by side by ``templates/macros/i18n.html`` ``bilingual_field``.

The forms check shapes and lengths; which language is required (the original)
is the services' rule (``content_i18n.apply_texts``), and its refusals come
back beside the right column through ``aliases``."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectField
from wtforms.validators import Length

from . import content_i18n

ORIGINAL_CHOICES = [("en", _l("English")), ("zh", _l("Chinese"))]


def original_field():
    return SelectField(
        _l("Original language"),
        choices=ORIGINAL_CHOICES,
        default="en",
        description=_l("The language the texts were written in; the other is the translation."),
    )


def pair(field_class, label, max_length: int, **kwargs):
    """The English and the Chinese field of one text: ``title_en, title_zh = pair(...)``."""
    validators = [Length(max=max_length)]
    return (
        field_class(label, validators=list(validators), **kwargs),
        field_class(label, validators=list(validators), **kwargs),
    )


def fill(form, obj, names) -> None:
    """Put the record's texts and original language into the form (GET)."""
    for name in names:
        found = content_i18n.texts(obj, name)
        for lang in content_i18n.LANGS:
            getattr(form, f"{name}_{lang}").data = found[lang]
    form.original_language.data = content_i18n.original_language(obj)


def data(form, names) -> dict:
    """The service's input: ``original_language`` and ``<name>_i18n`` per field."""
    out: dict = {"original_language": form.original_language.data}
    for name in names:
        out[f"{name}_i18n"] = {lang: getattr(form, f"{name}_{lang}").data or "" for lang in content_i18n.LANGS}
    return out


def aliases(form, names) -> dict[str, str]:
    """Service field names (``title``, ``title_i18n.zh``) -> the form field to show the error beside."""
    original = form.original_language.data if form.original_language.data in content_i18n.LANGS else "en"
    out = {"original_language": "original_language"}
    for name in names:
        out[name] = f"{name}_{original}"
        out[f"{name}_i18n"] = f"{name}_{original}"
        for lang in content_i18n.LANGS:
            out[f"{name}_i18n.{lang}"] = f"{name}_{lang}"
    return out
