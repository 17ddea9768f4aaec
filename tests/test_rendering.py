"""The per-request translation cache, cached icons, dates, links and the locale name
render exactly what Flask-Babel, Bootstrap-Flask and Flask would, and follow
force_locale (e-mails in the recipient's language while the page is in another);
links follow the script root, host, blueprint and arguments."""

from __future__ import annotations

import re
from datetime import date

from flask import render_template_string, url_for
from flask_babel import force_locale

from training import rendering


def _squash(markup: str) -> str:
    return re.sub(r"\s+", " ", str(markup)).replace("> <", "><").strip()


def test_template_gettext_follows_force_locale(app):
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert render_template_string("{{ _('Courses') }}") == "Courses"
        with force_locale("zh"):
            assert render_template_string("{{ _('Courses') }}") == "课程"
        assert render_template_string("{{ _('Courses') }}") == "Courses"
        with force_locale("zh"):
            from training.labels import label

            assert label("confirmed") != "confirmed"
        from training.labels import label

        assert label("confirmed") == "confirmed"


def test_icons_match_bootstrap_flask_markup(app):
    calls = [
        "'clock'",
        "'search', size='2.5em'",
        "'x', color='danger'",
        "'x', color='#f00'",
        "'x', title='Title <b>', desc='Desc'",
        "'x', classes='me-1'",
        "'x', font=true",
    ]
    with app.test_request_context("/"):
        for call in calls:
            ours = render_template_string(
                "{% from 'bootstrap5/utils.html' import render_icon %}{{ render_icon(" + call + ") }}"
            )
            theirs = render_template_string(
                "{% from 'base/utils.html' import render_icon %}{{ render_icon(" + call + ") }}"
            )
            assert _squash(ours) == _squash(theirs), call
        rendered = render_template_string(
            "{% from 'bootstrap5/utils.html' import render_icon %}{{ render_icon('geo-alt') }}"
        )
        assert "bootstrap-icons.svg#geo-alt" in rendered and rendered.startswith("<svg")


def test_dates_are_formatted_in_the_readers_language(app):
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert render_template_string("{{ d|dateformat('medium') }}", d=date(2026, 12, 5)) == "Dec 5, 2026"
        with force_locale("zh"):
            assert render_template_string("{{ d|dateformat('medium') }}", d=date(2026, 12, 5)) == "2026年12月5日"


def _both(app, source: str, path="/", **environ) -> tuple[str, str]:
    with app.test_request_context(path, environ_overrides=environ or None):
        cached = render_template_string(source)
        cached_again = render_template_string(source)
    assert cached == cached_again
    kept = app.jinja_env.globals["url_for"]
    app.jinja_env.globals["url_for"] = url_for
    try:
        with app.test_request_context(path, environ_overrides=environ or None):
            plain = render_template_string(source)
    finally:
        app.jinja_env.globals["url_for"] = kept
    return cached, plain


def test_cached_links_are_flasks_links(app):
    source = (
        "{{ url_for('catalogue.index') }} {{ url_for('static', filename='css/app.css') }} "
        "{{ url_for('catalogue.course', course_id=7) }} {{ url_for('catalogue.course', course_id=8) }} "
        "{{ url_for('accounts.login', next='/a?b=1') }} {{ url_for('catalogue.index', _external=True) }} "
        "{{ url_for('catalogue.index', _anchor='x') }}"
    )
    rendering._URLS.clear()
    for environ in ({}, {"SCRIPT_NAME": "/academy"}, {"HTTP_HOST": "other.example"}, {}):
        cached, plain = _both(app, source, **environ)
        assert cached == plain
    assert "/academy/courses/7" in _both(app, source, SCRIPT_NAME="/academy")[0]
    assert "http://other.example/" in _both(app, source, HTTP_HOST="other.example")[0]


def test_blueprint_relative_links_follow_the_request(app):
    rendering._URLS.clear()
    seen = []
    for endpoint in ("accounts.home", "companies.home", "accounts.home"):
        rule = app.url_map._rules_by_endpoint[endpoint][0]  # noqa: SLF001 - the request's matched rule
        with app.test_request_context(rule.rule if "<" not in rule.rule else "/"):
            from flask import request

            request.url_rule = rule
            assert render_template_string("{{ url_for('.home', company_id=1) }}") == url_for(endpoint, company_id=1)
            seen.append(url_for(endpoint, company_id=1))
    assert seen[0] != seen[1]


def test_current_locale_follows_force_locale(app):
    with app.test_request_context("/?lang=zh"):
        assert render_template_string("{{ current_locale() }}") == "zh"
        with force_locale("en"):
            assert render_template_string("{{ current_locale() }}") == "en"
        assert render_template_string("{{ current_locale() }}") == "zh"
