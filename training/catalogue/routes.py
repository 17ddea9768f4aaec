"""Catalogue pages: the catalogue (home), course pages, run calendars and the
personal calendar feed."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import content_i18n
from ..markdown import plain_text
from ..pagecache import cached_for_anonymous, cached_for_everyone, shared_part
from ..urls import external_url, public_base_url
from . import queries, services
from .calendar import feed_calendar, run_calendar
from .cards import card_key, filters_key
from .listing import catalogue_page
from .search import CatalogueQuery

bp = Blueprint("catalogue", __name__)

PER_PAGE = 18  # three columns of cards on wide screens, two on tablets

# A card's HTML is kept per process under everything it shows (training/rendering.py:fragment).
bp.add_app_template_global(card_key, "course_card_key")
bp.add_app_template_global(filters_key, "catalogue_filters_key")


@bp.get("/")
@cached_for_everyone
def index():
    query = CatalogueQuery.from_args(request.args, default_per_page=PER_PAGE)
    listing = shared_part("catalogue", lambda: _listing(query))
    return render_template("catalogue/index.html", query=query, listing=listing)


def _listing(query: CatalogueQuery) -> str:
    page, facets = catalogue_page(query)
    return render_template("catalogue/_listing.html", query=query, page=page, facets=facets)


@bp.get("/courses/<int:course_id>")
@cached_for_anonymous
def course(course_id):
    detail = queries.course_detail(course_id, current_user)
    course = detail.course
    # ?content_lang=zh reads the course in the other language under the same interface
    # (a plain link; the page cache keys on the full query string).
    chosen = request.args.get("content_lang")
    reading = chosen if chosen in content_i18n.LANGS else content_i18n.current_lang()
    other_lang: str | None = content_i18n.other(reading)
    # The switch is offered when both versions have something to read (otherwise the
    # one there is shows either way, marked).
    if not all(
        any(content_i18n.texts(course, f)[lang].strip() for f in ("title", "summary", "description"))
        for lang in content_i18n.LANGS
    ):
        other_lang = None
    title = content_i18n.localized(course, "title", reading)
    description = (
        content_i18n.localized(course, "summary", reading)
        or plain_text(content_i18n.localized(course, "description", reading), 300)
        or title
    )
    return render_template(
        "catalogue/course.html",
        d=detail,
        course=course,
        meta_description=description,
        reading=reading,
        other_lang=other_lang,
        canonical_url=external_url("catalogue.course", course_id=course.id),
        json_ld=_course_json_ld(detail, description, title),
    )


def _course_json_ld(detail, description: str, title: content_i18n.Localized) -> dict:
    """schema.org Course with one CourseInstance per upcoming run."""
    from flask import current_app

    course = detail.course
    base = public_base_url()
    org = {"@type": "Organization", "name": current_app.config.get("ORG_NAME"), "url": base + "/"}
    modes = {"in_person": "onsite", "online": "online", "blended": "blended"}
    instances = []
    for run in detail.runs:
        if run.status not in queries.PUBLIC_RUN_STATUSES:
            continue
        instance = {
            "@type": "CourseInstance",
            "courseMode": modes.get(run.mode, run.mode),
            "startDate": run.starts_on.isoformat(),
            "endDate": run.ends_on.isoformat(),
            "instructor": [
                {"@type": "Person", "name": t.display_name, "url": external_url("trainers.profile", user_id=t.id)}
                for t in run.trainers
            ],
        }
        if run.mode != "online" and (run.location or run.city):
            location = content_i18n.localized(run, "location", getattr(title, "lang", None))
            instance["location"] = {"@type": "Place", "name": location or run.city, "address": run.city or location}
        instances.append(instance)
    data = {
        "@context": "https://schema.org",
        "@type": "Course",
        "name": str(title),
        "courseCode": course.code,
        "description": description,
        "provider": org,
        "url": external_url("catalogue.course", course_id=course.id),
        "inLanguage": {"en+zh": ["en", "zh"]}.get(course.language, course.language),
        "timeRequired": f"PT{course.hours:g}H",
        "educationalLevel": course.level,
        "educationalCredentialAwarded": {
            "@type": "EducationalOccupationalCredential",
            "name": f"{title} ({course.code})",
            "credentialCategory": "certificate",
        },
    }
    if course.category:
        data["about"] = str(course.category.label(getattr(title, "lang", None)))
    if course.prerequisite_course:
        data["coursePrerequisites"] = (
            f"{course.prerequisite_course.code} "
            f"{content_i18n.localized(course.prerequisite_course, 'title', title.lang)}"
        )
    if instances:
        data["hasCourseInstance"] = instances
    return data


@bp.get("/runs/<int:run_id>/calendar.ics")
def run_ics(run_id):
    run = queries.visible_run(run_id, current_user)
    body = run_calendar(run, public_base_url())
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="{run.course.code}-{run.starts_on}.ics"'},
    )


@bp.get("/calendar/<token>.ics")
def feed(token):
    user, runs = queries.calendar_feed_runs(token)
    # Fetched by calendar apps without the owner's session: in the owner's language.
    with force_locale(user.locale or "en"):
        name = _("%(name)s: training", name=user.display_name)
    body = feed_calendar(runs, name, public_base_url(), user.locale or "en")
    # The URL is the secret: never cache it in shared caches, never index it.
    return Response(
        body, mimetype="text/calendar", headers={"Cache-Control": "private, max-age=900", "X-Robots-Tag": "noindex"}
    )


@bp.get("/my/calendar")
@login_required
def my_calendar():
    token = current_user.calendar_token
    feed_url = external_url("catalogue.feed", token=token) if token else None
    return render_template("catalogue/my_calendar.html", feed_url=feed_url)


@bp.post("/my/calendar/reset")
@login_required
def reset_calendar():
    had_token = bool(current_user.calendar_token)
    services.reset_calendar_token(current_user)
    flash(
        _("Your calendar link was reset: subscribe again with the new link; the old one no longer works.")
        if had_token
        else _("Your personal calendar link is ready."),
        "success",
    )
    return redirect(url_for("catalogue.my_calendar"))
