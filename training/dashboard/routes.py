"""A trainee's own pages: "My training"."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from ..catalogue.services import cancel_cutoff, run_end, run_start
from ..enrolment.forms import ActionForm
from ..enrolment.queries import status_label
from ..enrolment.services import can_self_cancel
from ..types import utcnow
from . import services

bp = Blueprint("dashboard", __name__)


@bp.get("/my/training")
@login_required
def my_training():
    data = services.my_training(current_user)
    now = utcnow()
    next_meeting = {e.id: next((m for m in e.run.meetings if m.ends_at > now), None) for e in data.upcoming}
    return render_template(
        "enrolment/my_training.html",
        data=data,
        form=ActionForm(),
        now=now,
        next_meeting=next_meeting,
        run_start=run_start,
        run_end=run_end,
        can_self_cancel=can_self_cancel,
        cancel_cutoff=cancel_cutoff,
        status_label=status_label,
    )
