"""Issue 18: certificates issued before the course title was bilingual keep their
title as the original, its language detected from the text, with no translation;
the columns go again on downgrade. SQLite, and PostgreSQL with TEST_DATABASE_URL."""

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from tests.test_migration_bilingual import _insert
from tests.test_migrations import empty_database  # noqa: F401  (fixture)
from training import create_app
from training.extensions import db

TITLES = {
    "AAAA": "Structured Text for machine builders 结构化文本进阶",  # the old demo's mixed titles: mostly Latin
    "BBBB": "工业机器人操作与编程",
    "CCCC": "OPC UA 入门",
    "DDDD": "PLC programming fundamentals with IEC 61131-3",
}


def test_issued_titles_become_the_original_language(empty_database):  # noqa: F811 - the fixture imported above, taken by name
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        upgrade(revision="0018a_bilingual_content")
        with db.engine.begin() as conn:
            _insert(conn, "users", email="a@example.com", display_name="A", role="trainee")
            user_id = conn.execute(sa.text("SELECT id FROM users")).scalar()
            _insert(conn, "courses", code="C1", title="C", language="en")
            course_id = conn.execute(sa.text("SELECT id FROM courses")).scalar()
            _insert(conn, "runs", course_id=course_id, timezone="Asia/Shanghai", status="open", mode="in_person")
            run_id = conn.execute(sa.text("SELECT id FROM runs")).scalar()
            _insert(conn, "enrolments", run_id=run_id, user_id=user_id, status="confirmed", source="self")
            enrolment_id = conn.execute(sa.text("SELECT id FROM enrolments")).scalar()
            for code, title in TITLES.items():
                _insert(
                    conn,
                    "certificates",
                    code=code,
                    enrolment_id=enrolment_id,
                    course_title=title,
                    holder_name="A",
                    course_code="C1",
                    issuer_name="Org",
                )
        upgrade(revision="0018b_certificate_titles")
        with db.engine.connect() as conn:
            rows = {
                code: (title, lang, other)
                for code, title, lang, other in conn.execute(
                    sa.text(
                        "SELECT code, course_title, course_title_language, course_title_translation FROM certificates"
                    )
                )
            }
        assert rows == {
            "AAAA": (TITLES["AAAA"], "en", ""),
            "BBBB": (TITLES["BBBB"], "zh", ""),
            "CCCC": (TITLES["CCCC"], "zh", ""),
            "DDDD": (TITLES["DDDD"], "en", ""),
        }
        downgrade(revision="0018a_bilingual_content")
        with db.engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("certificates")}
            assert "course_title_translation" not in columns
            assert conn.execute(sa.text("SELECT count(*) FROM certificates")).scalar() == 4
