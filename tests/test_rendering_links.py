"""Links and locale built once per process for templates (training/rendering.py) are
the links Flask builds: per script root, host, blueprint and argument."""

from flask import render_template_string, url_for

from training import rendering


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
    from flask_babel import force_locale

    with app.test_request_context("/?lang=zh"):
        assert render_template_string("{{ current_locale() }}") == "zh"
        with force_locale("en"):
            assert render_template_string("{{ current_locale() }}") == "en"
        assert render_template_string("{{ current_locale() }}") == "zh"
