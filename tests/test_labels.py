"""States carry their labels: one wording per state, translated, checked when the enum is defined."""

from __future__ import annotations

import pytest
from flask_babel import force_locale

from training.attendance.models import AttendanceStatus
from training.enrolment import queries as enrolment_queries
from training.enrolment.models import EnrolmentStatus
from training.labels import LabelledEnum, labels_for


def test_every_state_has_its_label_in_both_languages(app):
    with app.test_request_context():
        assert EnrolmentStatus.pending.label == "Awaiting approval"
        assert AttendanceStatus.late.label == "Late"
        with force_locale("zh"):
            assert EnrolmentStatus.pending.label == "等待审批"
            assert AttendanceStatus.late.label == "迟到"
        # The services' and the pages' wording is the enum's: one dictionary, not three.
        for status in EnrolmentStatus:
            assert enrolment_queries.status_label(status.value) == status.label


def test_an_enum_without_a_label_for_a_state_fails_at_definition():
    class Colour(LabelledEnum):
        red = "red"
        blue = "blue"

    with pytest.raises(ValueError, match="blue"):
        labels_for(Colour, {"red": "Red"})
