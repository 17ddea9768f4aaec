"""Charts as accessible SVG drawn on the server: no script, no CDN.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>``,
plus a data table ("view data") and a one-sentence summary that the page
shows next to it, so a screen reader, a printer and a phone all get the
same facts. Colours are SVG attributes (the CSP forbids inline styles) and
differ in lightness as well as hue, so they survive grey-scale printing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from babel.dates import format_skeleton
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup, escape

from ..figures.metrics import MIN_ANSWERS

PALETTE = ("#0B3C6E", "#E3A21A", "#5B8DB8", "#2E7D32")
_ids = itertools.count(1)


@dataclass
class Chart:
    key: str
    title: str
    description: str
    summary: str
    headers: list[str]
    rows: list[list[str]]
    svg: Markup = field(default_factory=lambda: Markup(""))


def _fmt(value, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{value * 100:.0f}%"
    if kind == "dec":
        return f"{value:.1f}"
    return str(int(value))


def _text(x, y, content, *, anchor="middle", size=11, fill="#333", extra="") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{extra}>'
        f"{escape(content)}</text>"
    )


def _frame(chart_id: str, width: int, height: int, title: str, desc: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'class="report-chart" aria-labelledby="{chart_id}-t {chart_id}-d" focusable="false" '
        f"font-family=\"system-ui, -apple-system, 'Segoe UI', 'Noto Sans CJK SC', "
        f"'WenQuanYi Micro Hei', sans-serif\">"
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _legend(series_names: list[str], width: int) -> list[str]:
    parts, x = [], 8.0
    for i, name in enumerate(series_names):
        parts.append(f'<rect x="{x:.1f}" y="6" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(_text(x + 16, 16, name, anchor="start", size=12))
        x += 24 + 7 * len(name) + 12
    return parts


def nice_top(value: float) -> tuple[float, float]:
    """A round top for an axis (1, 2, 2.5 or 5 times a power of ten) and its step for four intervals."""
    import math

    if value <= 0:
        return 4.0, 1.0
    step = value / 4
    power = 10 ** math.floor(math.log10(step))
    for factor in (1, 2, 2.5, 5, 10):
        if step <= factor * power:
            step = factor * power
            break
    if step < 1:
        step = 1.0  # counts: whole numbers only
    return step * 4, step


def columns(
    title: str,
    desc: str,
    labels: list[str],
    series: list[tuple[str, list]],
    kind: str = "int",
    top: float | None = None,
) -> Markup:
    """Vertical bars: one group per label, one bar per series."""
    width, height, left, bottom, head = 480, 260, 40, 52, 30
    plot_w, plot_h = width - left - 10, height - bottom - head
    values = [v or 0 for _n, vs in series for v in vs]
    if top is None:
        top, _step = nice_top(max(values + [0]))
    chart_id = f"chart{next(_ids)}"
    body = _legend([n for n, _v in series], width) if len(series) > 1 else []
    for i in range(5):  # grid lines and scale
        value = top * i / 4
        y = head + plot_h - plot_h * i / 4
        body.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd" stroke-width="1"/>')
        body.append(
            _text(
                left - 4,
                y + 4,
                _fmt(value, kind) if kind != "int" else f"{value:g}",
                anchor="end",
                size=11,
                fill="#555",
            )
        )
    group_w = plot_w / max(len(labels), 1)
    bar_w = max(2.0, min(28.0, (group_w - 4) / max(len(series), 1)))
    step = max(1, -(-len(labels) // 12))  # at most 12 axis labels
    for g, label in enumerate(labels):
        x0 = left + g * group_w + (group_w - bar_w * len(series)) / 2
        for s, (name, vs) in enumerate(series):
            value = vs[g] or 0
            h = plot_h * value / top if top else 0
            body.append(
                f'<rect x="{x0 + s * bar_w:.1f}" y="{head + plot_h - h:.1f}" width="{bar_w - 1:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(label)}: '
                f"{escape(name)} {escape(_fmt(vs[g], kind))}</title></rect>"
            )
        if g % step == 0:
            x = left + g * group_w + group_w / 2
            if len(labels) > 6:  # slanted, so that month names never overlap on a phone
                body.append(
                    _text(
                        x,
                        height - bottom + 12,
                        label,
                        anchor="end",
                        size=11,
                        extra=f' transform="rotate(-35 {x:.1f} {height - bottom + 12:.1f})"',
                    )
                )
            else:
                body.append(_text(x, height - bottom + 16, label, size=11))
    body.append(f'<line x1="{left}" x2="{width - 10}" y1="{head + plot_h}" y2="{head + plot_h}" stroke="#999"/>')
    return _frame(chart_id, width, height, title, desc, body)


def bars(
    title: str,
    desc: str,
    labels: list[str],
    series: list[tuple[str, list]],
    kind: str = "pct",
    top: float | None = None,
) -> Markup:
    """Horizontal bars: one row per label (long course names fit on a phone)."""
    label_h, bar_h = 17, 13
    row_h = label_h + bar_h * len(series) + 8
    width, head = 420, 30 if len(series) > 1 else 8
    height = head + row_h * max(len(labels), 1) + 8
    values = [v or 0 for _n, vs in series for v in vs]
    top = top or max(values + [1 if kind == "pct" else 1])
    chart_id = f"chart{next(_ids)}"
    body = _legend([n for n, _v in series], width) if len(series) > 1 else []
    plot_w = width - 50
    for r, label in enumerate(labels):
        y = head + r * row_h
        body.append(_text(0, y + 13, label if len(label) <= 46 else label[:45] + "…", anchor="start", size=13))
        for s, (name, vs) in enumerate(series):
            value = vs[r]
            w = plot_w * (value or 0) / top if top else 0
            yy = y + label_h + s * bar_h
            body.append(
                f'<rect x="0" y="{yy:.1f}" width="{w:.1f}" height="{bar_h - 2}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(label)}: {escape(name)} '
                f"{escape(_fmt(value, kind))}</title></rect>"
            )
            body.append(_text(w + 4, yy + bar_h - 3, _fmt(value, kind), anchor="start", size=11, fill="#333"))
    return _frame(chart_id, width, height, title, desc, body)


# --- the dashboard's charts ------------------------------------------------------------


def month_label(day) -> str:
    return format_skeleton("yMMM", day, locale=str(get_locale() or "en"))


def dashboard_charts(d) -> list[Chart]:
    """The five charts of a reports.services.Dashboard."""
    charts = []
    labels = [month_label(m.month) for m in d.months]
    enrol = [m.enrolments for m in d.months]
    certs = [m.certificates for m in d.months]
    busiest = max(d.months, key=lambda m: m.enrolments) if d.months else None
    title = _("Enrolments and certificates per month")
    summary = _(
        "%(enrolments)s enrolments and %(certificates)s certificates in %(months)s months.",
        enrolments=sum(enrol),
        certificates=sum(certs),
        months=len(d.months),
    )
    if busiest and busiest.enrolments:
        summary += " " + _(
            "Most enrolments: %(month)s (%(n)s).", month=month_label(busiest.month), n=busiest.enrolments
        )
    chart = Chart(
        "months",
        title,
        _("Bars per month: confirmed enrolments and certificates issued."),
        summary,
        [_("Month"), _("Enrolments"), _("Certificates"), _("Attendance rate")],
        [
            [label, str(e), str(c), _fmt(m.attendance_rate, "pct")]
            for label, e, c, m in zip(labels, enrol, certs, d.months, strict=False)
        ],
    )
    chart.svg = columns(title, chart.description, labels, [(_("Enrolments"), enrol), (_("Certificates"), certs)])
    charts.append(chart)

    names = [f"{c.code} {c.title}" for c, _t in d.courses]
    fill = [t.fill_rate for _c, t in d.courses]
    noshow = [t.no_show_rate for _c, t in d.courses]
    title = _("Fill and no-show rate per course")
    if d.courses:
        fullest = max(d.courses, key=lambda ct: ct[1].fill_rate or 0)
        summary = _(
            "%(n)s courses. Fullest: %(course)s (%(rate)s filled).",
            n=len(d.courses),
            course=fullest[0].code,
            rate=_fmt(fullest[1].fill_rate, "pct"),
        )
    else:
        summary = _("No runs in this period.")
    chart = Chart(
        "courses",
        title,
        _("Two bars per course: fill rate and no-show rate, from 0 to 100%."),
        summary,
        [_("Course"), _("Runs"), _("Capacity"), _("Confirmed"), _("Fill rate"), _("No-show rate")],
        [
            [n, str(t.runs), str(t.capacity), str(t.confirmed), _fmt(t.fill_rate, "pct"), _fmt(t.no_show_rate, "pct")]
            for n, (_c, t) in zip(names, d.courses, strict=False)
        ],
    )
    chart.svg = bars(
        title, chart.description, names, [(_("Fill rate"), fill), (_("No-show rate"), noshow)], kind="pct", top=1.0
    )
    charts.append(chart)

    buckets = [f"{i * 10}–{i * 10 + 9}%" if i < 9 else "90–100%" for i in range(10)]
    total = sum(d.distribution)
    reached = sum(d.distribution[8:])
    title = _("Attendance distribution")
    summary = (
        _(
            "%(reached)s of %(total)s confirmed trainees attended 80%% or more of the meetings held.",
            reached=reached,
            total=total,
        )
        if total
        else _("No meetings held in this period.")
    )
    chart = Chart(
        "distribution",
        title,
        _("Confirmed trainees by the share of meetings they attended."),
        summary,
        [_("Attended"), _("Trainees")],
        [[b, str(n)] for b, n in zip(buckets, d.distribution, strict=False)],
    )
    chart.svg = columns(title, chart.description, buckets, [(_("Trainees"), d.distribution)])
    charts.append(chart)

    labels = [month_label(m) for m, _n in d.expiring]
    counts = [n for _m, n in d.expiring]
    title = _("Certificates expiring per month ahead")
    summary = _(
        "%(n)s certificates expire within 90 days, %(year)s within a year.", n=d.summary.expiring, year=sum(counts)
    )
    chart = Chart(
        "expiring",
        title,
        _("Current certificates by the month in which they expire."),
        summary,
        [_("Month"), _("Certificates expiring")],
        [[m, str(n)] for m, n in zip(labels, counts, strict=False)],
    )
    chart.svg = columns(title, chart.description, labels, [(_("Certificates expiring"), counts)])
    charts.append(chart)

    rated = [
        s for s in (d.feedback.trainers if d.feedback else []) if d.feedback.shown(s) and s.satisfaction is not None
    ]
    title = _("Trainer ratings")
    if rated:
        best = max(rated, key=lambda s: s.satisfaction)
        summary = _(
            "%(n)s trainers rated; highest: %(name)s (%(score)s of 10).",
            n=len(rated),
            name=best.label,
            score=_fmt(best.satisfaction, "dec"),
        )
    else:
        summary = _("No trainer has enough feedback answers yet (at least %(n)s).", n=MIN_ANSWERS)
    chart = Chart(
        "ratings",
        title,
        _("Mean recommendation (0 to 10) per trainer, from the feedback surveys."),
        summary,
        [_("Trainer"), _("Answers"), _("Response rate"), _("Satisfaction (0–10)")],
        [[s.label, str(s.answers), _fmt(s.response_rate, "pct"), _fmt(s.satisfaction, "dec")] for s in rated],
    )
    chart.svg = bars(
        title,
        chart.description,
        [s.label for s in rated],
        [(_("Satisfaction (0–10)"), [s.satisfaction for s in rated])],
        kind="dec",
        top=10.0,
    )
    charts.append(chart)
    return charts
