"""Cells of the spreadsheets we export (CSV and XLSX), in one place: text someone
typed (a name, a course title, a feedback comment) is shown as text and never run
as a formula (CSV/XLSX injection).

A spreadsheet program runs a CSV cell starting with = + - or @ (a tab or carriage
return first hides one), and openpyxl writes any string starting with = as a
formula. Such text gets a leading apostrophe; numbers, dates and empty cells are
left as they are.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """``value`` as the text of a cell that is never a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def safe_value(value: object) -> object:
    """A value for a workbook cell: text made safe, anything else (numbers, dates, None) as it is."""
    return safe_cell(value) if isinstance(value, str) else value
