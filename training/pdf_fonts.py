"""Fonts for every PDF the platform makes (certificates, sign-in sheets, registers).

reportlab cannot embed OpenType/CFF CJK fonts (Noto CJK), so a TrueType CJK
font installed by the system is preferred (WenQuanYi Micro Hei or Droid Sans
Fallback, from Debian's packages): it is embedded as a subset and the text is
selectable and copyable everywhere. Without one, reportlab's built-in
STSong-Light CID font is used: nothing is embedded and the reader supplies
the glyphs. Latin text uses DejaVu Sans when installed, else Helvetica.

Fonts are registered once per process; ``fonts()`` says which were chosen.

Embedded subsets are slimmed (``slim_subset``): a PDF renderer draws the
outlines and never runs the TrueType hinting programs, and the font's name
table is mostly its licence text, so both are left out. That halves what a
certificate carries per font without changing a single outline.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont, TTFontMaker

CJK_CANDIDATES = [
    ("WQYMicroHei", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("WQYZenHei", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("DroidSansFallback", "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", None),
    ("DroidSansFallback", "/usr/share/fonts-droid-fallback/truetype/DroidSansFallbackFull.ttf", None),
]
LATIN_CANDIDATES = [
    ("DejaVuSans", "DejaVuSans-Bold", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
     "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
]


@dataclass(frozen=True)
class Fonts:
    latin: str
    latin_bold: str
    cjk: str
    cjk_embedded: bool


def _register_ttf(name: str, path: str, index: int | None) -> bool:
    if not Path(path).exists():
        return False
    try:
        font = TTFont(name, path, subfontIndex=index) if index is not None else TTFont(name, path)
        _slim_subsets_of(font, name)
        pdfmetrics.registerFont(font)
        return True
    except Exception:  # an unreadable font file: try the next candidate
        return False


# --- slimmer subsets ----------------------------------------------------------------

_HINTING_TABLES = (b"fpgm", b"prep", b"cvt ")
_MORE_COMPONENTS, _ARGS_ARE_WORDS, _HAS_SCALE, _HAS_XY_SCALE, _HAS_2X2, _HAS_INSTRUCTIONS = (
    0x0020, 0x0001, 0x0008, 0x0040, 0x0080, 0x0100)


def _name_table(family: str) -> bytes:
    """A name table with the family, style, full and PostScript names only (Windows, UTF-16)."""
    records = [(1, family), (2, "Regular"), (4, family), (6, family)]
    strings, heads, offset = b"", b"", 0
    for name_id, text in records:
        data = text.encode("utf-16-be")
        heads += struct.pack(">6H", 3, 1, 0x409, name_id, len(data), offset)
        strings += data
        offset += len(data)
    return struct.pack(">3H", 0, len(records), 6 + 12 * len(records)) + heads + strings


def _unhinted_glyph(data: bytes) -> bytes:
    """One glyf entry without its instructions (outlines and components unchanged)."""
    if len(data) < 10:
        return data
    contours = struct.unpack(">h", data[:2])[0]
    if contours >= 0:
        at = 10 + 2 * contours
        length = struct.unpack(">H", data[at:at + 2])[0]
        return data[:at] + b"\0\0" + data[at + 2 + length:]
    out, pos = bytearray(data), 10
    while True:
        flags = struct.unpack(">H", data[pos:pos + 2])[0]
        struct.pack_into(">H", out, pos, flags & ~_HAS_INSTRUCTIONS)
        pos += 4 + (4 if flags & _ARGS_ARE_WORDS else 2)
        pos += 2 if flags & _HAS_SCALE else 4 if flags & _HAS_XY_SCALE else 8 if flags & _HAS_2X2 else 0
        if not flags & _MORE_COMPONENTS:
            return bytes(out[:pos])


def slim_subset(font_file: bytes, family: str) -> bytes:
    """A TrueType subset (as reportlab writes it) without hinting (instructions,
    fpgm, prep, cvt) and with a short name table; every outline, metric and
    character mapping is kept."""
    count = struct.unpack(">H", font_file[4:6])[0]
    tables = {}
    for i in range(count):
        tag, _checksum, offset, length = struct.unpack(">4sLLL", font_file[12 + 16 * i:28 + 16 * i])
        tables[tag] = font_file[offset:offset + length]
    if b"glyf" not in tables or b"loca" not in tables or b"head" not in tables:
        return font_file
    head = tables[b"head"]
    long_loca = struct.unpack(">h", head[50:52])[0] == 1
    loca = tables[b"loca"]
    offsets = (struct.unpack(f">{len(loca) // 4}L", loca) if long_loca
               else [2 * v for v in struct.unpack(f">{len(loca) // 2}H", loca)])
    glyf, new_offsets, pos = [], [], 0
    for start, end in pairwise(offsets):
        glyph = _unhinted_glyph(tables[b"glyf"][start:end]) if end > start else b""
        glyph += b"\0" * (-len(glyph) % 4)
        new_offsets.append(pos)
        glyf.append(glyph)
        pos += len(glyph)
    new_offsets.append(pos)
    long_loca = pos // 2 > 0xFFFF
    tables[b"glyf"] = b"".join(glyf)
    tables[b"loca"] = (struct.pack(f">{len(new_offsets)}L", *new_offsets) if long_loca
                       else struct.pack(f">{len(new_offsets)}H", *(o // 2 for o in new_offsets)))
    tables[b"head"] = head[:50] + struct.pack(">h", 1 if long_loca else 0) + head[52:]
    tables[b"name"] = _name_table(family)
    maker = TTFontMaker()
    for tag, data in tables.items():
        if tag not in _HINTING_TABLES:
            maker.add(tag.decode("latin-1"), data)
    return maker.makeStream()


def _slim_subsets_of(font: TTFont, family: str) -> None:
    make = font.face.makeSubset

    def make_slim(subset):
        return slim_subset(make(subset), family)
    font.face.makeSubset = make_slim


@lru_cache(maxsize=1)
def fonts() -> Fonts:
    """Register and return the fonts. ``PDF_CJK_FONT=builtin`` forces STSong-Light
    (used by tests to cover the fallback path)."""
    cjk, embedded = None, False
    if os.environ.get("PDF_CJK_FONT", "").lower() != "builtin":
        custom = os.environ.get("PDF_CJK_FONT_PATH")
        candidates = ([("CustomCJK", custom, 0 if custom.endswith(".ttc") else None)] if custom else []) + CJK_CANDIDATES
        for name, path, index in candidates:
            if _register_ttf(name, path, index):
                cjk, embedded = name, True
                break
    if cjk is None:
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
        cjk = "STSong-Light"
    latin, latin_bold = "Helvetica", "Helvetica-Bold"
    for name, bold_name, path, bold_path in LATIN_CANDIDATES:
        if _register_ttf(name, path, None) and _register_ttf(bold_name, bold_path, None):
            latin, latin_bold = name, bold_name
            break
    return Fonts(latin=latin, latin_bold=latin_bold, cjk=cjk, cjk_embedded=embedded)


def needs_cjk(text: str) -> bool:
    """True when the text holds characters outside Latin, Greek and Cyrillic."""
    return any(ord(ch) > 0x2FF and not 0x370 <= ord(ch) <= 0x52F and not 0x2000 <= ord(ch) <= 0x206F
               for ch in text or "")


def font_for(text: str, *, bold: bool = False) -> str:
    """The font that can draw ``text``: the CJK font for any CJK character,
    else the Latin one (which has accents)."""
    f = fonts()
    if needs_cjk(text):
        return f.cjk
    return f.latin_bold if bold else f.latin
