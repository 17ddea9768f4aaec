"""certificates keep the course title in both languages (issue 18)

The title issued so far becomes the original-language title of each certificate,
its language detected from the text; the other language is empty for them.

Revision ID: 0018b_certificate_titles
Revises: 0018a_bilingual_content
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0018b_certificate_titles"
down_revision = "0018a_bilingual_content"
branch_labels = None
depends_on = None

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


def _detect(text: str) -> str:
    """The rule of training.content_i18n (copied: a migration must not change with the code)."""
    cjk, latin = len(_CJK.findall(text or "")), len(_LATIN.findall(text or ""))
    return "zh" if cjk and cjk * 3 >= latin else "en"


def upgrade():
    # Plain ALTERs, no table copy on SQLite: copying certificates drops the table, which
    # rows of other tables reference (refused with foreign keys on, on any real database).
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE certificates ADD COLUMN course_title_language VARCHAR(2) DEFAULT 'en' NOT NULL "
            "CONSTRAINT ck_certificates_course_title_language_known "
            "CHECK (course_title_language IN ('en', 'zh'))"
        )
    else:
        op.add_column(
            "certificates", sa.Column("course_title_language", sa.String(length=2), server_default="en", nullable=False)
        )
        op.create_check_constraint(
            op.f("ck_certificates_course_title_language_known"), "certificates", "course_title_language IN ('en', 'zh')"
        )
    op.add_column(
        "certificates", sa.Column("course_title_translation", sa.String(length=200), server_default="", nullable=False)
    )
    bind = op.get_bind()
    certificates = sa.table(
        "certificates",
        sa.column("id", sa.Integer),
        sa.column("course_title", sa.String),
        sa.column("course_title_language", sa.String),
    )
    chinese = [
        row.id
        for row in bind.execute(sa.select(certificates.c.id, certificates.c.course_title))
        if _detect(row.course_title) == "zh"
    ]
    for start in range(0, len(chinese), 500):
        bind.execute(
            certificates.update()
            .where(certificates.c.id.in_(chinese[start : start + 500]))
            .values(course_title_language="zh")
        )


def downgrade():
    op.drop_column("certificates", "course_title_translation")
    if op.get_bind().dialect.name != "sqlite":  # on SQLite the constraint belongs to the column
        op.drop_constraint(op.f("ck_certificates_course_title_language_known"), "certificates", type_="check")
    op.drop_column("certificates", "course_title_language")
