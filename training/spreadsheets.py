"""Cells of the spreadsheets we export (CSV and XLSX), in one place: text someone
typed (a name, a course title, a feedback comment) is shown as text and never run
as a formula (CSV/XLSX injection).

A spreadsheet program runs a CSV cell starting with = + - or @ (a tab or carriage
return first hides one), and openpyxl writes any string starting with = as a
formula. Such text gets a leading apostrophe; numbers, dates and empty cells are
left as they are.

Control characters that XML 1.0 cannot hold (NUL, the vertical tab Word puts in
a pasted soft line break, ...) made openpyxl refuse the whole workbook (a 500):
a vertical tab or form feed becomes a line break, the others are dropped.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_BREAKS = str.maketrans({"\x0b": "\n", "\x0c": "\n"})
_NOT_IN_XML = re.compile("[\x00-\x08\x0e-\x1f]")


def safe_cell(value: object) -> str:
    """``value`` as the text of a cell that is never a formula and that every spreadsheet can hold."""
    text = "" if value is None else str(value)
    if not text.isprintable():
        text = _NOT_IN_XML.sub("", text.translate(_BREAKS))
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def safe_value(value: object) -> object:
    """A value for a workbook cell: text made safe, anything else (numbers, dates, None) as it is."""
    return safe_cell(value) if isinstance(value, str) else value
