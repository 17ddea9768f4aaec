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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont, TTFontMaker

CJK_CANDIDATES = [
    ("WQYMicroHei", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("WQYZenHei", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("DroidSansFallback", "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", None),
    ("DroidSansFallback", "/usr/share/fonts-droid-fallback/truetype/DroidSansFallbackFull.ttf", None),
]
LATIN_CANDIDATES = [
    (
        "DejaVuSans",
        "DejaVuSans-Bold",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
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

# Font subsets (and their compressed form) kept per font: the certificates of a run
# share the text of the page and differ in a name, so most of their subsets repeat.
SUBSETS_KEPT = 16

_MORE_COMPONENTS, _ARGS_ARE_WORDS, _HAS_SCALE, _HAS_XY_SCALE, _HAS_2X2, _HAS_INSTRUCTIONS = (
    0x0020,
    0x0001,
    0x0008,
    0x0040,
    0x0080,
    0x0100,
)


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


def _unhinted_glyph(data: bytes) -> tuple[bytes, list[tuple[int, int]]]:
    """One glyf entry without its instructions (outlines unchanged), and for a
    composite glyph where each component's glyph index is (offset, index)."""
    if len(data) < 10:
        return data, []
    contours = struct.unpack(">h", data[:2])[0]
    if contours >= 0:
        at = 10 + 2 * contours
        length = struct.unpack(">H", data[at : at + 2])[0]
        return data[:at] + b"\0\0" + data[at + 2 + length :], []
    out, pos, components = bytearray(data), 10, []
    while True:
        flags, index = struct.unpack(">HH", data[pos : pos + 4])
        struct.pack_into(">H", out, pos, flags & ~_HAS_INSTRUCTIONS)
        components.append((pos + 2, index))
        pos += 4 + (4 if flags & _ARGS_ARE_WORDS else 2)
        pos += 2 if flags & _HAS_SCALE else 4 if flags & _HAS_XY_SCALE else 8 if flags & _HAS_2X2 else 0
        if not flags & _MORE_COMPONENTS:
            return bytes(out[:pos]), components


class SlimSubsetter:
    """Makes the font's subsets like reportlab's ``TTFontFile.makeSubset`` (same
    glyph order, character map and metrics, so text is laid out identically),
    without hinting (glyph instructions, fpgm, prep, cvt) and with a short name
    table. Glyphs are read from the font file once each and kept; reportlab
    copies the whole glyf table (megabytes for a CJK font) on every subset."""

    def __init__(self, face: Any, family: str) -> None:
        self.face = face
        self.glyf_at = face.get_table_pos("glyf")[0]
        self.fixed = {
            "OS/2": face.get_table("OS/2"),
            "name": _name_table(family),
            "post": b"\x00\x03\x00\x00" + face.get_table("post")[4:16] + b"\x00" * 16,
        }
        self.hhea, self.maxp, self.head = face.get_table("hhea"), face.get_table("maxp"), face.get_table("head")
        self.glyphs: dict[int, tuple[bytes, list[tuple[int, int]]]] = {}
        self.made: dict[tuple[int, ...], bytes] = {}

    def glyph(self, index: int) -> tuple[bytes, list[tuple[int, int]]]:
        cached = self.glyphs.get(index)
        if cached is None:
            start, end = self.face.glyphPos[index], self.face.glyphPos[index + 1]
            raw = bytes(self.face._ttf_data[self.glyf_at + start : self.glyf_at + end])
            cached = self.glyphs[index] = _unhinted_glyph(raw) if raw else (b"", [])
        return cached

    def __call__(self, subset: Sequence[int]) -> bytes:
        """The subset's font program; the same bytes object for the same subset
        (kept for the last few subsets: certificates of one run mostly share theirs)."""
        key = tuple(subset)
        made = self.made.get(key)
        if made is None:
            made = self.made[key] = self._make(subset)
            if len(self.made) > SUBSETS_KEPT:
                del self.made[next(iter(self.made))]  # the oldest
        return made

    def _make(self, subset: Sequence[int]) -> bytes:
        char_to_glyph = self.face.charToGlyph
        glyph_map, glyph_set = [0], {0: 0}  # new index -> old; old -> new
        for code in subset:
            old = char_to_glyph.get(code, 0)
            if old not in glyph_set:
                glyph_set[old] = len(glyph_map)
                glyph_map.append(old)
        n = 0
        while n < len(glyph_map):  # the parts of composite glyphs come along
            for _at, old in self.glyph(glyph_map[n])[1]:
                if old not in glyph_set:
                    glyph_set[old] = len(glyph_map)
                    glyph_map.append(old)
            n += 1
        count = len(glyph_map)
        hmtx = []
        for old in glyph_map:
            advance, lsb = self.face.hmetrics[old]
            hmtx += [int(advance), int(lsb)]
        n = len(hmtx) - 2  # trailing glyphs of the same advance keep their side bearing only
        while n and hmtx[n] == hmtx[n - 2]:
            n -= 2
        n += 2
        hmtx = hmtx[:n] + hmtx[n + 1 :: 2]
        glyf, offsets, pos = [], [], 0
        for old in glyph_map:
            data, components = self.glyph(old)
            if components:
                patched = bytearray(data)
                for at, component in components:
                    struct.pack_into(">H", patched, at, glyph_set[component])
                data = bytes(patched)
            data += b"\0" * (-len(data) % 4)
            offsets.append(pos)
            glyf.append(data)
            pos += len(data)
        offsets.append(pos)
        long_loca = pos // 2 > 0xFFFF
        maker = TTFontMaker()
        for tag, data in self.fixed.items():
            maker.add(tag, data)
        maker.add("hmtx", struct.pack(f">{len(hmtx)}H", *(v & 0xFFFF for v in hmtx)))
        maker.add("hhea", self.hhea[:34] + struct.pack(">H", n >> 1) + self.hhea[36:])
        maker.add("maxp", self.maxp[:4] + struct.pack(">H", count) + self.maxp[6:])
        cmap = [0, 1, 1, 0, 0, 12, 6, 10 + 2 * len(subset), 0, 0, len(subset)]
        cmap += [glyph_set[char_to_glyph.get(code, 0)] for code in subset]
        maker.add("cmap", struct.pack(f">{len(cmap)}H", *cmap))
        maker.add("glyf", b"".join(glyf))
        maker.add(
            "loca",
            struct.pack(f">{len(offsets)}L", *offsets)
            if long_loca
            else struct.pack(f">{len(offsets)}H", *(o >> 1 for o in offsets)),
        )
        maker.add("head", self.head[:50] + struct.pack(">h", 1 if long_loca else 0) + self.head[52:])
        return maker.makeStream()


class _KeptFlate(pdfdoc.PDFStreamFilterZCompress):
    """Flate like reportlab's filter, but a font program seen a moment ago is not
    compressed again: the same subset gives the same bytes object (SlimSubsetter),
    whose compressed form is kept (for the last few)."""

    def __init__(self) -> None:
        self.kept: dict[bytes, bytes] = {}

    def encode(self, text: str | bytes) -> bytes:
        if not isinstance(text, bytes):
            return super().encode(text)
        compressed = self.kept.get(text)
        if compressed is None:
            compressed = self.kept[text] = super().encode(text)
            if len(self.kept) > SUBSETS_KEPT:
                del self.kept[next(iter(self.kept))]
        return compressed


_KEPT_FLATE = _KeptFlate()


def _slim_subsets_of(font: TTFont, family: str) -> None:
    face = font.face
    face.makeSubset = SlimSubsetter(face, family)  # type: ignore[method-assign]
    add_subset_objects: Callable[..., Any] = face.addSubsetObjects

    def add_objects_kept(doc: Any, fontname: str, subset: Sequence[int]) -> Any:
        reference = add_subset_objects(doc, fontname, subset)
        stream = doc.idToObject.get(f"fontFile:{face.filename}({fontname})")
        if isinstance(stream, pdfdoc.PDFStream) and stream.filters == [pdfdoc.PDFZCompress]:
            stream.filters = [_KEPT_FLATE]
        return reference

    face.addSubsetObjects = add_objects_kept  # type: ignore[method-assign]


@lru_cache(maxsize=1)
def fonts() -> Fonts:
    """Register and return the fonts. ``PDF_CJK_FONT=builtin`` forces STSong-Light
    (used by tests to cover the fallback path)."""
    cjk, embedded = None, False
    if os.environ.get("PDF_CJK_FONT", "").lower() != "builtin":
        custom = os.environ.get("PDF_CJK_FONT_PATH")
        candidates = (
            [("CustomCJK", custom, 0 if custom.endswith(".ttc") else None)] if custom else []
        ) + CJK_CANDIDATES
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
    return any(
        ord(ch) > 0x2FF and not 0x370 <= ord(ch) <= 0x52F and not 0x2000 <= ord(ch) <= 0x206F for ch in text or ""
    )


def font_for(text: str, *, bold: bool = False) -> str:
    """The font that can draw ``text``: the CJK font for any CJK character,
    else the Latin one (which has accents)."""
    f = fonts()
    if needs_cjk(text):
        return f.cjk
    return f.latin_bold if bold else f.latin
