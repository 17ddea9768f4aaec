"""Certificate templates: the default one, per-course ones, and their validation.

Text is plain: anything that looks like markup is refused with a message
(reportlab would print it literally, and a template must never carry HTML into
pages that show it). Images (logo, signatures) must be real images of at most
2 MB; they are flattened onto the paper colour, scaled down and stored as JPEG,
which the PDF writer embeds without decoding.
"""

from __future__ import annotations

import io
import re
from collections.abc import Set
from typing import Any, cast

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..audit import record
from ..catalogue.models import Course
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..pdf_fonts import needs_cjk
from ..permissions import can
from ..transactions import unit_of_work
from . import pdf
from .models import CertificateTemplate

MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000
LANGUAGES = ("bilingual", "en", "zh")
BORDERS = ("guilloche", "double", "simple")
COLOUR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
MARKUP_RE = re.compile(r"<\s*/?\s*[A-Za-z!?][^>]*>|&#?\w+;|<\s*/?\s*>")
TEXT_FIELDS = {
    # field: (max length, required)
    "name": (100, True),
    "title_en": (120, True),
    "title_zh": (60, True),
    "intro_en": (200, False),
    "intro_zh": (100, False),
    "body_en": (200, False),
    "body_zh": (100, False),
    "signatory1_name": (120, False),
    "signatory1_title": (120, False),
    "signatory2_name": (120, False),
    "signatory2_title": (120, False),
}
IMAGE_FIELDS = ("logo", "signatory1_image", "signatory2_image")
_designs: dict[tuple, pdf.Design] = {}


@unit_of_work
def default_template() -> CertificateTemplate:
    """The template used by courses without their own (created on first use)."""
    template = db.session.scalar(
        select(CertificateTemplate)
        .where(CertificateTemplate.course_id.is_(None))
        .order_by(CertificateTemplate.id)
        .limit(1)
    )
    if template is None:
        template = CertificateTemplate(name="Default", course_id=None)
        db.session.add(template)
        db.session.commit()
    return template


def list_templates() -> list[CertificateTemplate]:
    default_template()
    return list(
        db.session.scalars(
            select(CertificateTemplate)
            .options(selectinload(CertificateTemplate.course))
            .order_by(CertificateTemplate.course_id.is_not(None), CertificateTemplate.name)
        )
    )


def get_template(template_id: int) -> CertificateTemplate:
    template = db.session.get(CertificateTemplate, template_id)
    if template is None:
        raise NotFound(_("No such certificate template."))
    return template


def design_of(template: CertificateTemplate) -> pdf.Design:
    """The plain-data design of a template (cached per template version)."""
    key = (template.id, template.updated_at.isoformat() if template.updated_at else "")
    design = _designs.get(key)
    if design is None:
        config = current_app.config
        sigs = tuple(
            pdf.Signatory(name, title or "", image)
            for name, title, image in (
                (template.signatory1_name, template.signatory1_title, template.signatory1_image),
                (template.signatory2_name, template.signatory2_title, template.signatory2_image),
            )
            if name
        )
        design = pdf.Design(
            key=f"{key[0]}:{key[1]}",
            language=template.language,
            title_en=template.title_en,
            title_zh=template.title_zh,
            intro_en=template.intro_en,
            intro_zh=template.intro_zh,
            body_en=template.body_en,
            body_zh=template.body_zh,
            issuer_en=config["ORG_NAME"],
            issuer_zh=config.get("ORG_NAME_ZH") or config["ORG_NAME"],
            primary=template.primary_color,
            accent=template.accent_color,
            paper=template.paper_color,
            border=template.border,
            logo=template.logo,
            signatories=sigs,
        )
        if len(_designs) > 64:
            _designs.clear()
        _designs[key] = design
    return design


def designs_for_courses(course_ids) -> dict[int | None, pdf.Design]:
    """Designs by course id (None: the default), in one query."""
    course_ids = {c for c in course_ids if c is not None}
    default = design_of(default_template())
    found: dict[int | None, pdf.Design] = {None: default}
    if course_ids:
        for template in db.session.scalars(
            select(CertificateTemplate).where(CertificateTemplate.course_id.in_(course_ids))
        ):
            found[template.course_id] = design_of(template)
    return {**{c: found.get(c, default) for c in course_ids}, None: default}


