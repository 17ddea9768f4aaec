"""Translatable labels for values stored as data.

Statuses, roles, levels and modes are kept in the database as short English
codes ("open", "waitlisted", "in_person", ...). Some templates and messages
translate the code itself (``{{ _(run.status) }}``, ``_(u.role)``); gettext can
only do that when the code is also a msgid in the catalogue. Extraction finds
the literals below (``pybabel extract -k _l``), so each code has a message
whose msgid is exactly the stored value.

``label(value)`` returns the translated label for any of these codes, or the
value itself when it is not one of them.
"""

from __future__ import annotations

import enum
from typing import Any

from flask_babel import lazy_gettext as _l


class LabelledEnum(str, enum.Enum):
    """A state kept in the database as its value, with the label people read
    (Indico's enums with titles). A subclass lists its labels in a mapping from
    value to lazy translation, set as ``Enum._labels`` after the class body."""

    @property
    def label(self) -> str:
        return str(_ENUM_LABELS.get(type(self).__name__, {}).get(self.value, self.value))


_ENUM_LABELS: dict[str, dict[str, Any]] = {}


def labels_for(enum_cls: type[LabelledEnum], labels: dict[str, Any]) -> None:
    """Register ``enum_cls``'s labels; every member needs one (checked at import)."""
    missing = {m.value for m in enum_cls} - set(labels)
    if missing:
        raise ValueError(f"{enum_cls.__name__}: no label for {sorted(missing)}")
    _ENUM_LABELS[enum_cls.__name__] = labels


# How an enrolment's state reads on pages, in e-mails and exports.
ENROLMENT_STATUS_TITLES = {
    "confirmed": _l("Confirmed"),
    "waitlisted": _l("Waitlisted"),
    "pending": _l("Awaiting approval"),
    "rejected": _l("Declined"),
    "cancelled": _l("Cancelled"),
    "offered": _l("Seat offered"),
    "offer_declined": _l("Offer declined"),
    "offer_expired": _l("Offer expired"),
}

# How an attendance mark reads on the roster, the register and the trainee's page.
ATTENDANCE_STATUS_TITLES = {
    "present": _l("Present"),
    "late": _l("Late"),
    "absent": _l("Absent"),
    "excused": _l("Excused"),
}

RUN_STATUS_LABELS = {
    "draft": _l("draft"),
    "open": _l("open"),
    "closed": _l("closed"),
    "cancelled": _l("cancelled"),
}

ENROLMENT_STATUS_LABELS = {
    "confirmed": _l("confirmed"),
    "waitlisted": _l("waitlisted"),
    "pending": _l("pending"),
    "rejected": _l("rejected"),
    "cancelled": _l("cancelled"),
    "offered": _l("offered"),
    "offer_declined": _l("offer_declined"),
    "offer_expired": _l("offer_expired"),
}

ATTENDANCE_STATUS_LABELS = {
    "present": _l("present"),
    "late": _l("late"),
    "absent": _l("absent"),
    "excused": _l("excused"),
}

ROLE_LABELS = {
    "trainee": _l("trainee"),
    "trainer": _l("trainer"),
    "assessor": _l("assessor"),
    "admin": _l("admin"),
}

LEVEL_LABELS = {
    "beginner": _l("beginner"),
    "intermediate": _l("intermediate"),
    "advanced": _l("advanced"),
}

MODE_LABELS = {
    "in_person": _l("in_person"),
    "online": _l("online"),
    "blended": _l("blended"),
}

CERTIFICATE_STATUS_LABELS = {
    "valid": _l("valid"),
    "revoked": _l("revoked"),
    "superseded": _l("superseded"),
    "expired": _l("expired"),
}

# How an enrolment came about (Enrolment.source), shown as "via %(source)s".
ENROLMENT_SOURCE_LABELS = {
    "self": _l("self"),
    "admin": _l("admin"),
    "import": _l("import"),
    "api": _l("api"),
}

ALL_LABELS = {
    **RUN_STATUS_LABELS,
    **ENROLMENT_STATUS_LABELS,
    **ATTENDANCE_STATUS_LABELS,
    **ROLE_LABELS,
    **LEVEL_LABELS,
    **MODE_LABELS,
    **CERTIFICATE_STATUS_LABELS,
    **ENROLMENT_SOURCE_LABELS,
}


def label(value: str | None) -> str:
    """The translated label of a stored code, or the value unchanged."""
    if value is None:
        return ""
    if value not in ALL_LABELS:
        return value
    from .rendering import gettext  # each msgid above is exactly the stored value

    return gettext(value)


# Messages that the code translates inside the arguments of another gettext
# call (training/attendance/sheets.py, the completion rule of the register
# PDF). Babel's extractor does not descend into those arguments, so they are
# marked here to reach the catalogue; the runtime lookup uses the same msgid.
NESTED_MESSAGES = (
    _l("excused counts"),
    _l("pass mark %(n)s"),
)


def bilingual(message: object) -> str:
    """'English / 中文' from one lazy message (spreadsheet headers read the same for every reader)."""
    from flask_babel import force_locale

    with force_locale("en"):
        en = str(message)
    with force_locale("zh"):
        zh = str(message)
    return en if en == zh else f"{en} / {zh}"
