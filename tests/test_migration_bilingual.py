"""The bilingual-content migration on the texts of the demo as it was before it
(mixed-language titles, English and Chinese trainers, a Chinese-only category):
each record's text becomes its original language, nothing is lost, and the
search covers both languages afterwards. SQLite, and PostgreSQL with
TEST_DATABASE_URL."""

from datetime import UTC, datetime

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from tests.test_migrations import empty_database  # noqa: F401  (fixture)
from training import create_app
from training.extensions import db

BEFORE = "0013c_run_trainers_user_index"

COURSES = [  # code, language, title, summary: from the demo before issue 18
    ("PLC-101", "zh", "PLC programming fundamentals with IEC 61131-3", "Ladder logic, function blocks."),
    ("PLC-201", "en+zh", "Structured Text for machine builders 结构化文本进阶", "State machines."),
    ("ROB-110", "zh", "Industrial robot operation and programming 工业机器人操作与编程", "Jogging, frames."),
    ("VIS-210", "en+zh", "Deep learning for visual inspection 深度学习视觉检测", "Data collection."),
    ("LEAN-100", "en", "精益生产与工业4.0", "价值流与标准作业。"),
    ("OPC-101", "zh", "OPC UA 入门", "信息模型与安全策略。"),
]


def _filler(column):
    kind = column["type"]
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, (sa.Integer, sa.Float, sa.Numeric)):
        return 1
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 1, 5, tzinfo=UTC)
    if isinstance(kind, sa.Date):
        return datetime(2026, 1, 5).date()
    return ""


def _insert(conn, table, **values):
    """A row with the given values and a plain value in every other required column."""
    columns = sa.inspect(conn).get_columns(table)
    row = {
        c["name"]: _filler(c)
        for c in columns
        if not c["nullable"] and c.get("default") is None and c.get("autoincrement") is not True and c["name"] != "id"
    }
    row.update(values)
    names = ", ".join(row)
    result = conn.execute(sa.text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + k for k in row)})"), row)
    return result


def test_existing_text_becomes_the_original_language(empty_database):  # noqa: F811 - the fixture imported above, taken by name
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        upgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            _insert(conn, "categories", slug="plc", name="PLC programming", name_zh="PLC 编程")
            _insert(conn, "categories", slug="lean", name="精益生产", name_zh=None)
            for code, language, title, summary in COURSES:
                _insert(
                    conn,
                    "courses",
                    code=code,
                    language=language,
                    title=title,
                    summary=summary,
                    description="",
                    hours=8,
                    category_id=None,
                    prerequisite_course_id=None,
                    published=True,
                    archived=False,
                    level="beginner",
                )
            ids = dict(conn.execute(sa.text("SELECT code, id FROM courses")).all())
            _insert(
                conn,
                "runs",
                course_id=ids["OPC-101"],
                location="苏州工业园区培训中心",
                notes="",
                starts_on=datetime(2026, 3, 2).date(),
                ends_on=datetime(2026, 3, 3).date(),
                capacity=10,
                timezone="Asia/Shanghai",
                status="open",
                mode="in_person",
            )
            _insert(
                conn,
                "runs",
                course_id=ids["OPC-101"],
                location="",
                notes="",
                starts_on=datetime(2026, 4, 2).date(),
                ends_on=datetime(2026, 4, 3).date(),
                capacity=10,
                timezone="Asia/Shanghai",
                status="open",
                mode="in_person",
            )
            _insert(conn, "users", email="zhang@example.com", display_name="张敏", role="trainer", locale="zh_CN")
            _insert(conn, "users", email="hans@example.com", display_name="Hans", role="trainer", locale=None)
            users = dict(conn.execute(sa.text("SELECT email, id FROM users")).all())
            _insert(
                conn,
                "trainer_profiles",
                user_id=users["zhang@example.com"],
                title="MES 架构师",
                bio="张敏主导过多个离散制造 MES 项目。",
                expertise="",
                public=True,
            )
            _insert(
                conn,
                "trainer_profiles",
                user_id=users["hans@example.com"],
                title="Safety engineer",
                bio="Hans has assessed safety functions.",
                expertise="",
                public=True,
            )
        upgrade()

        from training.accounts.models import TrainerProfile
        from training.catalogue.models import Category, Course, Run
        from training.catalogue.search import CatalogueQuery, search_courses
        from training.content_i18n import localized, texts

        courses = {c.code: c for c in db.session.scalars(sa.select(Course))}
        expected = {
            "PLC-101": "en",
            "PLC-201": "en",
            "ROB-110": "zh",
            "VIS-210": "en",
            "LEAN-100": "zh",
            "OPC-101": "zh",
        }
        assert {code: c.original_language for code, c in courses.items()} == expected
        for code, _language, title, summary in COURSES:  # nothing lost: the text is the original
            assert texts(courses[code], "title")[expected[code]] == title
            assert texts(courses[code], "summary")[expected[code]] == summary
            assert courses[code].title_translation == ""
        assert localized(courses["LEAN-100"], "title", "en").is_fallback
        runs = db.session.scalars(sa.select(Run).order_by(Run.starts_on)).all()
        assert [r.original_language for r in runs] == ["zh", "zh"]  # text, else the course's language
        profiles = {p.user.email: p for p in db.session.scalars(sa.select(TrainerProfile))}
        assert profiles["zhang@example.com"].original_language == "zh"
        assert profiles["hans@example.com"].original_language == "en"
        categories = {c.slug: c for c in db.session.scalars(sa.select(Category))}
        assert (categories["plc"].name, categories["plc"].name_zh, categories["plc"].original_language) == (
            "PLC programming",
            "PLC 编程",
            "en",
        )
        assert (categories["lean"].name, categories["lean"].name_zh, categories["lean"].original_language) == (
            "",
            "精益生产",
            "zh",
        )

        # The search index covers the translations written after the migration.
        courses["OPC-101"].title_translation = "OPC UA from the ground up"
        db.session.commit()
        assert [c.course.code for c in search_courses(CatalogueQuery(q="ground")).items] == ["OPC-101"]
        assert [c.course.code for c in search_courses(CatalogueQuery(q="入门")).items] == ["OPC-101"]
        db.session.remove()

        downgrade(revision=BEFORE)
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT name FROM categories WHERE slug = 'lean'")).scalar() == "精益生产"
            assert conn.execute(sa.text("SELECT title FROM courses WHERE code = 'OPC-101'")).scalar() == "OPC UA 入门"
        db.engine.dispose()