# --- editing ----------------------------------------------------------------------


def _clean_text(field: str, value) -> str:
    max_length, required = TEXT_FIELDS[field]
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(_("%(field)s must be text.", field=field), fields={field: "invalid"})
    value = " ".join(value.split())
    if required and not value:
        raise ValidationFailed(_("This field is required."), fields={field: _("This field is required.")})
    if len(value) > max_length:
        message = _("At most %(n)s characters.", n=max_length)
        raise ValidationFailed(message, fields={field: message})
    if MARKUP_RE.search(value):
        message = _("Plain text only: remove the markup (such as <b> or &amp;).")
        raise ValidationFailed(message, fields={field: message})
    return value


def prepare_image(data: bytes, field: str, paper: str = "#FFFFFF") -> bytes:
    """Check an uploaded image and return it as a JPEG of at most 800 px."""
    if len(data) > MAX_IMAGE_BYTES:
        message = _("The image is larger than 2 MB (it has %(mb)s MB).", mb=f"{len(data) / 1048576:.1f}")
        raise ValidationFailed(message, fields={field: message})
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in ("PNG", "JPEG", "GIF", "WEBP"):
                raise ValueError(probe.format)
            if probe.width * probe.height > MAX_IMAGE_PIXELS:
                raise ValueError("too many pixels")
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            image.thumbnail((800, 800))
            rgba = image.convert("RGBA")
            canvas = Image.new("RGB", rgba.size, paper)
            canvas.paste(rgba, mask=rgba.getchannel("A"))
            out = io.BytesIO()
            canvas.save(out, "JPEG", quality=90, optimize=True)
            return out.getvalue()
    except (UnidentifiedImageError, ValueError, OSError, Image.DecompressionBombError, SyntaxError):
        message = _("This file is not an image we can use: upload a PNG, JPEG, GIF or WebP picture.")
        raise ValidationFailed(message, fields={field: message}) from None


@unit_of_work
def save_template(
    actor,
    template: CertificateTemplate | None,
    data: dict,
    images: dict[str, bytes | None] | None = None,
    remove: Set[str] = frozenset(),
) -> CertificateTemplate:
    """Create or update a template. Validates everything before changing anything."""
    if not can(actor, "manage"):
        raise Forbidden(_("Only an admin can edit certificate templates."))
    clean = {field: _clean_text(field, data.get(field, getattr(template, field, None))) for field in TEXT_FIELDS}
    language = data.get("language", getattr(template, "language", "bilingual"))
    if language not in LANGUAGES:
        raise ValidationFailed(_("Choose a layout language."), fields={"language": "invalid"})
    border = data.get("border", getattr(template, "border", "guilloche"))
    if border not in BORDERS:
        raise ValidationFailed(_("Choose a border."), fields={"border": "invalid"})
    colours = {}
    for field in ("primary_color", "accent_color", "paper_color"):
        value = (
            data.get(field, getattr(template, field, None))
            or cast(Any, CertificateTemplate.__table__.c[field].default).arg
        )  # the columns have defaults
        if not isinstance(value, str) or not COLOUR_RE.match(value.strip()):
            message = _("A colour like #0B3C6E.")
            raise ValidationFailed(message, fields={field: message})
        colours[field] = value.strip().upper()
    course_id = data.get("course_id", getattr(template, "course_id", None))
    if course_id in ("", None):
        course_id = None
    else:
        try:
            course_id = int(course_id)
        except (TypeError, ValueError):
            raise ValidationFailed(_("Choose a course."), fields={"course_id": "invalid"}) from None
        if db.session.get(Course, course_id) is None:
            raise ValidationFailed(_("Choose a course."), fields={"course_id": "unknown"})
    prepared = {}
    for field, raw in (images or {}).items():
        if field in IMAGE_FIELDS and raw:
            prepared[field] = prepare_image(raw, field, colours["paper_color"])
    if template is None:
        if course_id is not None and db.session.scalar(
            select(CertificateTemplate.id).where(CertificateTemplate.course_id == course_id)
        ):
            raise Conflict(_("This course already has a template: edit that one."), code="template_exists")
        template = CertificateTemplate()
        db.session.add(template)
    elif template.course_id is None and course_id is not None:
        raise ValidationFailed(_("The default template cannot be tied to a course."), fields={"course_id": "invalid"})
    elif (
        course_id != template.course_id
        and course_id is not None
        and db.session.scalar(
            select(CertificateTemplate.id).where(
                CertificateTemplate.course_id == course_id, CertificateTemplate.id != template.id
            )
        )
    ):
        raise Conflict(_("This course already has a template: edit that one."), code="template_exists")
    for field, value in {**clean, **colours}.items():
        setattr(template, field, value)
    template.language, template.border, template.course_id = language, border, course_id
    for field in remove:
        if field in IMAGE_FIELDS:
            setattr(template, field, None)
    for field, value in prepared.items():
        setattr(template, field, value)
    template.updated_by_id = getattr(actor, "id", None)
    from ..types import utcnow

    template.updated_at = utcnow()
    db.session.flush()
    record(actor, "certificate_template.save", template, template.name)
    db.session.commit()
    return template


