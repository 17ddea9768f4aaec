"""Content in both languages (issue 18): texts by language, fallbacks, the
original language, the template helpers and the search over both languages."""

from flask import render_template_string
from flask_babel import force_locale

from training.accounts.models import TrainerProfile
from training.catalogue.models import Category, Course
from training.catalogue.search import CatalogueQuery, search_courses
from training.content_i18n import Localized, assign, detect_language, localized, missing, original_language, texts
from training.extensions import db


def test_a_course_reads_in_each_language_and_falls_back_with_a_mark(factory):
    course = factory.course(
        title="机器视觉入门",
        original_language="zh",
        title_translation="Machine vision basics",
        summary="光源与镜头",
        summary_translation="",
    )
    assert original_language(course) == "zh"
    assert texts(course, "title") == {"en": "Machine vision basics", "zh": "机器视觉入门"}
    title = localized(course, "title", "en")
    assert (title, title.lang, title.is_fallback) == ("Machine vision basics", "en", False)
    summary = localized(course, "summary", "en")
    assert isinstance(summary, Localized) and isinstance(summary, str)
    assert (summary, summary.lang, summary.is_fallback) == ("光源与镜头", "zh", True)
    assert missing(course, "summary") == ["en"]
    assert localized(course, "description", "zh") == "" and not localized(course, "description", "zh").is_fallback


def test_the_current_locale_chooses_the_language(app, factory):
    course = factory.course(title="Robot programming", title_translation="机器人编程")
    with app.test_request_context("/?lang=zh"):
        assert localized(course, "title") == "机器人编程"
    with app.test_request_context("/"):
        with force_locale("zh_CN"):
            assert localized(course, "title") == "机器人编程"
        with force_locale("en"):
            assert localized(course, "title") == "Robot programming"


def test_assign_writes_by_language_and_moves_texts_when_the_original_changes(factory):
    course = factory.course(title="Robot programming", summary="Six axes.")
    assign(course, {"title": {"zh": "机器人编程"}})
    assert (course.title, course.title_translation, course.original_language) == (
        "Robot programming",
        "机器人编程",
        "en",
    )
    assign(course, original="zh")
    db.session.commit()
    assert (course.title, course.title_translation) == ("机器人编程", "Robot programming")
    assert (course.summary, course.summary_translation) == ("", "Six axes.")
    assert texts(course, "summary") == {"en": "Six axes.", "zh": ""}


def test_fixed_columns_categories_and_profiles(factory):
    category = Category(slug="vision", name="", name_zh="机器视觉", original_language="zh")
    db.session.add(category)
    db.session.commit()
    assert localized(category, "name", "en") == "机器视觉" and localized(category, "name", "en").is_fallback
    assert category.label("en") == "机器视觉" and category.label("zh_CN") == "机器视觉"
    assign(category, {"name": {"en": "Machine vision"}})
    assert (category.name, category.name_zh) == ("Machine vision", "机器视觉")
    trainer = factory.trainer()
    profile: TrainerProfile = trainer.trainer_profile
    assign(
        profile, {"title": {"en": "Robotics lead", "zh": "机器人应用主管"}, "bio": {"zh": "十年经验。"}}, original="zh"
    )
    db.session.commit()
    assert (profile.title, profile.title_translation) == ("机器人应用主管", "Robotics lead")
    assert localized(profile, "bio", "en").is_fallback


def test_language_detection():
    assert detect_language("工业机器人操作与编程") == "zh"
    assert detect_language("OPC UA 入门") == "zh"
    assert detect_language("Structured Text for machine builders 结构化文本进阶") == "en"
    assert detect_language("PLC programming") == "en"
    assert detect_language("61131-3", "zh") == "zh"
    assert detect_language("", None) is None


def test_template_helpers_render_the_text_and_the_marker(app, factory):
    course = factory.course(title="Robot programming", summary="Six axes.", title_translation="机器人编程")
    source = (
        "{% from 'macros/i18n.html' import lmark %}"
        "{% set t = ltext(course, 'title') %}{% set s = ltext(course, 'summary') %}"
        "[{{ t }}{{ lmark(t) }}][{{ s }}{{ lmark(s) }}]"
    )
    with app.app_context(), app.test_request_context("/?lang=zh"):
        html = render_template_string(source, course=course)
    assert html.startswith("[机器人编程]")
    assert "Six axes." in html and "仅英文" in html
    with app.app_context(), app.test_request_context("/?lang=en"):
        html = render_template_string(source, course=course)
    assert "lmark" not in html and "[Robot programming][Six axes.]" == html


def test_search_finds_a_course_by_either_language(factory):
    factory.course(
        code="ROB-1",
        title="Industrial robot programming",
        title_translation="工业机器人编程",
        summary="Jogging and frames.",
        summary_translation="点动与坐标系。",
    )
    factory.course(code="VIS-1", title="视觉检测", title_translation="", summary="光源选型")
    for q in ("robots", "机器人", "坐标系", "坐标", "frames", "编程"):
        found = search_courses(CatalogueQuery(q=q))
        assert [c.course.code for c in found.items] == ["ROB-1"], q
    course = db.session.scalar(db.select(Course).where(Course.code == "VIS-1"))
    course.title_translation = "Visual inspection"
    db.session.commit()
    assert [c.course.code for c in search_courses(CatalogueQuery(q="inspection")).items] == ["VIS-1"]
    assert [c.course.code for c in search_courses(CatalogueQuery(q="视觉")).items] == ["VIS-1"]
    # Changing the original moves the texts between columns; search follows.
    assign(course, original="en")
    db.session.commit()
    assert [c.course.code for c in search_courses(CatalogueQuery(q="光源")).items] == ["VIS-1"]
