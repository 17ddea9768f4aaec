"""Forms of the attendance pages. The roster has one radio group per trainee,
so it is read from the request by ``roster_records`` rather than declared."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, Length

from ..catalogue.parsing import parse_datetime
from ..errors import ValidationFailed
from .services import STATUSES


class RosterForm(FlaskForm):
    """Only the CSRF token: the rows are read by ``roster_records``."""


class AssessmentForm(FlaskForm):
    """Only the CSRF token: the scores are read by ``assessment_scores``."""


class CheckinForm(FlaskForm):
    code = StringField(
        _l("Check-in code"),
        validators=[DataRequired(), Length(max=32)],
        description=_l("The 6 letters and digits shown on the screen in the room."),
        render_kw={
            "autocomplete": "off",
            "autocapitalize": "characters",
            "spellcheck": "false",
            "inputmode": "text",
            "placeholder": "K7Q-M2X",
            "maxlength": "20",
        },
    )


class TicketForm(FlaskForm):
    ticket = HiddenField()


class FinaliseForm(FlaskForm):
    """Only the CSRF token: one tap signs the register off."""


class ReopenForm(FlaskForm):
    reason = TextAreaField(_l("Why reopen this register?"), validators=[DataRequired(), Length(min=3, max=500)])


class CancelMeetingForm(FlaskForm):
    reason = TextAreaField(_l("Reason, told to the trainees"), validators=[DataRequired(), Length(min=3, max=500)])


class MoveMeetingForm(FlaskForm):
    day = DateField(_l("Day"), validators=[DataRequired()])
    starts = TimeField(_l("Starts"), validators=[DataRequired()])
    ends = TimeField(_l("Ends"), validators=[DataRequired()])

    def moments(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The new times, read in the run's time zone (a time the clocks skip there is refused)."""
        # DataRequired: a validated form has all three.
        assert self.day.data is not None and self.starts.data is not None and self.ends.data is not None
        return (
            parse_datetime(datetime.combine(self.day.data, self.starts.data), _("Starts"), tz),
            parse_datetime(datetime.combine(self.day.data, self.ends.data), _("Ends"), tz),
        )


def roster_records(formdata, enrolment_ids, *, fill_unmarked: str | None = None) -> list[dict]:
    """Records for ``attendance.services.mark`` from ``status-<id>`` and
    ``note-<id>`` fields. ``fill_unmarked`` gives a status to every trainee
    without one (the "mark all present" button without JavaScript)."""
    records = []
    for enrolment_id in enrolment_ids:
        status = formdata.get(f"status-{enrolment_id}")
        if not status and fill_unmarked:
            status = fill_unmarked
        if not status:
            continue
        if status not in STATUSES:
            raise ValidationFailed(
                _("Choose present, late, absent or excused."), fields={f"status-{enrolment_id}": "unknown"}
            )
        records.append(
            {"enrolment_id": enrolment_id, "status": status, "note": formdata.get(f"note-{enrolment_id}", "")}
        )
    return records


def assessment_scores(formdata, enrolment_ids) -> dict[int, int | None]:
    scores: dict[int, int | None] = {}
    for enrolment_id in enrolment_ids:
        name = f"score-{enrolment_id}"
        if name not in formdata:
            continue
        raw = (formdata.get(name) or "").strip()
        if raw == "":
            scores[enrolment_id] = None
            continue
        try:
            scores[enrolment_id] = int(raw)
        except ValueError:
            raise ValidationFailed(
                _("The score must be a whole number from 0 to 100."), fields={name: "invalid"}
            ) from None
    return scores
