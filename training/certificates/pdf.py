"""The certificate document: one A4 landscape page drawn with reportlab.

Everything here works on plain data (``CertificateDoc``, ``Design``) so that
worker processes can render and sign without a database or an app context.
What does not change from one certificate to the next is prepared once per
process: fonts (training.pdf_fonts), the page background (frame, guilloche
band, seal: a pre-computed string of PDF drawing operators per design), and
images (logos and signatures, kept as JPEG files that reportlab embeds without
decoding). The QR code is the ``qrcode`` package's module matrix drawn as one
filled path (one rectangle per run of dark modules), with a fixed mask pattern
so the encoder does not evaluate all eight; ``certificates.qr`` makes that same
matrix about eight times faster than the package does.

Text never overflows: every line is fitted to its box (smaller font, then a
second line, then smaller still) before it is drawn.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date
from functools import lru_cache
from pathlib import Path

from reportlab import rl_config
from reportlab.lib.colors import Color, HexColor, white
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase import pdfdoc
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas as rl_canvas

from ..pdf_fonts import fonts, needs_cjk
from . import qr
from .codes import display as display_code

# Binary (Flate) streams: ASCII85 on top only makes files larger and slower to write.
rl_config.useA85 = 0

PAGE_W, PAGE_H = landscape(A4)
CONTENT_W = PAGE_W - 2 * 88  # inside the frame and its ornaments
SIG_LINE_Y = 160  # the signature row
SEAL_Y = 162

# --- data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Signatory:
    name: str
    title: str = ""
    image: bytes | None = None  # JPEG, prepared by certificates.templates


@dataclass(frozen=True)
class Design:
    """What a certificate template says and how it looks (see CertificateTemplate)."""

    key: str = "builtin"  # changes whenever the design changes: caches are keyed by it
    language: str = "bilingual"  # en, zh or bilingual
    title_en: str = "Certificate of Completion"
    title_zh: str = "结业证书"
    intro_en: str = "This is to certify that"
    intro_zh: str = "兹证明"
    body_en: str = "has successfully completed the training course"
    body_zh: str = "已完成以下培训课程，成绩合格"
    issuer_en: str = "Smart Manufacturing Training Alliance"
    issuer_zh: str = "智能制造培训联盟"
    primary: str = "#0B3C6E"
    accent: str = "#B08D3C"
    paper: str = "#FFFDF6"
    border: str = "guilloche"  # guilloche, double, simple
    logo: bytes | None = None  # JPEG
    signatories: tuple[Signatory, ...] = ()


@dataclass(frozen=True)
class CertificateDoc:
    code: str
    holder_name: str
    course_title: str
    hours: float
    starts_on: date
    ends_on: date
    completed_on: date
    issued_on: date
    verify_url: str
    trainers: tuple[str, ...] = ()
    course_code: str = ""
    # The title in the other language ("" when the course has none) and the language of course_title.
    course_title_translation: str = ""
    course_title_language: str = "en"
    expires_on: date | None = None
    reissue_of: str | None = None  # the code this certificate replaces
    status: str = "valid"  # a non-valid status is stamped across the page
    extra: dict = field(default_factory=dict, compare=False, hash=False)


# --- text helpers -------------------------------------------------------------------


def fmt_hours(hours: float) -> str:
    return f"{hours:g}"


def fmt_date(d: date, lang: str) -> str:
    if lang == "zh":
        return f"{d.year}年{d.month}月{d.day}日"
    return f"{d.day} {d:%B %Y}"


def fmt_range(a: date, b: date, lang: str) -> str:
    if a == b:
        return fmt_date(a, lang)
    if lang == "zh":
        if a.year == b.year:
            return f"{a.year}年{a.month}月{a.day}日至{b.month}月{b.day}日"
        return f"{fmt_date(a, lang)}至{fmt_date(b, lang)}"
    if (a.year, a.month) == (b.year, b.month):
        return f"{a.day}–{b.day} {b:%B %Y}"
    if a.year == b.year:
        return f"{a.day} {a:%B} – {b.day} {b:%B %Y}"
    return f"{fmt_date(a, lang)} – {fmt_date(b, lang)}"


def _font(text: str, bold: bool = False) -> str:
    """The CJK font for CJK text; for other regular text too when it has every
    glyph (one embedded font subset fewer per file), else the Latin font."""
    f = fonts()
    if needs_cjk(text):
        return f.cjk
    if bold:
        return f.latin_bold
    covered = _cjk_coverage()
    if covered and all(ord(ch) in covered for ch in text):
        return f.cjk
    return f.latin


@lru_cache(maxsize=4)
def _cjk_coverage_for(name: str) -> frozenset:
    from reportlab.pdfbase.pdfmetrics import getFont

    face = getattr(getFont(name), "face", None)
    return frozenset(getattr(face, "charToGlyph", {}) or ())


def _cjk_coverage() -> frozenset:
    f = fonts()
    return _cjk_coverage_for(f.cjk) if f.cjk_embedded else frozenset()


def _width(text: str, font: str, size: float) -> float:
    return stringWidth(text, font, size)


def _split(text: str, parts: int) -> list[str]:
    """Split into ``parts`` lines of similar width, at spaces when there are any."""
    words = text.split(" ")
    if len(words) >= parts:
        best, best_score = None, None
        n = len(words)
        if parts == 2:
            for i in range(1, n):
                a, b = " ".join(words[:i]), " ".join(words[i:])
                score = max(len(a), len(b))
                if best_score is None or score < best_score:
                    best, best_score = [a, b], score
            assert best is not None  # two words or more: a split was taken
            return best
        per = max(1, math.ceil(n / parts))
        return [" ".join(words[i : i + per]) for i in range(0, n, per)]
    step = math.ceil(len(text) / parts)  # CJK or one long word: split between characters
    return [text[i : i + step] for i in range(0, len(text), step)]


def fit_lines(
    text: str, font: str, max_width: float, size: float, min_size: float, max_lines: int = 2
) -> tuple[list[str], float]:
    """Lines and font size so that every line is at most ``max_width`` wide."""
    text = " ".join(text.split())
    width_1 = _width(text, font, 1) or 1
    if width_1 * min_size <= max_width or max_lines == 1:
        return [text], min(size, max_width / width_1)
    for parts in range(2, max_lines + 1):
        lines = _split(text, parts)
        widest = max(_width(line, font, 1) for line in lines) or 1
        if widest * min_size <= max_width or parts == max_lines:
            return lines, min(size, max_width / widest)
    return [text], min(size, max_width / width_1)  # not reached


# --- per-process preparation ----------------------------------------------------------

_image_dir: Path | None = None


def image_file(data: bytes) -> str:
    """A JPEG on disk for reportlab to embed without decoding (written once per process)."""
    global _image_dir
    if _image_dir is None:
        _image_dir = Path(tempfile.mkdtemp(prefix="cert-images-"))
    path = _image_dir / (hashlib.sha256(data).hexdigest()[:32] + ".jpg")
    if not path.exists():
        path.write_bytes(data)
    return str(path)


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    c = HexColor(hex_colour)
    return c.red, c.green, c.blue


def _ops_colour(hex_colour: str, stroke: bool) -> str:
    r, g, b = _rgb(hex_colour)
    return f"{r:.3f} {g:.3f} {b:.3f} {'RG' if stroke else 'rg'}"


def _mix(hex_colour: str, towards: str, t: float) -> str:
    a, b = _rgb(hex_colour), _rgb(towards)
    r, g, bl = (a[i] + (b[i] - a[i]) * t for i in range(3))
    return f"#{round(r * 255):02X}{round(g * 255):02X}{round(bl * 255):02X}"


def _rounded_rect_ops(x, y, w, h, r) -> str:
    k = 0.5523 * r
    return (
        f"{x + r:.2f} {y:.2f} m {x + w - r:.2f} {y:.2f} l "
        f"{x + w - r + k:.2f} {y:.2f} {x + w:.2f} {y + r - k:.2f} {x + w:.2f} {y + r:.2f} c "
        f"{x + w:.2f} {y + h - r:.2f} l {x + w:.2f} {y + h - r + k:.2f} {x + w - r + k:.2f} {y + h:.2f} "
        f"{x + w - r:.2f} {y + h:.2f} c {x + r:.2f} {y + h:.2f} l {x + r - k:.2f} {y + h:.2f} {x:.2f} "
        f"{y + h - r + k:.2f} {x:.2f} {y + h - r:.2f} c {x:.2f} {y + r:.2f} l {x:.2f} {y + r - k:.2f} "
        f"{x + r - k:.2f} {y:.2f} {x + r:.2f} {y:.2f} c h"
    )


def _wave_ops(x0, y0, x1, y1, amplitude, period, phase) -> list[str]:
    """A sine wave from (x0,y0) to (x1,y1) drawn as cubic Béziers (two per period).

    The side gets a coordinate system of its own (origin at its start, x along
    it) and each period is the same few operators followed by a shift of one
    period: the stream repeats itself, so Flate stores a side in a few bytes
    instead of a thousand distinct coordinates. Half periods meet on the axis
    with the same tangent, so the strokes join without a seam."""
    length = math.hypot(x1 - x0, y1 - y0)
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    n = max(2, round(length / (period / 2)))
    half = length / n
    c = 0.3642 * half  # control distances that approximate a sine arch
    h = amplitude * 1.27 * (-1 if phase == 0 else 1)  # the first half bulges to this side
    one = (
        f"0 0 m {c:.2f} {h:.2f} {half - c:.2f} {h:.2f} {half:.2f} 0 c "
        f"{half + c:.2f} {-h:.2f} {2 * half - c:.2f} {-h:.2f} {2 * half:.2f} 0 c S 1 0 0 1 {2 * half:.5f} 0 cm"
    )
    ops = ["q", f"{ux:.4f} {uy:.4f} {-uy:.4f} {ux:.4f} {x0:.2f} {y0:.2f} cm", *([one] * (n // 2))]
    if n % 2:
        ops.append(f"0 0 m {c:.2f} {h:.2f} {half - c:.2f} {h:.2f} {half:.2f} 0 c S")
    ops.append("Q")
    return ops


@lru_cache(maxsize=32)
def background_ops(design: Design) -> str:
    """The page's static artwork as PDF operators: paper, frame, guilloche band,
    corner ornaments and the seal's rosette (no text: fonts are per document)."""
    p, a = design.primary, design.accent
    ops = ["q", _ops_colour(design.paper, False), f"0 0 {PAGE_W:.2f} {PAGE_H:.2f} re f"]
    m = 22  # outer margin
    if design.border in ("guilloche", "double"):
        ops += [
            _ops_colour(p, True),
            "2.2 w",
            _rounded_rect_ops(m, m, PAGE_W - 2 * m, PAGE_H - 2 * m, 10) + " S",
            "0.6 w",
            _rounded_rect_ops(m + 5, m + 5, PAGE_W - 2 * m - 10, PAGE_H - 2 * m - 10, 7) + " S",
        ]
        inner = m + 30
        ops += [
            _ops_colour(a, True),
            "1.4 w",
            _rounded_rect_ops(inner, inner, PAGE_W - 2 * inner, PAGE_H - 2 * inner, 6) + " S",
            "0.5 w",
            _rounded_rect_ops(inner + 4, inner + 4, PAGE_W - 2 * inner - 8, PAGE_H - 2 * inner - 8, 4) + " S",
        ]
        if design.border == "guilloche":
            mid = m + 17.5  # centre line of the band between the frames
            corners = [(mid, mid), (PAGE_W - mid, mid), (PAGE_W - mid, PAGE_H - mid), (mid, PAGE_H - mid)]
            for colour, amp, phase, width in (
                (p, 6.0, 0, 0.45),
                (a, 6.0, 1, 0.45),
                (_mix(p, "#FFFFFF", 0.45), 3.2, 0, 0.35),
                (_mix(a, "#FFFFFF", 0.35), 3.2, 1, 0.35),
            ):
                ops += [_ops_colour(colour, True), f"{width} w"]
                for i in range(4):
                    (x0, y0), (x1, y1) = corners[i], corners[(i + 1) % 4]
                    ops.extend(_wave_ops(x0, y0, x1, y1, amp, 14, phase))
            # corner medallions
            ops += [_ops_colour(design.paper, False), _ops_colour(p, True), "1.2 w"]
            for cx, cy in corners:
                ops.append(_circle_ops(cx, cy, 11) + " B")
                ops.append(_circle_ops(cx, cy, 6.5) + " S")
    else:
        ops += [_ops_colour(p, True), "1.5 w", f"{m} {m} {PAGE_W - 2 * m:.2f} {PAGE_H - 2 * m:.2f} re S"]
    # a band of colour behind the title
    ops += [_ops_colour(_mix(a, design.paper, 0.75), False), f"{PAGE_W / 2 - 150:.2f} {PAGE_H - 142:.2f} 300 1.2 re f"]
    # the seal: a rosette with two rings (the words are drawn per document)
    cx, cy, r = PAGE_W / 2, SEAL_Y, 40
    points = []
    for i in range(72):
        ang = math.pi * 2 * i / 72
        rad = r if i % 2 == 0 else r - 3.5
        points.append((cx + rad * math.cos(ang), cy + rad * math.sin(ang)))
    ops += [
        _ops_colour(a, False),
        f"{points[0][0]:.2f} {points[0][1]:.2f} m " + " ".join(f"{x:.2f} {y:.2f} l" for x, y in points[1:]) + " h f",
        _ops_colour(_mix(a, "#FFFFFF", 0.2), True),
        "0.8 w",
        _circle_ops(cx, cy, r - 8) + " S",
        _circle_ops(cx, cy, r - 11) + " S",
        _ops_colour(_mix(a, "#000000", 0.12), False),
        _circle_ops(cx, cy, r - 14) + " f",
    ]
    ops.append("Q")
    return "\n".join(ops)


