"""API: the public trainer directory and profiles. No e-mail addresses or
other contact data: the same facts as the public pages."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from .. import content_i18n
from ..markdown import render_markdown
from ..trainers import services
from ..urls import external_url
from . import bp
from .helpers import page_args, page_body


def _photo(profile, size: str):
    if profile is None or not profile.photo:
        return None
    return external_url("trainers.photo", name=f"{profile.photo}-{size}.jpg")


def trainer_summary(user, upcoming: int | None = None) -> dict:
    profile = user.trainer_profile
    data = {
        "id": user.id,
        "name": user.display_name,
        "title": profile.title if profile else None,
        "organisation": profile.organisation if profile else None,
        "expertise": profile.expertise_tags if profile else [],
        "photo_url": _photo(profile, "large"),
        "thumbnail_url": _photo(profile, "thumb"),
        "url": external_url("trainers.profile", user_id=user.id),
        "title_i18n": content_i18n.texts(profile, "title") if profile else {"en": "", "zh": ""},
        "original_language": content_i18n.original_language(profile) if profile else "en",
    }
    if upcoming is not None:
        data["upcoming_runs"] = upcoming
    return data


@bp.get("/trainers")
def list_trainers():
    page, per_page = page_args(default_per_page=24)
    q = " ".join((request.args.get("q") or "").replace("\x00", " ").split())[:100]
    result = services.list_trainers(q, page, per_page)
    return page_body([trainer_summary(card.user, card.upcoming) for card in result.items], page, per_page, result.total)


@bp.get("/trainers/<int:user_id>")
def get_trainer(user_id):
    detail = services.trainer_detail(user_id, current_user)
    data = trainer_summary(detail.user)
    data["bio"] = detail.profile.bio or ""
    data["bio_html"] = str(render_markdown(detail.profile.bio))
    data["bio_i18n"] = content_i18n.texts(detail.profile, "bio")
    data["upcoming_runs"] = [
        {
            "id": run.id,
            "course_id": run.course_id,
            "course_code": run.course.code,
            "course_title": run.course.title,
            "course_title_i18n": content_i18n.texts(run.course, "title"),
            "starts_on": run.starts_on.isoformat(),
            "ends_on": run.ends_on.isoformat(),
            "mode": run.mode,
            "city": run.city,
            "status": run.status,
            "seats_left": detail.seats[run.id],
        }
        for run in detail.upcoming
    ]
    data["courses_taught"] = [
        {
            "id": item.course.id,
            "code": item.course.code,
            "title": item.course.title,
            "title_i18n": content_i18n.texts(item.course, "title"),
            "runs": item.runs,
            "last_run_ended_on": item.last.isoformat() if item.last else None,
        }
        for item in detail.courses_taught
    ]
    return data
