"""The dashboard as an XLSX workbook (openpyxl): the same figures as the page
(both read one reports.services.Dashboard), bilingual headers, dates as
dates and rates as numbers formatted as percentages."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from flask_babel import lazy_gettext as _l

from ..labels import bilingual
from ..spreadsheets import safe_value
from ..types import org_tz

if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

    from ..accounts.models import User
    from .feedback import RunRef
    from .services import Dashboard

# openpyxl is imported where a workbook is made: it costs every web worker about 12 MiB otherwise.
PCT = "0.0%"
DATE = "yyyy-mm-dd"
MONTH = "yyyy-mm"


def _sheet(
    wb: Workbook,
    title: object,
    headers: list[object],
    rows: Iterable[Iterable[Any]],
    formats: dict[int, str] | None = None,
) -> Worksheet:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws: Worksheet = wb.create_sheet(bilingual(title).replace(" / ", " ")[:31])
    ws.append([bilingual(h) for h in headers])
    header_font, header_fill = Font(bold=True, color="FFFFFF"), PatternFill("solid", fgColor="0B3C6E")
    for cell in ws[1]:
        cell.font, cell.fill = header_font, header_fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        ws.append([safe_value(value) for value in row])  # titles, names and comments stay text
    for col, fmt in (formats or {}).items():
        for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
            cell.number_format = fmt
    for i, header in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(12, min(48, len(bilingual(header)) + 4))
    ws.freeze_panes = "A2"
    return ws


def workbook(d: Dashboard) -> bytes:
    """The XLSX bytes of a reports.services.Dashboard."""
    from openpyxl import Workbook

    wb = Workbook()
    first = wb.active
    assert first is not None  # a new workbook has its one sheet
    wb.remove(first)
    s, t, scope = d.summary, d.summary.totals, d.scope
    as_of = s.as_of.astimezone(org_tz()).replace(tzinfo=None, microsecond=0)
    ws = _sheet(
        wb,
        _l("Summary"),
        [_l("Figure"), _l("Value")],
        [
            (bilingual(_l("Period from")), scope.date_from),
            (bilingual(_l("Period to")), scope.date_to),
            (bilingual(_l("Runs")), t.runs),
            (bilingual(_l("Capacity")), t.capacity),
            (bilingual(_l("Confirmed")), t.confirmed),
            (bilingual(_l("Attendance rate")), t.attendance_rate),
            (bilingual(_l("No-show rate")), t.no_show_rate),
            (bilingual(_l("Fill rate")), t.fill_rate),
            (bilingual(_l("Completion rate")), t.completion_rate),
            (bilingual(_l("Certificates issued")), s.certificates_issued),
            (bilingual(_l("Certificates expiring within 90 days")), s.expiring),
            (bilingual(_l("As of")), as_of),
        ],
    )
    ws.column_dimensions["A"].width = 48
    for row in (2, 3):
        ws.cell(row, 2).number_format = DATE
    for row in range(7, 11):
        ws.cell(row, 2).number_format = PCT
    ws.cell(13, 2).number_format = "yyyy-mm-dd hh:mm"

    _sheet(
        wb,
        _l("Months"),
        [_l("Month"), _l("Enrolments"), _l("Certificates"), _l("Attendance rate")],
        [(m.month, m.enrolments, m.certificates, m.attendance_rate) for m in d.months],
        {1: MONTH, 4: PCT},
    )
    _sheet(
        wb,
        _l("Courses"),
        [
            _l("Code"),
            _l("Course"),
            _l("Runs"),
            _l("Capacity"),
            _l("Confirmed"),
            _l("Fill rate"),
            _l("Attendance rate"),
            _l("No-show rate"),
            _l("Completion rate"),
        ],
        [
            (
                c.code,
                c.title,
                ct.runs,
                ct.capacity,
                ct.confirmed,
                ct.fill_rate,
                ct.attendance_rate,
                ct.no_show_rate,
                ct.completion_rate,
            )
            for c, ct in d.courses
        ],
        {6: PCT, 7: PCT, 8: PCT, 9: PCT},
    )
    buckets = [f"{i * 10}-{i * 10 + 9}%" if i < 9 else "90-100%" for i in range(10)]
    _sheet(
        wb,
        _l("Attendance distribution"),
        [_l("Attended"), _l("Trainees")],
        list(zip(buckets, d.distribution, strict=False)),
    )
    _sheet(wb, _l("Certificates expiring"), [_l("Month"), _l("Certificates expiring")], d.expiring, {1: MONTH})
    feedback = d.feedback
    ratings = {cast("User", s.key).id: s for s in (feedback.trainers if feedback else [])}  # keyed by trainer
    trainer_rows = []
    for f in d.trainers:
        stat = ratings.get(f.trainer.id)
        shown = stat is not None and feedback is not None and feedback.shown(stat)
        trainer_rows.append(
            (
                f.trainer.display_name,
                f.runs,
                f.hours,
                stat.answers if stat else 0,
                stat.satisfaction if shown and stat is not None else None,
            )
        )
    _sheet(
        wb,
        _l("Trainers"),
        [_l("Trainer"), _l("Runs"), _l("Trainer hours"), _l("Answers"), _l("Satisfaction (0–10)")],
        trainer_rows,
        {3: "0.0", 5: "0.0"},
    )
    if feedback is not None:
        _sheet(
            wb,
            _l("Feedback"),
            [
                _l("Course"),
                _l("Run starts"),
                _l("Invited"),
                _l("Answers"),
                _l("Response rate"),
                _l("Satisfaction (0–10)"),
            ],
            [
                (
                    cast("RunRef", st.key).course.code,  # the runs' figures are keyed by run
                    cast("RunRef", st.key).starts_on,
                    st.invited,
                    st.answers,
                    st.response_rate,
                    st.satisfaction if feedback.shown(st) else None,
                )
                for st in feedback.runs
            ],
            {2: DATE, 5: PCT, 6: "0.0"},
        )
        _sheet(
            wb,
            _l("Comments"),
            [_l("Date"), _l("Course"), _l("Run starts"), _l("Question"), _l("Answer")],
            [
                (c.submitted_on, c.run.course.code, c.run.starts_on, c.question.text_en, c.text)
                for c in feedback.comments
            ],
            {1: DATE, 3: DATE},
        )
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