def _circle_ops(cx, cy, r) -> str:
    k = 0.5523 * r
    return (
        f"{cx + r:.2f} {cy:.2f} m {cx + r:.2f} {cy + k:.2f} {cx + k:.2f} {cy + r:.2f} {cx:.2f} {cy + r:.2f} c "
        f"{cx - k:.2f} {cy + r:.2f} {cx - r:.2f} {cy + k:.2f} {cx - r:.2f} {cy:.2f} c "
        f"{cx - r:.2f} {cy - k:.2f} {cx - k:.2f} {cy - r:.2f} {cx:.2f} {cy - r:.2f} c "
        f"{cx + k:.2f} {cy - r:.2f} {cx + r:.2f} {cy - k:.2f} {cx + r:.2f} {cy:.2f} c h"
    )


def qr_modules(url: str) -> tuple[tuple[bool, ...], ...]:
    return qr.modules(url)


_DARK_RUN = re.compile("1+")


def qr_path_ops(url: str, x: float, y: float, size: float, colour="#111111") -> str:
    """The QR code as ONE filled path, in module units under a scaling matrix:
    one rectangle per horizontal run of dark modules."""
    rows = qr.rows(url)
    n = len(rows)
    rects = [
        f"{run.start()} {n - 1 - row_index} {run.end() - run.start()} 1 re"
        for row_index, row in enumerate(rows)
        for run in _DARK_RUN.finditer(row)
    ]
    s = size / n
    return f"q {_ops_colour(colour, False)} {s:.4f} 0 0 {s:.4f} {x:.2f} {y:.2f} cm {' '.join(rects)} f Q"


