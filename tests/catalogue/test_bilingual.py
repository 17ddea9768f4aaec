"""Course content in both languages (issue 18) on the pages, in the admin and in
the API: the reader's language with a marked fallback, the switch to the other
version, side-by-side editing, the missing-translation filter, both API shapes
and refusals that are 4xx, never 500."""

import pytest
from sqlalchemy import select

from tests.conftest import api, login
from training.accounts.models import TrainerProfile
from training.catalogue.models import Category, Course, Run
from training.extensions import db


@pytest.fixture
def admin_client(client, factory):
    login(client, factory.admin())
    return client


def _bilingual_course(factory, **kw):
    category = Category(slug="vision", name="Machine vision", name_zh="机器视觉")
    db.session.add(category)
    db.session.commit()
    data = dict(
        code="VIS-101",
        title="Machine vision basics",
        title_translation="机器视觉入门",
        summary="Cameras, lenses and light.",
        summary_translation="相机、镜头与光源。",
        description="Build a **robust** inspection.",
        description_translation="",
        category_id=category.id,
    )
    data.update(kw)
    return factory.course(**data)


def test_course_page_in_each_language_with_a_marked_fallback_and_a_switch(client, factory):
    trainer = factory.trainer(name="Li Wei")
    profile = trainer.trainer_profile
    profile.title, profile.title_translation = "Senior automation engineer", ""
    db.session.commit()
    course = _bilingual_course(factory)
    factory.run(
        course,
        trainers=[trainer],
        location="Suzhou Training Centre, Hall B",
        location_translation="苏州工业园区培训中心 B 厅",
    )

    en = client.get(f"/courses/{course.id}?lang=en").get_data(as_text=True)
    assert "Machine vision basics" in en and "机器视觉入门" not in en
    assert "Suzhou Training Centre, Hall B" in en and "English only" not in en
    assert f'href="/courses/{course.id}?content_lang=zh"' in en and "Read this course in Chinese" in en

    zh = client.get(f"/courses/{course.id}?lang=zh").get_data(as_text=True)
    assert "机器视觉入门" in zh and "相机、镜头与光源。" in zh and "苏州工业园区培训中心 B 厅" in zh
    assert "<title>机器视觉入门" in zh
    # The description and the trainer's title exist in English only: shown, marked.
    assert "<strong>robust</strong>" in zh and zh.count("仅英文") >= 2
    assert "Senior automation engineer" in zh
    assert "阅读本课程的英文版" in zh

    # The switch: the English text under the Chinese interface, and the other way round.
    switched = client.get(f"/courses/{course.id}?lang=zh&content_lang=en").get_data(as_text=True)
    assert "Machine vision basics" in switched and "阅读本课程的中文版" in switched
    assert "Read this course in English" not in switched


def test_content_switch_is_its_own_cached_page(app, client, factory):
    app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 60
    course = _bilingual_course(factory)
    first = client.get(f"/courses/{course.id}?lang=en")
    assert first.headers["X-Page-Cache"] == "miss"
    other = client.get(f"/courses/{course.id}?lang=en&content_lang=zh")
    assert other.headers["X-Page-Cache"] == "miss" and "机器视觉入门" in other.get_data(as_text=True)
    again = client.get(f"/courses/{course.id}?lang=en")
    assert again.headers["X-Page-Cache"] == "hit" and "机器视觉入门" not in again.get_data(as_text=True)
    assert client.get(f"/courses/{course.id}?lang=en&content_lang=xx").status_code == 200


def test_no_switch_when_there_is_nothing_in_the_other_language(client, factory):
    course = factory.course(title="PLC basics", summary="Ladder logic.")
    html = client.get(f"/courses/{course.id}?lang=en").get_data(as_text=True)
    assert "content_lang" not in html
    zh = client.get(f"/courses/{course.id}?lang=zh").get_data(as_text=True)
    assert "PLC basics" in zh and "仅英文" in zh and "content_lang" not in zh


def test_catalogue_cards_and_category_names_follow_the_reader(client, factory):
    _bilingual_course(factory)
    factory.course(code="LEAN-1", title="精益生产入门", original_language="zh", summary="价值流。")
    en = client.get("/?lang=en").get_data(as_text=True)
    assert "Machine vision basics" in en and "Machine vision</" in en
    assert "精益生产入门" in en and "Chinese only" in en
    zh = client.get("/?lang=zh").get_data(as_text=True)
    assert "机器视觉入门" in zh and "机器视觉" in zh and "精益生产入门" in zh and "仅中文" not in zh
    assert client.get("/?q=入门&lang=en").get_data(as_text=True).count('class="card course-card') == 2
    assert client.get("/?q=basics&lang=zh").get_data(as_text=True).count('class="card course-card') == 1


