"""Fonts for every PDF the platform makes (certificates, sign-in sheets, registers).

reportlab cannot embed OpenType/CFF CJK fonts (Noto CJK), so a TrueType CJK
font installed by the system is preferred (WenQuanYi Micro Hei or Droid Sans
Fallback, from Debian's packages): it is embedded as a subset and the text is
selectable and copyable everywhere. Without one, reportlab's built-in
STSong-Light CID font is used: nothing is embedded and the reader supplies
the glyphs. Latin text uses DejaVu Sans when installed, else Helvetica.

Fonts are registered once per process; ``fonts()`` says which were chosen.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont

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
        pdfmetrics.registerFont(font)
        return True
    except Exception:  # an unreadable font file: try the next candidate
        return False


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