@unit_of_work
def delete_template(actor, template: CertificateTemplate) -> None:
    if not can(actor, "manage"):
        raise Forbidden(_("Only an admin can edit certificate templates."))
    if template.course_id is None:
        raise Conflict(_("The default template cannot be deleted."), code="default_template")
    record(actor, "certificate_template.delete", template, template.name)
    db.session.delete(template)
    db.session.commit()


# --- preview -------------------------------------------------------------------------

SAMPLES = {
    # key: (label, holder name, course title in its original language, in the other language)
    "cjk": (
        _l("Long Chinese name"),
        "爱新觉罗·欧阳司马慕容晓燕",
        "OPC UA 信息建模与工业物联网集成实战",
        "OPC UA information modelling and IIoT integration in practice",
    ),
    "latin": (
        _l("Long Latin name"),
        "Maximiliane Josephine Würtemberg-Hohenzollern von Schönfeld-Aldringen",
        "PLC Programming with Siemens TIA Portal",
        "基于西门子 TIA Portal 的 PLC 编程",
    ),
    "title": (
        _l("Long course title"),
        "欧阳晓燕",
        "Advanced Industrial Robotics: Offline Programming, Simulation, Safety-Rated Monitored Stops and "
        "Collaborative Applications with ABB, KUKA and FANUC Controllers in Mixed Production Cells",
        "高级工业机器人：离线编程与仿真、安全级监控停止，以及 ABB、KUKA 与 FANUC 控制器在混线生产单元中的人机协作应用",
    ),
}


def sample_doc(key: str) -> pdf.CertificateDoc:
    from datetime import timedelta

    from ..types import org_today
    from . import codes
    from .services import verify_url

    _label, name, title, translation = SAMPLES[key]
    today = org_today()
    code = "0" * (codes.BODY_LENGTH)
    code = code + codes.check_char(code)
    return pdf.CertificateDoc(
        code=code,
        holder_name=name,
        course_title=title,
        course_title_translation=translation,
        course_title_language="zh" if needs_cjk(title) else "en",
        course_code="SAMPLE",
        hours=24,
        starts_on=today - timedelta(days=4),
        ends_on=today - timedelta(days=2),
        completed_on=today - timedelta(days=2),
        issued_on=today,
        verify_url=verify_url(code),
        trainers=("王建国", "Anna Müller"),
        expires_on=today + timedelta(days=3 * 365),
    )


def pdf_to_png(data: bytes, scale: float = 1.2) -> bytes | None:
    """A PNG of the first page (for previews in the browser), or None without pypdfium2."""
    try:
        import pypdfium2 as pdfium
    except ImportError:
        return None
    document = pdfium.PdfDocument(data)
    try:
        image = document[0].render(scale=scale).to_pil()
        out = io.BytesIO()
        image.save(out, "PNG", optimize=False)
        return out.getvalue()
    finally:
        document.close()