def test_trainer_profile_in_both_languages(client, factory):
    trainer = factory.trainer(name="Chen Jing")
    profile: TrainerProfile = trainer.trainer_profile
    profile.original_language = "zh"
    profile.title, profile.title_translation = "机器视觉专家", "Machine vision specialist"
    profile.bio, profile.bio_translation = "陈静专注于视觉检测。", ""
    db.session.commit()
    en = client.get(f"/trainers/{trainer.id}?lang=en").get_data(as_text=True)
    assert "Machine vision specialist" in en and "陈静专注于视觉检测。" in en and "Chinese only" in en
    zh = client.get(f"/trainers/{trainer.id}?lang=zh").get_data(as_text=True)
    assert "机器视觉专家" in zh and "仅" not in zh
    assert "Machine vision specialist" in client.get("/trainers?q=specialist").get_data(as_text=True)


def test_admin_edits_both_languages_side_by_side(admin_client, factory):
    html = admin_client.get("/admin/courses/new?lang=en").get_data(as_text=True)
    assert 'name="title_en"' in html and 'name="title_zh"' in html and 'name="original_language"' in html
    response = admin_client.post(
        "/admin/courses/new",
        data={
            "code": "ROB-1",
            "original_language": "zh",
            "title_zh": "机器人编程",
            "title_en": "Robot programming",
            "summary_zh": "六轴机器人。",
            "summary_en": "",
            "level": "beginner",
            "language": "zh",
            "hours": "8",
            "min_attendance_pct": "80",
            "published": "y",
        },
    )
    assert response.status_code == 302
    course = db.session.scalar(select(Course).where(Course.code == "ROB-1"))
    assert (course.original_language, course.title, course.title_translation) == (
        "zh",
        "机器人编程",
        "Robot programming",
    )
    html = admin_client.get(f"/admin/courses/{course.id}/edit?lang=en").get_data(as_text=True)
    assert 'value="Robot programming"' in html and 'value="机器人编程"' in html
    assert "missing-mark" in html  # the English summary
    # Switching the original keeps each text in its language.
    admin_client.post(
        f"/admin/courses/{course.id}/edit",
        data={
            "code": "ROB-1",
            "original_language": "en",
            "title_zh": "机器人编程",
            "title_en": "Robot programming",
            "summary_zh": "六轴机器人。",
            "summary_en": "Six axes.",
            "level": "beginner",
            "language": "zh",
            "hours": "8",
            "min_attendance_pct": "80",
            "published": "y",
        },
    )
    db.session.refresh(course)
    assert (course.title, course.title_translation, course.summary) == ("Robot programming", "机器人编程", "Six axes.")


def test_admin_form_refuses_an_empty_original(admin_client, factory):
    response = admin_client.post(
        "/admin/courses/new",
        data={
            "code": "ROB-2",
            "original_language": "en",
            "title_en": "",
            "title_zh": "机器人编程",
            "level": "beginner",
            "language": "zh",
            "hours": "8",
            "min_attendance_pct": "80",
        },
    )
    assert response.status_code == 422
    assert "required in the original language" in response.get_data(as_text=True)
    response = admin_client.post(
        "/admin/courses/new",
        data={
            "code": "ROB-2",
            "original_language": "en",
            "title_en": "Robots",
            "summary_zh": "只有译文",
            "level": "beginner",
            "language": "zh",
            "hours": "8",
            "min_attendance_pct": "80",
        },
    )
    assert response.status_code == 422 and "no text in the original language" in response.get_data(as_text=True)
    response = admin_client.post(
        "/admin/courses/new",
        data={
            "code": "ROB-2",
            "original_language": "fr",
            "title_en": "Robots",
            "level": "beginner",
            "language": "zh",
            "hours": "8",
            "min_attendance_pct": "80",
        },
    )
    assert response.status_code == 422
    assert db.session.scalar(select(Course).where(Course.code == "ROB-2")) is None


def test_admin_course_list_filters_missing_translations(admin_client, factory):
    _bilingual_course(factory)  # description has no Chinese
    factory.course(code="FULL-1", title="Full", title_translation="完整", summary="", description="")
    factory.course(code="ZH-1", title="只有中文", original_language="zh", summary="", description="")
    missing_zh = admin_client.get("/admin/courses?missing=zh&lang=en").get_data(as_text=True)
    assert "VIS-101" in missing_zh and "FULL-1" not in missing_zh and "ZH-1" not in missing_zh
    assert "Missing Chinese" in missing_zh
    missing_en = admin_client.get("/admin/courses?missing=en&lang=en").get_data(as_text=True)
    assert "ZH-1" in missing_en and "VIS-101" not in missing_en and "FULL-1" not in missing_en
    assert admin_client.get("/admin/courses?missing=fr").status_code == 200


def test_admin_run_and_category_forms_are_bilingual(admin_client, factory):
    course = factory.course()
    run = factory.run(course, location="Hall B")
    html = admin_client.get(f"/admin/runs/{run.id}/edit").get_data(as_text=True)
    assert 'name="location_zh"' in html and 'value="Hall B"' in html
    response = admin_client.post(
        "/admin/categories", data={"original_language": "zh", "name": "", "name_zh": "增材制造", "slug": "am"}
    )
    assert response.status_code == 302
    category = db.session.scalar(select(Category).where(Category.slug == "am"))
    assert (category.name, category.name_zh, category.original_language) == ("", "增材制造", "zh")
    response = admin_client.post(
        "/admin/categories", data={"original_language": "en", "name": "", "name_zh": "视觉", "slug": "vis"}
    )
    assert response.status_code == 422


