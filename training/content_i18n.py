"""Content in English and Simplified Chinese: what a record says in each language.

The interface is translated with gettext; this module is about what people write
(course titles, descriptions, locations, trainer bios). Each translatable field of
a record has an English and a Chinese text (either may be empty) and the record
marks one language as the original. Two storage layouts are registered here:

* ``original`` (Course, Run, TrainerProfile): the long-standing column keeps the
  ORIGINAL text (so code that reads ``course.title`` still gets a real title) and
  ``<field>_translation`` holds the other language; ``original_language`` says
  which language the original is.
* ``fixed`` (Category, Skill, Position): one column per language (``name`` is
  English, ``name_zh`` Chinese); ``original_language`` where the model has it,
  else the language that has text (English first).

API (the common layer; imports nothing from the domain packages):

* ``texts(obj, field) -> {"en": str, "zh": str}``
* ``original_language(obj) -> "en" | "zh"``
* ``localized(obj, field, lang=None) -> Localized`` (a ``str`` with ``.lang`` and
  ``.is_fallback``); ``lang=None`` is the current locale.
* ``assign(obj, {field: {"en": ..., "zh": ...}}, original=...)`` writes texts
  by language whatever the layout (and moves texts when the original changes).
* Jinja: ``{{ ltext(obj, 'title') }}``; ``templates/macros/i18n.html`` ``lmark``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LANGS = ("en", "zh")
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}

# The HTML lang attribute of each content language.
HTML_LANG = {"en": "en", "zh": "zh-Hans"}


@dataclass(frozen=True)
class Layout:
    mode: str  # "original" or "fixed"
    # original: field -> (original column, translation column); fixed: field -> (en column, zh column)
    fields: dict
    # Fields that must have text in the original language (a record needs a title).
    required: tuple = ()
    marker: str | None = "original_language"


# Registered by class name so that this module imports no domain package.
_LAYOUTS: dict[str, Layout] = {
    "Course": Layout(
        "original",
        {
            "title": ("title", "title_translation"),
            "summary": ("summary", "summary_translation"),
            "description": ("description", "description_translation"),
            "outcomes": ("outcomes", "outcomes_translation"),
            "prerequisites": ("prerequisites", "prerequisites_translation"),
            "audience": ("audience", "audience_translation"),
        },
        required=("title",),
    ),
    "Run": Layout(
        "original",
        {
            "location": ("location", "location_translation"),
            "notes": ("notes", "notes_translation"),
        },
    ),
    "TrainerProfile": Layout(
        "original",
        {
            "title": ("title", "title_translation"),
            "bio": ("bio", "bio_translation"),
        },
    ),
    "Category": Layout("fixed", {"name": ("name", "name_zh")}, required=("name",)),
    "Skill": Layout("fixed", {"name": ("name", "name_zh")}, required=("name",), marker=None),
    "Position": Layout("fixed", {"name": ("name", "name_zh")}, required=("name",), marker=None),
}


def register(class_name: str, layout: Layout) -> None:
    """Register (or replace) the layout of a model by its class name."""
    _LAYOUTS[class_name] = layout


def layout_of(obj) -> Layout:
    for cls in type(obj).__mro__:
        found = _LAYOUTS.get(cls.__name__)
        if found is not None:
            return found
    raise KeyError(f"{type(obj).__name__} has no bilingual fields")


def fields_of(obj) -> tuple[str, ...]:
    return tuple(layout_of(obj).fields)


def other(lang: str) -> str:
    return "en" if lang == "zh" else "zh"


def normalise_lang(value) -> str:
    """ "zh" for any Chinese locale (zh, zh_CN, zh-Hans), else "en"."""
    return "zh" if str(value or "").lower().replace("-", "_").startswith("zh") else "en"


def current_lang() -> str:
    """The content language of the current request or ``force_locale`` block."""
    try:
        from flask_babel import get_locale

        return normalise_lang(get_locale())
    except Exception:  # outside an application context
        return "en"


def _get(obj, attr: str) -> str:
    value = getattr(obj, attr, None)
    return value if isinstance(value, str) else ""


def original_language(obj) -> str:
    layout = layout_of(obj)
    marker = getattr(obj, layout.marker, None) if layout.marker else None
    if marker in LANGS:
        return marker
    if layout.mode == "fixed":
        # No marker: the language that has text, English first.
        first = next(iter(layout.fields.values()))
        return "zh" if not _get(obj, first[0]).strip() and _get(obj, first[1]).strip() else "en"
    return "en"


def texts(obj, field: str) -> dict[str, str]:
    layout = layout_of(obj)
    first, second = layout.fields[field]
    if layout.mode == "fixed":
        return {"en": _get(obj, first), "zh": _get(obj, second)}
    orig = original_language(obj)
    return {orig: _get(obj, first), other(orig): _get(obj, second)}


class Localized(str):
    """A text in one language, with which language it is and whether it stands in
    for the one wanted (``is_fallback``)."""

    lang: str
    is_fallback: bool

    def __new__(cls, value: str, lang: str = "en", is_fallback: bool = False):
        made = super().__new__(cls, value or "")
        made.lang = lang
        made.is_fallback = is_fallback
        return made

    @property
    def html_lang(self) -> str:
        return HTML_LANG[self.lang]


def localized(obj, field: str, lang: str | None = None) -> Localized:
    """The text of ``field`` in ``lang`` (default: the current locale), else the
    other language's text marked as a fallback; "" when neither has any."""
    if obj is None:
        return Localized("", normalise_lang(lang) if lang else current_lang())
    wanted = normalise_lang(lang) if lang else current_lang()
    found = texts(obj, field)
    if found[wanted].strip():
        return Localized(found[wanted], wanted, False)
    if found[other(wanted)].strip():
        return Localized(found[other(wanted)], other(wanted), True)
    return Localized("", wanted, False)


