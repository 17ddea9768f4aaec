"""The matrix as XLSX (the screen's counts, bilingual headers) and as an A3
landscape PDF for the wall; a person's evidence pack as a PDF with each
certificate's verification QR code. Everything is built from the same
``services.Matrix`` / ``services.PersonView`` the pages show."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any, Literal
from xml.sax.saxutils import escape

from flask import current_app
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A3, A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ..certificates.pdf import draw_qr
from ..certificates.services import verify_url
from ..pdf_fonts import font_for, fonts
from ..spreadsheets import safe_cell, safe_value
from .models import STATE_GLYPHS, QualificationState, Skill
from .services import Cell, Matrix, PersonView

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Fills that differ in lightness too, so they survive grey-scale printing; the glyph carries the state anyway.
STATE_FILL = {
    QualificationState.valid: "C8E6C9",
    QualificationState.expiring: "FFE08A",
    QualificationState.expired: "E0E0E0",
    QualificationState.revoked: "F4B6B6",
}
# Both languages in one header, whoever downloads the file.
HEAD = {
    "person": "Person / 人员",
    "positions": "Positions / 岗位",
    "qualified": "Qualified / 合格人数",
    "expiring": "Expiring / 即将到期",
    "required": "Required per shift / 每班需求",
    "gap": "Gap / 缺口",
    "level": "Required level / 要求等级",
    "position": "Position / 岗位",
    "skill": "Skill / 技能",
    "site": "Site / 厂区",
    "department": "Department / 部门",
    "on": "On / 日期",
    "legend": "Legend / 图例",
    "matrix": "Matrix 矩阵",
    "coverage": "Coverage 覆盖",
}
STATE_BILINGUAL = {
    QualificationState.valid: "valid / 有效",
    QualificationState.expiring: "expiring / 即将到期",
    QualificationState.expired: "expired / 已过期",
    QualificationState.revoked: "revoked / 已撤销",
}


def matrix_filename(m: Matrix, ext: str) -> str:
    scope = m.position.code if m.position else (m.site or "all")
    scope = re.sub(r"[^A-Za-z0-9._-]+", "-", scope).strip("-") or "matrix"
    return f"qualification-matrix-{scope}-{m.on.isoformat()}.{ext}"


def _skill_head(skill: Skill) -> str:
    return f"{skill.code} {skill.name}" + (f" / {skill.name_zh}" if skill.name_zh else "")


def cell_text(skill: Skill, cell: Cell | None) -> str:
    if cell is None or cell.state is None or cell.level is None:  # a cell with a state has its level
        return ""
    return f"{skill.level_code(cell.level)} {STATE_GLYPHS[cell.state]}"


def _scope_line(m: Matrix) -> list[list[str]]:
    rows = [[HEAD["on"], m.on.isoformat()]]
    if m.position:
        rows.append([HEAD["position"], f"{m.position.code} {m.position.name} {m.position.name_zh}".strip()])
    if m.site:
        rows.append([HEAD["site"], m.site])
    if m.department:
        rows.append([HEAD["department"], m.department])
    return rows


def matrix_xlsx(m: Matrix) -> bytes:
    """Sheet 1: the matrix with the qualified / required / gap rows of the page;
    sheet 2: coverage per position and requirement."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None  # a new workbook has its one sheet
    ws.title = HEAD["matrix"]
    bold = Font(bold=True)
    for row in _scope_line(m):
        ws.append([safe_cell(value) for value in row])
    ws.append([])
    header_row = ws.max_row + 1
    ws.append([HEAD["person"], HEAD["positions"], *[safe_cell(_skill_head(c.skill)) for c in m.columns]])
    for xl_cell in ws[header_row]:
        xl_cell.font = bold
        xl_cell.alignment = Alignment(wrap_text=True, vertical="top")
    for person in m.people:
        ws.append(
            [
                safe_cell(person.display_name),
                safe_cell(", ".join(p.code for p in m.positions_of.get(person.id, []))),
                *[safe_cell(cell_text(c.skill, m.cell(person.id, c.skill.id))) for c in m.columns],
            ]
        )
        row_no = ws.max_row
        for j, column in enumerate(m.columns, start=3):
            cell = m.cell(person.id, column.skill.id)
            if cell is not None and cell.state is not None:
                ws.cell(row=row_no, column=j).fill = PatternFill("solid", fgColor=STATE_FILL[cell.state])
                ws.cell(row=row_no, column=j).alignment = Alignment(horizontal="center")
    for key, values in (
        ("qualified", [c.qualified for c in m.columns]),
        ("expiring", [c.expiring for c in m.columns]),
        ("required", [c.required for c in m.columns]),
        ("gap", [c.gap for c in m.columns]),
        ("level", [c.skill.level_code(c.level) for c in m.columns]),
    ):
        ws.append([HEAD[key], "", *[safe_value(v) for v in values]])
        for xl_cell in ws[ws.max_row]:
            xl_cell.font = bold
    ws.append([])
    ws.append([HEAD["legend"], "  ".join(f"{STATE_GLYPHS[s]} {STATE_BILINGUAL[s]}" for s in QualificationState)])
    ws.freeze_panes = ws.cell(row=header_row + 1, column=3).coordinate
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 18
    for j in range(3, 3 + len(m.columns)):
        ws.column_dimensions[get_column_letter(j)].width = 16
    ws.row_dimensions[header_row].height = 45

    cov = wb.create_sheet(HEAD["coverage"])
    cov.append(
        [
            HEAD["position"],
            HEAD["site"],
            HEAD["department"],
            HEAD["skill"],
            HEAD["level"],
            HEAD["required"],
            HEAD["qualified"],
            HEAD["expiring"],
            HEAD["gap"],
        ]
    )
    for cell in cov[1]:
        cell.font = bold
    for position in m.positions:
        for c in m.coverage.get(position.id, []):
            skill = c.requirement.skill
            cov.append(
                [
                    safe_cell(f"{position.code} {position.name}"),
                    safe_cell(position.site),
                    safe_cell(position.department),
                    safe_cell(_skill_head(skill)),
                    safe_cell(skill.level_code(c.requirement.level)),
                    c.requirement.min_people,
                    len(c.qualified),
                    len(c.expiring),
                    c.gap,
                ]
            )
    for letter, width in zip("ABCDEFGHI", (30, 14, 16, 34, 12, 12, 12, 12, 10), strict=False):
        cov.column_dimensions[letter].width = width
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- PDF ------------------------------------------------------------------------------------