def draw_qr(c, url: str, x: float, y: float, size: float, colour="#111111") -> None:
    c._code.append(qr_path_ops(url, x, y, size, colour))


# --- the signature field ------------------------------------------------------------------


class _Raw(pdfdoc.PDFObject):
    def __init__(self, data: bytes):
        self.data = data

    def format(self, document):
        return self.data


class _SignatureValue(pdfdoc.PDFObject):
    """The /Sig dictionary, written with fixed-width placeholders that
    signing.PdfSigner fills in after the file is complete."""

    def __init__(self, reserve: int, signed_at: str, name: str, reason: str):
        self.reserve, self.signed_at, self.name, self.reason = reserve, signed_at, name, reason

    def format(self, document):
        from .signing import BYTE_RANGE_PLACEHOLDER

        return (
            b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached "
            + BYTE_RANGE_PLACEHOLDER
            + b" /M "
            + pdfdoc.format(pdfdoc.PDFString(self.signed_at), document)
            + b" /Name "
            + pdfdoc.format(pdfdoc.PDFString(self.name), document)
            + b" /Reason "
            + pdfdoc.format(pdfdoc.PDFString(self.reason), document)
            + b" /Contents <"
            + b"0" * self.reserve
            + b"> >>"
        )


def _add_signature_field(c, reserve: int, signer_name: str) -> None:
    from datetime import datetime

    now = datetime.now(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")
    doc = c._doc
    sig_ref = doc.Reference(_SignatureValue(reserve, now, signer_name, "Certificate issued"), "CertSignatureValue")
    widget = pdfdoc.PDFDictionary(
        {
            "Type": pdfdoc.PDFName("Annot"),
            "Subtype": pdfdoc.PDFName("Widget"),
            "FT": pdfdoc.PDFName("Sig"),
            "T": pdfdoc.PDFString("Signature1"),
            "F": 132,
            "Rect": pdfdoc.PDFArray([0, 0, 0, 0]),
            "V": sig_ref,
        }
    )
    c._addAnnotation(widget, "CertSignature")
    doc._catalog.AcroForm = pdfdoc.PDFDictionary(
        {"Fields": pdfdoc.PDFArray([doc.refAnnotation("CertSignature")]), "SigFlags": 3}
    )


# --- drawing ----------------------------------------------------------------------------


def _labels(design: Design) -> list[str]:
    return ["zh", "en"] if design.language == "bilingual" else [design.language]


def course_titles(doc: CertificateDoc, design: Design) -> tuple[str, str]:
    """The course title's two lines, (first, beneath): the original first on a
    bilingual design; on a one-language design its language first when the course
    has a title in it. The second is "" when the course has one title only."""
    first, second = doc.course_title, (doc.course_title_translation or "").strip()
    if second and design.language in ("en", "zh") and doc.course_title_language != design.language:
        first, second = second, first
    return first, second


def _draw_centered(
    c,
    text: str,
    y: float,
    size: float,
    colour,
    *,
    bold=False,
    max_width=CONTENT_W,
    min_size=7.0,
    max_lines=1,
    leading=1.18,
) -> float:
    """Draw text centred at y (baseline of the first line), fitted; returns the y below it."""
    font = _font(text, bold)
    lines, size = fit_lines(text, font, max_width, size, min_size, max_lines)
    c.setFillColor(colour)
    c.setFont(font, size)
    for line in lines:
        c.drawCentredString(PAGE_W / 2, y, line)
        y -= size * leading
    return y


class _PrecompressedForm(pdfdoc.PDFObject):
    """A Form XObject whose (Flate) stream was compressed once per process."""

    def __init__(self, compressed: bytes):
        self.compressed = compressed

    def format(self, document):
        return (
            b"<< /Type /XObject /Subtype /Form /FormType 1 /BBox [0 0 %.2f %.2f] /Resources << >> "
            b"/Filter /FlateDecode /Length %d >>\nstream\n"
            % (PAGE_W, PAGE_H, len(self.compressed))
            + self.compressed
            + b"\nendstream"
        )


@lru_cache(maxsize=32)
def _background_form(design: Design) -> tuple[str, bytes]:
    name = "CertBg" + hashlib.sha256(design.key.encode() + repr(design).encode()).hexdigest()[:12]
    return name, zlib.compress(background_ops(design).encode("ascii"), 9)


def _draw_background(c, design: Design) -> None:
    name, compressed = _background_form(design)
    internal = c._doc.getXObjectName(name)
    if internal not in c._doc.idToObject:
        c._doc.Reference(_PrecompressedForm(compressed), internal)
    c._code.append(f"/{internal} Do")
    c._formsinuse.append(name)


def draw_certificate(c, doc: CertificateDoc, design: Design, *, specimen: bool = False) -> None:
    primary, accent = HexColor(design.primary), HexColor(design.accent)
    ink, muted = HexColor("#1B1B1B"), HexColor("#555555")
    langs = _labels(design)
    bilingual = len(langs) == 2
    _draw_background(c, design)

    # header: logo and issuer
    y = PAGE_H - 78
    if design.logo:
        c.drawImage(
            image_file(design.logo), 72, PAGE_H - 122, width=110, height=52, preserveAspectRatio=True, anchor="w"
        )
    issuer = design.issuer_zh if langs[0] == "zh" else design.issuer_en
    issuer_line = f"{design.issuer_zh}  ·  {design.issuer_en}" if bilingual else issuer
    _draw_centered(c, issuer_line, y, 12, primary, bold=True, max_width=CONTENT_W - 260)

    # title
    y = PAGE_H - 120
    if bilingual:
        _draw_centered(c, design.title_zh, y, 32, primary, bold=True, max_width=CONTENT_W - 200)
        _draw_centered(c, design.title_en.upper(), y - 28, 15, accent, bold=True, max_width=CONTENT_W - 200)
        y -= 70
    else:
        title = design.title_zh if langs[0] == "zh" else design.title_en.upper()
        _draw_centered(c, title, y - 6, 32, primary, bold=True, max_width=CONTENT_W - 200)
        y -= 62

    # the middle: intro, name, body, course, details; fitted as a whole between
    # the title and the signature row (long names and titles shrink together)
    intro = (
        f"{design.intro_zh}  {design.intro_en}"
        if bilingual
        else (design.intro_zh if langs[0] == "zh" else design.intro_en)
    )
    body = (
        f"{design.body_zh}  {design.body_en}" if bilingual else (design.body_zh if langs[0] == "zh" else design.body_en)
    )
    details = []
    for lang in langs:
        dates = fmt_range(doc.starts_on, doc.ends_on, lang)
        if lang == "zh":
            parts = [f"学时 {fmt_hours(doc.hours)}", f"培训日期 {dates}"]
            if doc.trainers:
                parts.append("培训师 " + "、".join(doc.trainers))
        else:
            parts = [f"{fmt_hours(doc.hours)} hours", dates]
            if doc.trainers:
                parts.append(("Trainer " if len(doc.trainers) == 1 else "Trainers ") + ", ".join(doc.trainers))
        details.append("  ·  ".join(parts))
    wide = CONTENT_W - 120
    title_first, title_second = course_titles(doc, design)
    # (text, size, min size, max lines, colour, bold, space before, max width)
    spec: list[tuple[str, float, float, int, Color | None, bool, float, float]] = [
        (intro, 12.5, 7, 1, muted, False, 0, wide),
        (doc.holder_name, 34, 14, 2, ink, True, 34, CONTENT_W - 140),
        ("—rule—", 0, 0, 0, None, False, 0, 0),
        (body, 12.5, 7, 1, muted, False, 16, wide),
        (title_first, 21, 10, 2, primary, True, 18, wide),
    ]
    if title_second:  # the other language beneath, smaller: it shrinks with the first (see below)
        spec.append((title_second, 14.5, 7, 2, primary, False, 3, wide))
    second_at = 5 if title_second else None
    spec += [(line, 10.5, 6, 2, ink, False, 6 if i == 0 else 0, wide) for i, line in enumerate(details)]
    top, bottom = y, 222
    for scale in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5):
        blocks: list[tuple[list[str], float, str, Color | None, float] | None] = []
        height = 0.0
        for index, (text, size, min_size, max_lines, colour, bold, before, width) in enumerate(spec):
            if text == "—rule—":
                blocks.append(None)
                height += 12
                continue
            font = _font(text, bold)
            wanted = size * scale if size > 14 else size
            if index == second_at:  # never as large as the title above it
                above = blocks[-1]
                assert above is not None  # the first title, not a rule
                wanted = min(wanted, above[1] * 0.72)
            lines, fitted = fit_lines(text, font, width, wanted, min(min_size, wanted), max_lines)
            blocks.append((lines, fitted, font, colour, before * scale))
            height += before * scale + fitted * 1.2 * len(lines)
        if top - height >= bottom:
            break
    y = top - min(28.0, max(0.0, (top - bottom - height) / 2))  # centre short content a little
    last_step = 0.0
    for block in blocks:
        if block is None:
            rule_y = y + last_step - 11
            c.setStrokeColor(accent)
            c.setLineWidth(0.8)
            c.line(PAGE_W / 2 - 200, rule_y, PAGE_W / 2 + 200, rule_y)
            y = rule_y - 12 + 0.0
            continue
        lines, size, font, colour, before = block
        y -= before
        c.setFillColor(colour)
        c.setFont(font, size)
        for line in lines:
            c.drawCentredString(PAGE_W / 2, y, line)
            y -= size * 1.2
        last_step = size * 1.2

    # signatories, left and right of the seal
    sigs = list(design.signatories)[:2]
    slots = list(zip((PAGE_W / 2 - 215, PAGE_W / 2 + 215), sigs, strict=False))
    for cx, sig in slots:
        if sig.image:
            c.drawImage(
                image_file(sig.image),
                cx - 70,
                SIG_LINE_Y + 3,
                width=140,
                height=42,
                preserveAspectRatio=True,
                anchor="s",
            )
        c.setStrokeColor(HexColor("#777777"))
        c.setLineWidth(0.6)
        c.line(cx - 85, SIG_LINE_Y, cx + 85, SIG_LINE_Y)
        font = _font(sig.name, True)
        lines_, size = fit_lines(sig.name, font, 170, 10.5, 6, 1)
        c.setFillColor(ink)
        c.setFont(font, size)
        c.drawCentredString(cx, SIG_LINE_Y - 13, lines_[0])
        if sig.title:
            font = _font(sig.title)
            lines_, size = fit_lines(sig.title, font, 170, 8.5, 5, 1)
            c.setFillColor(muted)
            c.setFont(font, size)
            c.drawCentredString(cx, SIG_LINE_Y - 24, lines_[0])

    # the seal's words
    c.setFillColor(white)
    seal_word = "认证" if langs[0] == "zh" else "CERTIFIED"
    font = _font(seal_word, True)
    c.setFont(font, 11 if seal_word == "CERTIFIED" else 15)
    c.drawCentredString(PAGE_W / 2, SEAL_Y - 2, seal_word)
    c.setFont(fonts().latin_bold, 6.5)
    c.drawCentredString(PAGE_W / 2, SEAL_Y - 14, f"{doc.completed_on:%Y}")

    # QR code and code, bottom right; dates, bottom left
    qr_size = 64
    qx, qy = PAGE_W - 64 - qr_size, 64
    draw_qr(c, doc.verify_url, qx, qy, qr_size)
    code_text = display_code(doc.code)
    c.setFillColor(ink)
    c.setFont(fonts().latin_bold, 8)
    c.drawRightString(qx - 8, qy + 48, code_text)
    c.setFont(_font("证书编号"), 7)
    c.setFillColor(muted)
    label = {"zh": "证书编号 · 扫码验证", "en": "Certificate no. · scan to verify"}
    c.drawRightString(qx - 8, qy + 58, "  ".join(label[lang] for lang in langs))
    verify_text = doc.verify_url.split("://", 1)[-1]
    vfont = _font(verify_text)
    _, vsize = fit_lines(verify_text, vfont, 250, 6, 3, 1)
    c.setFont(vfont, vsize)
    c.drawRightString(qx - 8, qy + 38, verify_text)

    left = []
    for lang in langs:
        if lang == "zh":
            left.append(f"完成日期 {fmt_date(doc.completed_on, 'zh')}    颁发日期 {fmt_date(doc.issued_on, 'zh')}")
            if doc.expires_on:
                left.append(f"有效期至 {fmt_date(doc.expires_on, 'zh')}")
        else:
            left.append(f"Completed {fmt_date(doc.completed_on, 'en')}    Issued {fmt_date(doc.issued_on, 'en')}")
            if doc.expires_on:
                left.append(f"Valid until {fmt_date(doc.expires_on, 'en')}")
    if doc.reissue_of:
        left.append(("重新颁发，替代 " if langs[0] == "zh" else "Reissued; replaces ") + display_code(doc.reissue_of))
    ly = 64 + 40
    for line in left[:5]:
        font = _font(line)
        lines_, size = fit_lines(line, font, 230, 7.5, 4, 1)
        c.setFont(font, size)
        c.setFillColor(muted)
        c.drawString(72, ly, lines_[0])
        ly -= 10

    # status stamp
    stamp = None
    if specimen:
        stamp = "SPECIMEN 样本"
    elif doc.status != "valid":
        stamp = {"revoked": "REVOKED 已撤销", "superseded": "SUPERSEDED 已替换", "expired": "EXPIRED 已过期"}.get(
            doc.status, doc.status.upper()
        )
    if stamp:
        c.saveState()
        c.setFillColor(HexColor("#C0392B"))
        c.setFillAlpha(0.18)
        c.translate(PAGE_W / 2, PAGE_H / 2)
        c.rotate(24)
        c.setFont(fonts().cjk, 72)
        c.drawCentredString(0, -20, stamp)
        c.restoreState()


