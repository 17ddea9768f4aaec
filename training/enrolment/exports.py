"""Enrolment exports: a run's roster as rows for a CSV download."""

from __future__ import annotations

from .queries import roster


def export_rows(run_id: int) -> list[list[object]]:
    """The roster as rows for a CSV (header first)."""
    data = roster(run_id)
    header = [
        "enrolment_id",
        "status",
        "waitlist_position",
        "name",
        "email",
        "company",
        "phone",
        "source",
        "enrolled_at",
        "confirmed_at",
        "cancelled_at",
        "reason",
    ]
    out: list[list[object]] = [list(header)]
    for e in data.enrolments:
        out.append(
            [
                e.id,
                e.status,
                data.positions.get(e.id, ""),
                e.user.display_name,
                e.user.email,
                e.company or e.user.company or "",
                e.user.phone or "",
                e.source,
                e.created_at.isoformat(timespec="seconds") if e.created_at else "",
                e.confirmed_at.isoformat(timespec="seconds") if e.confirmed_at else "",
                e.cancelled_at.isoformat(timespec="seconds") if e.cancelled_at else "",
                e.reason or "",
            ]
        )
    return out
