"""flask data export / import: a round trip gives the same archive, byte for
byte; import refuses a database that holds anything, and a bad archive."""

from __future__ import annotations

import gzip
import json

from sqlalchemy import func, select, text

from training.catalogue.models import Course
from training.certificates.models import Certificate
from training.extensions import db


def _empty_database():
    tables = list(db.metadata.sorted_tables)
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in reversed(tables):
            db.session.execute(table.delete())
    from training.figures.summaries import forget_noted_changes

    forget_noted_changes(db.session)  # emptied: no report summary change to note either
    db.session.commit()


def test_round_trip_is_identical(app, runner, factory, tmp_path):
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    factory.course(code="SELF-REF")  # plus a self-referencing row and binary data below
    from training.catalogue.models import Course as C

    first, second = db.session.scalars(select(C).order_by(C.id.desc()).limit(2)).all()
    second.prerequisite_course_id = first.id  # points at a later row
    db.session.commit()
    certificates = db.session.scalar(select(func.count()).select_from(Certificate))
    courses = db.session.scalar(select(func.count()).select_from(Course))
    assert certificates and courses >= 12

    one = tmp_path / "one.json"
    result = runner.invoke(args=["data", "export", str(one)])
    assert result.exit_code == 0, result.output
    archive = json.loads(one.read_text("utf-8"))
    assert archive["format"] == "smt-training-data"
    names = list(archive["tables"])
    assert names.index("users") < names.index("enrolments") < names.index("certificates")
    users = archive["tables"]["users"]
    created = users["columns"].index("created_at")
    assert users["rows"][0][created].endswith("+00:00")  # ISO, UTC
    assert "欧阳晓燕" in one.read_text("utf-8")  # not escaped: readable by people

    # Refused while the database holds data, and nothing changes.
    refused = runner.invoke(args=["data", "import", str(one)])
    assert refused.exit_code != 0 and "not empty" in refused.output
    assert db.session.scalar(select(func.count()).select_from(Course)) == courses

    _empty_database()
    result = runner.invoke(args=["data", "import", str(one)])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == certificates

    two = tmp_path / "two.json.gz"
    assert runner.invoke(args=["data", "export", str(two)]).exit_code == 0
    assert gzip.decompress(two.read_bytes()) == one.read_bytes()

    # New rows get new ids after a restore (PostgreSQL sequences moved on).
    course = factory.course()
    assert course.id > max(row[0] for row in archive["tables"]["courses"]["rows"])
    # The search index was rebuilt from the restored courses.
    from training.catalogue.search import CatalogueQuery, search_courses

    title = archive["tables"]["courses"]["rows"][0][archive["tables"]["courses"]["columns"].index("title")]
    found = search_courses(CatalogueQuery(q=title.split()[0]), include_unpublished=True)
    assert found.total >= 1


def test_import_into_a_fresh_database(app, runner, factory, tmp_path):
    """Restore into another app's brand-new database (SQLite file), as when moving servers."""
    from tests.conftest import make_test_app

    factory.course(code="PLC-101", title="PLC 编程入门")
    path = tmp_path / "export.json"
    assert runner.invoke(args=["data", "export", str(path)]).exit_code == 0
    if db.engine.dialect.name == "postgresql":
        return  # the round trip above covers PostgreSQL; this one needs a second database
    (tmp_path / "other").mkdir()
    other = make_test_app(tmp_path / "other", None)
    with other.app_context():
        result = other.test_cli_runner().invoke(args=["data", "import", str(path)])
        assert result.exit_code == 0, result.output
        assert db.session.scalar(select(Course.title).where(Course.code == "PLC-101")) == "PLC 编程入门"
        again = tmp_path / "again.json"
        assert other.test_cli_runner().invoke(args=["data", "export", str(again)]).exit_code == 0
        db.session.remove()
    assert again.read_bytes() == path.read_bytes()


def test_import_refuses_a_bad_archive(runner, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    result = runner.invoke(args=["data", "import", str(bad)])
    assert result.exit_code != 0 and "not a JSON archive" in result.output
    bad.write_text(json.dumps({"format": "something else"}))
    assert "not a smt-training-data archive" in runner.invoke(args=["data", "import", str(bad)]).output
    bad.write_text(
        json.dumps(
            {
                "format": "smt-training-data",
                "version": 1,
                "tables": {"users": {"columns": ["id", "no_such_column"], "rows": [[1, 2]]}},
            }
        )
    )
    result = runner.invoke(args=["data", "import", str(bad)])
    assert result.exit_code != 0 and "no column 'no_such_column'" in result.output
    assert db.session.scalar(select(func.count()).select_from(Course)) == 0


def test_damaged_archives_give_one_clear_line_and_change_nothing(app, runner, factory, tmp_path):
    """Each damage is one line (no traceback, no row data) and the database stays empty."""
    factory.course(code="ARC-1")
    good = tmp_path / "good.json"
    assert runner.invoke(args=["data", "export", str(good)]).exit_code == 0
    archive = json.loads(good.read_text("utf-8"))
    _empty_database()

    packed = gzip.compress(good.read_bytes())
    truncated = tmp_path / "truncated.json.gz"
    truncated.write_bytes(packed[: len(packed) // 2])
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\xffnot json at all")
    wrong_type = json.loads(json.dumps(archive))
    courses = wrong_type["tables"]["courses"]
    courses["rows"][0][courses["columns"].index("hours")] = "forty"
    bad_type = tmp_path / "bad-type.json"
    bad_type.write_text(json.dumps(wrong_type), "utf-8")
    orphan = json.loads(json.dumps(archive))
    orphan["tables"]["users"]["rows"] = []  # rows that point at users that are not there
    orphan["tables"]["courses"]["rows"] = [
        [("x" if c == "code" else v) for c, v in zip(orphan["tables"]["courses"]["columns"], row, strict=False)]
        for row in orphan["tables"]["courses"]["rows"]
    ] * 2
    duplicate = tmp_path / "duplicate.json"
    duplicate.write_text(json.dumps(orphan), "utf-8")
    shapeless = tmp_path / "shapeless.json"
    shapeless.write_text(json.dumps({"format": "smt-training-data", "version": 1, "tables": {"courses": [1, 2]}}))

    for path, words in (
        (truncated, "damaged gzip"),
        (garbage, "not a JSON archive"),
        (bad_type, "courses"),
        (duplicate, "courses"),
        (shapeless, "courses"),
    ):
        result = runner.invoke(args=["data", "import", str(path)])
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 1, (path.name, result.output)
        assert len(lines) == 1 and words in lines[0] and "Traceback" not in result.output, (path.name, result.output)
        assert "forty" not in result.output  # no row data in the message
        assert sum(db.session.scalar(select(func.count()).select_from(t)) for t in db.metadata.sorted_tables) == 0
        db.session.rollback()