def _para(
    text: str, size: float = 8, *, bold: bool = False, align: Literal[0, 1, 2, 4] = 0, glyph: str = ""
) -> Paragraph:
    f = fonts()
    style = ParagraphStyle(
        "c", fontName=font_for(text or "", bold=bold), fontSize=size, leading=size * 1.2, alignment=align
    )
    body = escape(text or "").replace("\n", "<br/>")
    if glyph:  # the state's shape is drawn in the Latin font, which has the geometric shapes
        body = f'{body} <font name="{f.latin}">{escape(glyph)}</font>'
    return Paragraph(body, style)


def _footer(title: str) -> Callable[[Canvas, BaseDocTemplate], None]:
    def draw(canvas: Canvas, doc: BaseDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(font_for(title), 7.5)
        canvas.setFillColor(colors.grey)
        canvas.drawString(doc.leftMargin, 8 * mm, title)
        canvas.drawRightString(doc.pagesize[0] - doc.rightMargin, 8 * mm, _("Page %(n)s", n=doc.page))
        canvas.restoreState()

    return draw


def _legend() -> Paragraph:
    return _para("   ".join(f"{STATE_GLYPHS[s]} {STATE_BILINGUAL[s]}" for s in QualificationState), 8)


def matrix_pdf(m: Matrix) -> bytes:
    """A3 landscape: names and positions on the left, one column per skill, the
    coverage rows at the bottom; the header row repeats on every page."""
    page = landscape(A3)
    buffer = io.BytesIO()
    title = _("Qualification matrix") + " · " + " · ".join(v for _k, v in _scope_line(m))
    doc = SimpleDocTemplate(
        buffer,
        pagesize=page,
        leftMargin=10 * mm,
        rightMargin=10 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=title,
        author=current_app.config["ORG_NAME"],
    )
    width = page[0] - doc.leftMargin - doc.rightMargin
    name_w, pos_w = 48 * mm, 30 * mm
    n = max(1, len(m.columns))
    col_w = max(9 * mm, (width - name_w - pos_w) / n)
    head: list[Flowable | str] = [_para(HEAD["person"], 7.5, bold=True), _para(HEAD["positions"], 7.5, bold=True)]
    head += [_para(f"{c.skill.code}\n{c.skill.name_zh or c.skill.name}", 6.5, bold=True, align=1) for c in m.columns]
    data: list[list[Flowable | str]] = [head]
    styles: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa5b1")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]
    for i, person in enumerate(m.people, start=1):
        row: list[Flowable | str] = [
            _para(person.display_name, 8),
            _para(", ".join(p.code for p in m.positions_of.get(person.id, [])), 7),
        ]
        for j, column in enumerate(m.columns, start=2):
            cell = m.cell(person.id, column.skill.id)
            if cell is None or cell.state is None or cell.level is None:  # a cell with a state has its level
                row.append("")
                continue
            row.append(_para(column.skill.level_code(cell.level), 8, align=1, glyph=STATE_GLYPHS[cell.state]))
            styles.append(("BACKGROUND", (j, i), (j, i), colors.HexColor("#" + STATE_FILL[cell.state])))
        data.append(row)
    first = len(data)
    for key, values in (
        ("qualified", [c.qualified for c in m.columns]),
        ("required", [c.required for c in m.columns]),
        ("gap", [c.gap for c in m.columns]),
    ):
        totals: list[Flowable | str] = [_para(HEAD[key], 7.5, bold=True), ""]
        data.append(totals + [_para(str(v), 8, bold=True, align=1) for v in values])
    styles.append(("BACKGROUND", (0, first), (-1, -1), colors.HexColor("#f3f5f8")))
    table = Table(data, colWidths=[name_w, pos_w] + [col_w] * len(m.columns), repeatRows=1)
    table.setStyle(TableStyle(styles))
    story = [_para(title, 12, bold=True), Spacer(1, 3 * mm), _legend(), Spacer(1, 3 * mm), table]
    doc.build(story, onFirstPage=_footer(title), onLaterPages=_footer(title))
    return buffer.getvalue()


def evidence_pdf(view: PersonView, locale: str = "en") -> bytes:
    """Every grant of the person on the date with its source, dates, state and
    evidence; a certificate's grant carries the certificate's verification QR code.
    A4 landscape, so the evidence has room beside the QR code."""
    page = landscape(A4)
    buffer = io.BytesIO()
    person = view.person
    title = _("Evidence pack: %(name)s", name=person.display_name)
    doc = SimpleDocTemplate(
        buffer,
        pagesize=page,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=16 * mm,
        title=title,
        author=current_app.config["ORG_NAME"],
    )
    qr_size = 22 * mm

    class QR(Spacer):  # a flowable that draws the verification code of one certificate
        def __init__(self, url: str):
            super().__init__(qr_size, qr_size)
            self.url = url

        def draw(self) -> None:
            draw_qr(self.canv, self.url, 0, 0, qr_size)

    head: list[Flowable | str] = [
        _para(_("Skill"), 8, bold=True),
        _para(_("Level"), 8, bold=True),
        _para(_("Source"), 8, bold=True),
        _para(_("Valid from"), 8, bold=True),
        _para(_("Valid until"), 8, bold=True),
        _para(_("State"), 8, bold=True),
        _para(_("Evidence"), 8, bold=True),
        _para(_("Verify"), 8, bold=True),
    ]
    data: list[list[Flowable | str]] = [head]
    styles: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa5b1")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]
    from .models import GrantSource

    for i, row in enumerate(view.rows, start=1):
        g, state = row.grant, row.state
        assert state is not None  # person_grants leaves out grants not valid yet on the date
        evidence = g.evidence or ""
        if g.granted_by is not None and g.source != GrantSource.certificate.value:
            evidence += "\n" + _("Granted by %(name)s", name=g.granted_by.display_name)
        if g.evidence_sha256:
            evidence += "\n" + _(
                "Attached file: %(name)s (%(kb)s KB), SHA-256 %(sha)s",
                name=g.evidence_filename,
                kb=max(1, round((g.evidence_size or 0) / 1024)),
                sha=g.evidence_sha256,
            )
        if g.revoked_at is not None and g.revoked_reason:
            evidence += "\n" + g.revoked_reason
        qr = QR(verify_url(g.certificate.code)) if g.certificate is not None else ""
        data.append(
            [
                _para(f"{g.skill.code} {g.skill.display_name(locale)}", 8),
                _para(f"{g.skill.level_code(g.level)} · {g.skill.level_name(g.level, locale)}", 8),
                _para(GrantSource(g.source).label, 8),
                _para(g.valid_from.isoformat(), 8),
                _para(g.valid_until.isoformat() if g.valid_until else "—", 8),
                _para(state.label, 8, glyph=STATE_GLYPHS[state]),
                _para(evidence, 7),
                qr,
            ]
        )
        styles.append(("BACKGROUND", (5, i), (5, i), colors.HexColor("#" + STATE_FILL[state])))
    widths = [44 * mm, 32 * mm, 22 * mm, 23 * mm, 23 * mm, 22 * mm]
    widths += [page[0] - doc.leftMargin - doc.rightMargin - sum(widths) - qr_size - 4 * mm, qr_size + 4 * mm]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle(styles))
    intro = [
        _para(title, 14, bold=True),
        Spacer(1, 2 * mm),
        _para(
            _(
                "Qualifications on %(date)s, as recorded by %(org)s.",
                date=view.on.isoformat(),
                org=current_app.config["ORG_NAME"],
            ),
            9,
        ),
        Spacer(1, 2 * mm),
        _legend(),
        Spacer(1, 4 * mm),
    ]
    if view.assigned:
        intro += [
            _para(
                _("Positions: %(list)s", list=", ".join(f"{p.code} {p.display_name(locale)}" for p in view.assigned)), 9
            ),
            Spacer(1, 3 * mm),
        ]
    story = intro + ([table] if view.rows else [_para(_("No qualifications recorded."), 10)])
    doc.build(story, onFirstPage=_footer(title), onLaterPages=_footer(title))
    return buffer.getvalue()