def _new_canvas(buffer, title: str, author: str):
    c = rl_canvas.Canvas(buffer, pagesize=(PAGE_W, PAGE_H), pageCompression=1)
    c.setTitle(title)
    c.setAuthor(author)
    c.setCreator("SMT Academy certificates")
    return c


def render(doc: CertificateDoc, design: Design, *, signer=None, specimen: bool = False) -> bytes:
    """One certificate as PDF bytes; signed when a signing.PdfSigner is given."""
    fonts()
    buffer = io.BytesIO()
    c = _new_canvas(buffer, f"Certificate {display_code(doc.code)} · {doc.holder_name}", design.issuer_en)
    c.setSubject(" / ".join(t for t in (doc.course_title, doc.course_title_translation) if t))
    draw_certificate(c, doc, design, specimen=specimen)
    if signer is not None:
        _add_signature_field(c, signer.reserve, design.issuer_en)
    c.showPage()
    c.save()
    data = buffer.getvalue()
    return signer.sign(data) if signer is not None else data


def render_many(items: list[tuple[CertificateDoc, Design]], title: str = "Certificates") -> bytes:
    """Several certificates in one unsigned PDF, one per page (for printing)."""
    fonts()
    buffer = io.BytesIO()
    c = _new_canvas(buffer, title, items[0][1].issuer_en if items else "")
    for doc, design in items:
        draw_certificate(c, doc, design)
        c.showPage()
    c.save()
    return buffer.getvalue()