def missing(obj, field: str) -> list[str]:
    """The languages in which ``field`` has no text."""
    found = texts(obj, field)
    return [lang for lang in LANGS if not found[lang].strip()]


def missing_languages(obj, fields=None) -> list[str]:
    """The languages in which some text of ``obj`` is missing while the other
    language has it (what a translator still has to write)."""
    out = []
    for lang in LANGS:
        for name in fields or fields_of(obj):
            found = texts(obj, name)
            if not found[lang].strip() and found[other(lang)].strip():
                out.append(lang)
                break
    return out


def assign(obj, values: dict | None = None, original: str | None = None) -> None:
    """Write texts by language: ``values`` is ``{field: {"en": ..., "zh": ...}}``
    (a language left out keeps its text). ``original`` changes the original
    language; texts stay in their language whatever column that means.
    Validation (required texts, lengths) is the caller's business."""
    layout = layout_of(obj)
    current = {name: texts(obj, name) for name in layout.fields}
    for name, by_lang in (values or {}).items():
        if name not in layout.fields:
            raise KeyError(f"{type(obj).__name__}.{name} is not bilingual")
        for lang, text in by_lang.items():
            if lang not in LANGS:
                raise KeyError(f"unknown content language {lang!r}")
            current[name][lang] = text if text is not None else ""
    orig = original if original in LANGS else original_language(obj)
    if layout.marker and hasattr(type(obj), layout.marker):
        setattr(obj, layout.marker, orig)
    for name, (first, second) in layout.fields.items():
        if layout.mode == "fixed":
            pairs = ((first, current[name]["en"]), (second, current[name]["zh"]))
        else:
            pairs = ((first, current[name][orig]), (second, current[name][other(orig)]))
        for attr, text in pairs:
            if getattr(obj, attr, None) != text and not (text == "" and getattr(obj, attr, None) is None):
                setattr(obj, attr, text)


# --- writing texts from a form or an API request --------------------------------------


def _language_name(lang: str) -> str:
    from flask_babel import gettext as _

    return _("English") if lang == "en" else _("Chinese")