def test_api_returns_both_languages_and_accepts_both_shapes(client, factory):
    admin = factory.admin()
    course = _bilingual_course(factory)
    body = api(client, admin).get(f"/api/v1/courses/{course.id}").json
    assert body["title"] == "Machine vision basics" and body["original_language"] == "en"
    assert body["title_i18n"] == {"en": "Machine vision basics", "zh": "机器视觉入门"}
    assert body["description_i18n"] == {"en": "Build a **robust** inspection.", "zh": ""}
    assert body["category_name_i18n"] == {"en": "Machine vision", "zh": "机器视觉"}

    # An old client: only "title" (the original).
    created = api(client, admin).post("/api/v1/courses", json={"code": "OLD-1", "title": "Old style", "hours": 4})
    assert created.status_code == 201, created.json
    assert created.json["title_i18n"] == {"en": "Old style", "zh": ""}
    # A new client: both languages, Chinese original.
    created = api(client, admin).post(
        "/api/v1/courses",
        json={
            "code": "NEW-1",
            "hours": 4,
            "original_language": "zh",
            "title_i18n": {"en": "Robot basics", "zh": "机器人基础"},
            "summary_i18n": {"zh": "入门。"},
        },
    )
    assert created.status_code == 201, created.json
    assert created.json["title"] == "机器人基础" and created.json["original_language"] == "zh"
    assert created.json["summary_i18n"] == {"en": "", "zh": "入门。"}
    new_id = created.json["id"]
    # "title" on update writes the original; the translation stays.
    updated = api(client, admin)._call("PATCH", f"/api/v1/courses/{new_id}", json={"title": "机器人入门"})
    assert updated.status_code == 200, updated.json
    assert updated.json["title_i18n"] == {"en": "Robot basics", "zh": "机器人入门"}
    found = api(client).get("/api/v1/courses?q=robot").json
    assert [item["code"] for item in found["items"]] == ["NEW-1"]

    run = api(client, admin).post(
        f"/api/v1/courses/{new_id}/runs",
        json={
            "starts_on": "2030-03-04",
            "ends_on": "2030-03-05",
            "capacity": 5,
            "location_i18n": {"zh": "苏州培训中心", "en": "Suzhou Training Centre"},
            "original_language": "zh",
        },
    )
    assert run.status_code == 201, run.json
    assert run.json["location"] == "苏州培训中心" and run.json["location_i18n"]["en"] == "Suzhou Training Centre"
    assert run.json["course_title_i18n"] == {"en": "Robot basics", "zh": "机器人入门"}
    assert db.session.get(Run, run.json["id"]).original_language == "zh"


@pytest.mark.parametrize(
    "payload",
    [
        {"title_i18n": "Robots"},
        {"title_i18n": {"fr": "Robots"}},
        {"title_i18n": {"en": 5}},
        {"original_language": "fr"},
        {"original_language": 1},
        {"title_i18n": {"en": ""}},
        {"original_language": "zh"},  # no Chinese title
        {"summary_i18n": {"zh": "只有译文"}, "summary": ""},
        {"title_i18n": {"zh": "x" * 201}},
    ],
)
def test_api_refuses_bad_bilingual_input_with_422(client, factory, payload):
    admin = factory.admin()
    course = factory.course(code="KEEP-1", title="Kept", summary="")
    response = api(client, admin)._call("PATCH", f"/api/v1/courses/{course.id}", json=payload)
    assert response.status_code == 422, (payload, response.json)
    assert response.json["error"]["code"] == "validation_failed"
    db.session.expire_all()
    course = db.session.get(Course, course.id)
    assert (course.title, course.title_translation, course.original_language) == ("Kept", "", "en")


def test_api_trainer_profile_has_both_languages(client, factory):
    trainer = factory.trainer()
    profile = trainer.trainer_profile
    profile.title, profile.title_translation, profile.bio = "Robotics lead", "机器人应用主管", "Ten years."
    db.session.commit()
    body = api(client).get(f"/api/v1/trainers/{trainer.id}").json
    assert body["title_i18n"] == {"en": "Robotics lead", "zh": "机器人应用主管"}
    assert body["bio_i18n"] == {"en": "Ten years.", "zh": ""} and body["original_language"] == "en"


def test_api_filters_missing_translations(client, factory):
    admin = factory.admin()
    factory.course(code="EN-1", title="Only English")
    factory.course(code="BOTH-1", title="Both", title_translation="双语", summary="")
    body = api(client, admin).get("/api/v1/courses?missing=zh").json
    assert [item["code"] for item in body["items"]] == ["EN-1"]
    assert api(client, admin).get("/api/v1/courses?missing=fr").status_code == 422
