"""One migration history: a single head, upgrade from empty, and models that
match the schema it builds, on SQLite and (with TEST_DATABASE_URL) PostgreSQL."""

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from tests.conftest import PG_URL, _pg_admin_url
from training import create_app
from training.extensions import db


@pytest.fixture
def empty_database(tmp_path):
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    base = _pg_admin_url(PG_URL)
    name = f"migrate_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _include_object(obj, name, type_, reflected, compare_to):
    # The same rule as migrations/env.py: the search index is not in the models.
    return not (reflected and compare_to is None and name and name.startswith("course_search"))


def test_single_head():
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_upgrade_from_empty_matches_models_and_downgrades(empty_database):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            opts = {"compare_type": True, "include_object": _include_object}
            diff = compare_metadata(MigrationContext.configure(conn, opts=opts), db.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        assert "courses" in inspect(db.engine).get_table_names()
        # The search index the migration installs follows new courses.
        from training.catalogue.models import Course
        from training.catalogue.search import CatalogueQuery, search_courses

        db.session.add(Course(code="ROB-110", title="工业机器人操作与编程", hours=24, summary="", description=""))
        db.session.commit()
        assert search_courses(CatalogueQuery(q="机器人")).total == 1
        db.session.remove()
        downgrade(revision="base")
        assert "courses" not in inspect(db.engine).get_table_names()
        db.engine.dispose()


def test_state_checks_keep_existing_rows_and_refuse_unknown_states(empty_database):
    """The CHECK constraints on state columns go onto a database with data (the demo's): on SQLite the
    tables are rebuilt, which must neither delete the rows that refer to them nor lose their other
    constraints or the search index; afterwards an unknown state is refused, and a downgrade keeps the rows."""
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database, "PUBLIC_BASE_URL": "http://127.0.0.1:5000"}
    )
    tables = ["users", "courses", "runs", "run_trainers", "enrolments", "meetings", "attendance", "certificates"]

    def counts():
        with db.engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables}

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        before_checks = ScriptDirectory.from_config(config).get_revision("0019_state_checks").down_revision
        upgrade(revision=before_checks)
        from training.demo import load_demo

        load_demo()
        db.session.remove()
        rows = counts()
        assert rows["enrolments"] and rows["meetings"] and rows["attendance"]
        upgrade()
        assert counts() == rows
        from sqlalchemy.exc import IntegrityError

        for statement in (
            "UPDATE runs SET status = 'paused'",
            "UPDATE runs SET capacity = -1",
            "UPDATE users SET role = 'owner'",
            "UPDATE courses SET level = 'expert'",
        ):
            with pytest.raises(IntegrityError), db.engine.begin() as conn:
                conn.execute(text(statement))
        from training.catalogue.search import CatalogueQuery, search_courses

        assert search_courses(CatalogueQuery(q="robot")).total > 0
        db.session.remove()
        downgrade(revision=before_checks)
        assert counts() == rows
        db.engine.dispose()