def apply_texts(obj, data: dict, limits: dict[str, int], *, creating: bool = False) -> None:
    """Write the bilingual fields of ``obj`` from request data (forms and the API).

    ``data`` may hold, per field, ``<field>`` (the text in the original language,
    the shape older clients send) and ``<field>_i18n`` (``{"en": ..., "zh": ...}``,
    either key optional; it wins over ``<field>`` for the language it names), and
    ``original_language`` ("en" or "zh"). ``limits`` gives each field's length.

    Refused with ValidationFailed (a 4xx; the caller's unit of work rolls back):
    a value of the wrong type, an unknown language, a text too long, a required
    field (a course's title) empty in the original language, and a translation
    without an original (text in the other language only)."""
    from flask_babel import gettext as _

    from .errors import ValidationFailed

    layout = layout_of(obj)
    original = data.get("original_language")
    if original is not None and original not in LANGS:
        raise ValidationFailed(_("original_language must be en or zh."), fields={"original_language": "unknown"})
    if original is None and creating:
        original = "en"
    wanted = original or original_language(obj)

    def clean(value, name: str, limit: int) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValidationFailed(_("%(field)s must be text.", field=name), fields={name: "not a string"})
        value = value.replace("\r\n", "\n").strip()
        if len(value) > limit:
            raise ValidationFailed(
                _("%(field)s is longer than %(max_length)s characters.", field=name, max_length=limit),
                fields={name: "too long"},
            )
        return value

    values: dict[str, dict[str, str]] = {}
    for name in layout.fields:
        limit = limits.get(name, 20000)
        by_lang: dict[str, str] = {}
        if name in data or creating:
            by_lang[wanted] = clean(data.get(name), name, limit)
        key = f"{name}_i18n"
        raw = data.get(key)
        if raw is not None:
            if not isinstance(raw, dict) or not set(raw) <= set(LANGS):
                raise ValidationFailed(
                    _("%(field)s must be an object with the keys en and zh.", field=key), fields={key: "invalid"}
                )
            for lang, text in raw.items():
                by_lang[lang] = clean(text, f"{key}.{lang}", limit)
        if by_lang:
            values[name] = by_lang
    assign(obj, values, original=wanted)
    for name in layout.fields:
        found = texts(obj, name)
        if found[wanted].strip():
            continue
        if name in layout.required:
            raise ValidationFailed(
                _(
                    "%(field)s is required in the original language (%(language)s).",
                    field=name,
                    language=_language_name(wanted),
                ),
                fields={name: "required"},
            )
        if found[other(wanted)].strip():
            raise ValidationFailed(
                _(
                    "%(field)s has a translation but no text in the original language (%(language)s).",
                    field=name,
                    language=_language_name(wanted),
                ),
                fields={name: "original missing"},
            )


def as_json(obj) -> dict:
    """``{"original_language": ..., "<field>_i18n": {"en": ..., "zh": ...}, ...}`` for the API."""
    out: dict = {"original_language": original_language(obj)}
    for name in fields_of(obj):
        out[f"{name}_i18n"] = texts(obj, name)
    return out


# --- detecting the language of existing text ----------------------------------------

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


def detect_language(text: str | None, default: str | None = None) -> str | None:
    """ "zh" or "en" from the script of the text (a Chinese character counts as
    much as three Latin letters, so "OPC UA 入门" is Chinese and "PLC basics 入门"
    English); ``default`` when the text has no letters at all."""
    if not text:
        return default
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    if not cjk and not latin:
        return default
    return "zh" if cjk * 3 >= latin else "en"


# --- templates -----------------------------------------------------------------------


def ltext(obj, field: str, lang: str | None = None) -> Localized:
    return localized(obj, field, lang)


def marker(value: Localized):
    """The small "English only" / "Chinese only" badge beside a fallback text (HTML)."""
    from flask_babel import gettext as _
    from markupsafe import Markup

    if not getattr(value, "is_fallback", False):
        return Markup("")
    label = _("English only") if value.lang == "en" else _("Chinese only")
    return Markup('<span class="badge rounded-pill text-bg-light border fw-normal ms-1 lmark">{}</span>').format(label)


def lshow(obj, field: str, lang: str | None = None):
    """HTML: the text in the reader's language, or the other one in its own ``lang``
    with the marker. For text inside attributes and <title>, use ``ltext``."""
    from markupsafe import Markup

    value = localized(obj, field, lang)
    if not value.is_fallback:
        return Markup.escape(str(value))
    return Markup('<span lang="{}">{}</span>').format(value.html_lang, str(value)) + marker(value)


def init_app(app) -> None:
    app.jinja_env.globals.update(ltext=ltext, lshow=lshow, content_langs=LANGS, lmissing=missing_languages)
