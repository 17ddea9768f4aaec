"""API: reports (the glossary's figures), scoped like the dashboard."""

from __future__ import annotations

from flask import request

from ..reports import services
from . import bp
from .helpers import caller


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@bp.get("/reports/summary")
def reports_summary():
    viewer = caller()
    return services.summary(viewer, request.args).as_dict()


@bp.get("/reports/monthly")
def reports_monthly():
    viewer = caller()
    scope, months, as_of = services.monthly(viewer, request.args)
    return {
        "from": scope.date_from.isoformat(),
        "to": scope.date_to.isoformat(),
        "as_of": _iso(as_of),
        "months": [
            {
                "month": m.month.strftime("%Y-%m"),
                "enrolments": m.enrolments,
                "certificates": m.certificates,
                "attendance_rate": m.attendance_rate,
            }
            for m in months
        ],
    }
