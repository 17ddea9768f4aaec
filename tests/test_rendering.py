"""The per-request translation cache, cached icons and dates render exactly what
Flask-Babel and Bootstrap-Flask would, and follow force_locale (e-mails in the
recipient's language while the page is in another)."""

from __future__ import annotations

import re
from datetime import date

from flask import render_template_string
from flask_babel import force_locale


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
