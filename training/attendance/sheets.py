"""Printed and exported attendance: the sign-in sheet of a meeting (PDF) and the
register of a run, trainees x meetings (CSV and PDF).

Names are drawn with ``pdf_fonts.font_for`` so Chinese names come out as real,
copyable glyphs. Tables repeat their header row on every page and every page
carries the course, run and meeting, so a page that falls out of the binder
still says what it is.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from flask import current_app
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, PageBreak, Paragraph, SimpleDocTemplate, Table, TableStyle

from ..catalogue.models import Meeting, Run
from ..pdf_fonts import font_for
from ..spreadsheets import safe_cell
from .services import Register

STATUS_LETTER = {"present": "P", "late": "L", "absent": "A", "excused": "E"}
GRID = colors.HexColor("#9aa5b1")
HEAD_BG = colors.HexColor("#e8eef6")
BRAND = colors.HexColor("#083f78")


def _local(dt: datetime, run: Run) -> datetime:
    return dt.astimezone(run.tz)


def meeting_label(meeting: Meeting) -> str:
    starts, ends = _local(meeting.starts_at, meeting.run), _local(meeting.ends_at, meeting.run)
    return f"{starts:%Y-%m-%d %H:%M}–{ends:%H:%M} ({meeting.run.timezone})"


def _para(text: str, size: float = 9, *, bold: bool = False, align=None, color=colors.black) -> Paragraph:
    style = ParagraphStyle(
        "cell",
        fontName=font_for(text or "", bold=bold),
        fontSize=size,
        leading=size * 1.25,
        textColor=color,
        alignment=align if align is not None else 0,
    )
    return Paragraph(escape(text or ""), style)


def _page_decor(title: str, lines: list[str], footer: str):
    """Draw the header block (course, run, meeting, trainers) and the footer on
    every page, so each printed page says what it is."""

    def draw(canvas, doc):
        canvas.saveState()
        top = doc.pagesize[1] - 12 * mm
        canvas.setFillColor(BRAND)
        canvas.setFont(font_for(title, bold=True), 13)
        canvas.drawString(doc.leftMargin, top - 4 * mm, title)
        canvas.setFillColor(colors.black)
        y = top - 9.5 * mm
        for line in lines:
            canvas.setFont(font_for(line), 8.5)
            canvas.drawString(doc.leftMargin, y, line)
            y -= 4.2 * mm
        canvas.setFont(font_for(footer), 7.5)
        canvas.setFillColor(colors.grey)
        canvas.drawString(doc.leftMargin, 9 * mm, footer)
        canvas.drawRightString(doc.pagesize[0] - doc.rightMargin, 9 * mm, _("Page %(n)s", n=doc.page))
        canvas.restoreState()

    return draw


def _header_height(lines: list[str]) -> float:
    return 12 * mm + 9.5 * mm + 4.2 * mm * len(lines) + 2 * mm


def _run_lines(run: Run) -> list[str]:
    trainers = ", ".join(t.display_name for t in run.trainers) or "—"
    place = run.location or run.city or ""
    return [
        _(
            "Run: %(start)s to %(end)s · %(place)s",
            start=run.starts_on.isoformat(),
            end=run.ends_on.isoformat(),
            place=place,
        ),
        _("Trainers: %(names)s", names=trainers),
    ]


def sign_in_sheet(meeting: Meeting, rows) -> bytes:
    """One row per trainee with a signature box; the header block and the table
    header repeat on every page. ``rows``: [(Enrolment, Attendance | None)]."""
    run, course = meeting.run, meeting.run.course
    page = A4
    header_lines = [
        _("Meeting: %(when)s %(title)s", when=meeting_label(meeting), title=meeting.title or ""),
        *_run_lines(run),
    ]
    if meeting.cancelled_at is not None:
        header_lines.insert(0, _("CANCELLED: %(reason)s", reason=meeting.cancel_reason or ""))
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=page,
        leftMargin=14 * mm,
        rightMargin=14 * mm,
        topMargin=_header_height(header_lines),
        bottomMargin=16 * mm,
        title=f"{course.code} {meeting_label(meeting)}",
        author=current_app.config["ORG_NAME"],
        subject=_("Sign-in sheet"),
    )
    width = page[0] - doc.leftMargin - doc.rightMargin
    head: list[Paragraph | str] = [
        _para("#", 8, bold=True),
        _para(_("Name"), 8, bold=True),
        _para(_("Company"), 8, bold=True),
        _para(_("Arrival"), 8, bold=True),
        _para(_("Signature"), 8, bold=True),
    ]
    data: list[list[Paragraph | str]] = [head]
    for i, (enrolment, _record) in enumerate(rows, start=1):
        company = enrolment.company or enrolment.user.company or ""
        data.append([_para(str(i), 8), _para(enrolment.user.display_name, 11), _para(company, 8), "", ""])
    widths = [9 * mm, 62 * mm, 42 * mm, 20 * mm]
    widths.append(width - sum(widths))
    table = Table(data, colWidths=widths, repeatRows=1, rowHeights=[None] + [11 * mm] * len(rows))
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, GRID),
                ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f7f9fc")]),
            ]
        )
    )
    footer = (
        f"{course.code} · {meeting_label(meeting)} · " + _("%(n)s trainees", n=len(rows)) + " · " + _("Sign-in sheet")
    )
    decor = _page_decor(f"{course.code} · {course.title}", header_lines, footer)
    story: list[Flowable] = [table] if rows else [_para(_("No confirmed trainees."), 10)]
    if meeting.cancelled_at is not None:
        # Nobody signs in to a meeting that does not take place.
        story = [
            _para(
                _("This meeting was cancelled: it counts toward no one’s attendance."),
                16,
                bold=True,
                color=colors.HexColor("#b02a37"),
            ),
            _para(_("Reason: %(reason)s", reason=meeting.cancel_reason or ""), 11),
        ]
    doc.build(story, onFirstPage=decor, onLaterPages=decor)
    return buffer.getvalue()


def register_csv(register: Register) -> bytes:
    """Trainees x meetings, with attendance % and the completion verdict.
    UTF-8 with a byte order mark so spreadsheet programs read Chinese names."""
    out = io.StringIO()
    writer = csv.writer(out)
    run = register.run
    writer.writerow(
        [_("Trainee"), _("E-mail"), _("Company")]
        + [meeting_label_short(m, run) for m in register.meetings]
        + [_("Attendance %"), _("Best possible %"), _("Assessment"), _("Eligible"), _("Reason")]
    )
    for row in register.rows:
        e = row.enrolment
        cells = [e.user.display_name, e.user.email, e.company or e.user.company or ""]
        for meeting in register.meetings:
            record = row.records.get(meeting.id)
            cells.append(record.status if record else "")
        p = row.progress
        cells += [
            f"{p.percent:g}",
            f"{p.best_possible:g}",
            "" if e.assessment_score is None else str(e.assessment_score),
            "yes" if row.verdict.eligible else "no",
            row.verdict.reason,
        ]
        writer.writerow([safe_cell(c) for c in cells])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def meeting_label_short(meeting: Meeting, run: Run) -> str:
    label = f"{_local(meeting.starts_at, run):%Y-%m-%d %H:%M}"
    return label + " " + _("(cancelled)") if meeting.cancelled_at is not None else label


def register_pdf(register: Register) -> bytes:
    """A4 landscape; meetings in blocks of columns that fit, trainee names
    repeated on each block, header rows repeated on each page."""
    run, course = register.run, register.run.course
    page = landscape(A4)
    rule = _(
        "Completion: at least %(pct)s%% attendance (present and late count%(excused)s)%(mark)s.",
        pct=course.min_attendance_pct,
        excused=(", " + _("excused counts")) if course.excused_counts else "",
        mark=("; " + _("pass mark %(n)s", n=course.pass_mark)) if course.pass_mark is not None else "",
    )
    legend = _("P present · L late · A absent · E excused · blank not marked")
    lines = [*_run_lines(run), rule + "  " + legend]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=page,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=_header_height(lines),
        bottomMargin=16 * mm,
        title=f"{course.code} " + _("Attendance register"),
        author=current_app.config["ORG_NAME"],
    )
    width = page[0] - doc.leftMargin - doc.rightMargin
    story: list[Flowable] = []
    name_w, pct_w, col_w = 52 * mm, 17 * mm, 11 * mm
    per_block = max(1, int((width - name_w - 3 * pct_w) // col_w))
    meetings = register.meetings
    blocks = [meetings[i : i + per_block] for i in range(0, len(meetings), per_block)] or [[]]
    center = TA_CENTER
    for b, block in enumerate(blocks):
        last = b == len(blocks) - 1
        head: list[Paragraph | str] = [_para(_("Trainee"), 8, bold=True)]
        for m in block:
            local = _local(m.starts_at, run)
            label = f"{local:%m-%d} {local:%H:%M}" + (" " + _("(cancelled)") if m.cancelled_at is not None else "")
            head.append(_para(label, 6.5, bold=True, align=center))
        if last:
            head += [
                _para(_("Attendance"), 7, bold=True, align=center),
                _para(_("Score"), 7, bold=True, align=center),
                _para(_("Eligible"), 7, bold=True, align=center),
            ]
        data: list[list[Paragraph | str]] = [head]
        styles: list[tuple[Any, ...]] = [
            ("GRID", (0, 0), (-1, -1), 0.4, GRID),
            ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("ALIGN", (1, 1), (-1, -1), "CENTER"),
        ]
        for r, row in enumerate(register.rows, start=1):
            cells: list[Paragraph | str] = [_para(row.enrolment.user.display_name, 8.5)]
            for c, m in enumerate(block, start=1):
                record = row.records.get(m.id)
                letter = STATUS_LETTER.get(record.status, "") if record else ""
                cells.append(letter)
                if letter == "A":
                    styles.append(("TEXTCOLOR", (c, r), (c, r), colors.HexColor("#b02a37")))
            if last:
                p = row.progress
                cells += [
                    f"{p.percent:g}%",
                    "" if row.enrolment.assessment_score is None else str(row.enrolment.assessment_score),
                    _("yes") if row.verdict.eligible else _("no"),
                ]
                if p.at_risk:
                    styles.append(("TEXTCOLOR", (len(block) + 1, r), (len(block) + 1, r), colors.HexColor("#b02a37")))
            data.append(cells)
        widths = [name_w] + [col_w] * len(block) + ([pct_w] * 3 if last else [])
        table = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
        styles.append(("FONTNAME", (1, 1), (-1, -1), font_for("A")))
        styles.append(("FONTSIZE", (1, 1), (-1, -1), 8))
        table.setStyle(TableStyle(styles))
        if b:
            story.append(PageBreak())
        story.append(table)
    if not register.rows:
        story.append(_para(_("No confirmed trainees."), 10))
    footer = f"{course.code} · {run.starts_on.isoformat()}–{run.ends_on.isoformat()} · " + _("Attendance register")
    decor = _page_decor(f"{course.code} · {course.title} — " + _("Attendance register"), lines, footer)
    doc.build(story, onFirstPage=decor, onLaterPages=decor)
    return buffer.getvalue()
