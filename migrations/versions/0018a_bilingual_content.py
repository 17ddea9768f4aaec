"""bilingual content: courses, categories, runs and trainer profiles in English and Chinese

Existing text becomes the original language of its record, detected from the
text (Chinese characters against Latin letters; a course's teaching language
settles mixed titles). Nothing is rewritten except a category whose only name
is Chinese: it moves to name_zh (the Chinese column) and its English name is left
empty. The catalogue search index is re-created to cover both languages.

Revision ID: 0018a_bilingual_content
Revises: 0013c_run_trainers_user_index
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0018a_bilingual_content"
down_revision = "0013c_run_trainers_user_index"
branch_labels = None
depends_on = None

CHECK = "original_language IN ('en', 'zh')"

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


def detect(text, default=None):
    """The same rule as training.content_i18n.detect_language (copied: a migration
    must not change when the application code does)."""
    if not text:
        return default
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    if not cjk and not latin:
        return default
    return "zh" if cjk * 3 >= latin else "en"


def course_language(title, summary, description, language):
    """The original language of a course: its title when the title is in one
    script, else its teaching language, else the script of all its text."""
    title = title or ""
    cjk, latin = bool(_CJK.search(title)), bool(_LATIN.search(title))
    if cjk != latin:
        return "zh" if cjk else "en"
    if language == "zh":
        return "zh"
    if language in ("en", "de"):
        return "en"
    return detect(" ".join(t or "" for t in (title, summary, description)), "en")


# New columns per table: (name, SQL type, SQLAlchemy type); text columns default to "".
COLUMNS = {
    "courses": [
        ("title_translation", "VARCHAR(200)", sa.String(length=200)),
        ("summary_translation", "VARCHAR(500)", sa.String(length=500)),
        ("description_translation", "TEXT", sa.Text()),
        ("outcomes_translation", "TEXT", sa.Text()),
        ("prerequisites_translation", "TEXT", sa.Text()),
        ("audience_translation", "TEXT", sa.Text()),
    ],
    "runs": [("location_translation", "VARCHAR(300)", sa.String(length=300)), ("notes_translation", "TEXT", sa.Text())],
    "categories": [],
    "trainer_profiles": [
        ("title_translation", "VARCHAR(200)", sa.String(length=200)),
        ("bio_translation", "TEXT", sa.Text()),
    ],
}


def _add_columns() -> None:
    # Plain ALTERs, no table copy on SQLite: a copy would drop courses and runs, which
    # other tables reference (refused, or worse: cascaded) with foreign keys on.
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, columns in COLUMNS.items():
        if sqlite:
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN original_language VARCHAR(2) DEFAULT 'en' NOT NULL "
                f"CONSTRAINT ck_{table}_original_language_known CHECK ({CHECK})"
            )
        else:
            op.add_column(
                table, sa.Column("original_language", sa.String(length=2), server_default="en", nullable=False)
            )
            op.create_check_constraint(op.f(f"ck_{table}_original_language_known"), table, CHECK)
        for name, _sql, kind in columns:
            op.add_column(table, sa.Column(name, kind, server_default="", nullable=False))


def _drop_columns() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, columns in COLUMNS.items():
        for name, _sql, _kind in reversed(columns):
            op.drop_column(table, name)
        if sqlite:
            # Added with the column, the constraint belongs to it; once a later migration has rebuilt the
            # table (batch mode), it is a table constraint that SQLite's DROP COLUMN refuses to leave behind.
            with op.batch_alter_table(table, recreate="always") as batch:
                batch.drop_constraint(op.f(f"ck_{table}_original_language_known"), type_="check")
                batch.drop_column("original_language")
        else:
            op.drop_constraint(op.f(f"ck_{table}_original_language_known"), table, type_="check")
            op.drop_column(table, "original_language")


def _without_search_index(change) -> None:
    """SQLite rebuilds a table to change it, which the search view and triggers
    would not survive: take them off first (on PostgreSQL they depend on the
    columns a downgrade drops). Both dialects get the search support
    back as the columns now are (both languages indexed after an upgrade)."""
    from training.catalogue.search import install_search_support, uninstall_search_support

    uninstall_search_support(op.get_bind())
    change()
    install_search_support(op.get_bind())


def mark_original_languages(conn) -> None:
    courses = sa.table(
        "courses",
        sa.column("id", sa.Integer),
        sa.column("title", sa.String),
        sa.column("summary", sa.String),
        sa.column("description", sa.Text),
        sa.column("language", sa.String),
        sa.column("original_language", sa.String),
    )
    runs = sa.table(
        "runs",
        sa.column("id", sa.Integer),
        sa.column("course_id", sa.Integer),
        sa.column("location", sa.String),
        sa.column("notes", sa.Text),
        sa.column("original_language", sa.String),
    )
    categories = sa.table(
        "categories",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("name_zh", sa.String),
        sa.column("original_language", sa.String),
    )
    profiles = sa.table(
        "trainer_profiles",
        sa.column("user_id", sa.Integer),
        sa.column("title", sa.String),
        sa.column("bio", sa.Text),
        sa.column("original_language", sa.String),
    )
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("locale", sa.String))

    def set_zh(table, key, ids):
        ids = list(ids)
        for start in range(0, len(ids), 500):
            conn.execute(table.update().where(key.in_(ids[start : start + 500])).values(original_language="zh"))

    course_lang: dict[int, str] = {}
    for cid, title, summary, description, language in conn.execute(
        sa.select(courses.c.id, courses.c.title, courses.c.summary, courses.c.description, courses.c.language)
    ):
        course_lang[cid] = course_language(title, summary, description, language)
    set_zh(courses, courses.c.id, (cid for cid, lang in course_lang.items() if lang == "zh"))

    run_zh = [
        rid
        for rid, course_id, location, notes in conn.execute(
            sa.select(runs.c.id, runs.c.course_id, runs.c.location, runs.c.notes)
        )
        if detect(f"{location or ''} {notes or ''}", course_lang.get(course_id, "en")) == "zh"
    ]
    set_zh(runs, runs.c.id, run_zh)

    locales = dict(conn.execute(sa.select(users.c.id, users.c.locale)).all())
    profile_zh = [
        uid
        for uid, title, bio in conn.execute(sa.select(profiles.c.user_id, profiles.c.title, profiles.c.bio))
        if detect(f"{title or ''} {bio or ''}", "zh" if (locales.get(uid) or "").startswith("zh") else "en") == "zh"
    ]
    set_zh(profiles, profiles.c.user_id, profile_zh)

    for cat_id, name, name_zh in conn.execute(
        sa.select(categories.c.id, categories.c.name, categories.c.name_zh)
    ).all():
        if (name or "").strip() and detect(name) == "zh" and not (name_zh or "").strip():
            # The only name is Chinese: it belongs in the Chinese column.
            conn.execute(
                categories.update()
                .where(categories.c.id == cat_id)
                .values(name="", name_zh=name, original_language="zh")
            )


def restore_category_names(conn) -> None:
    categories = sa.table(
        "categories",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("name_zh", sa.String),
        sa.column("original_language", sa.String),
    )
    conn.execute(
        categories.update()
        .where(categories.c.name == "", categories.c.name_zh.isnot(None))
        .values(name=categories.c.name_zh)
    )


def upgrade():
    def change():
        _add_columns()
        mark_original_languages(op.get_bind())

    _without_search_index(change)


def downgrade():
    # The translations are dropped; the originals stay where they always were.
    def change():
        restore_category_names(op.get_bind())
        _drop_columns()

    _without_search_index(change)
