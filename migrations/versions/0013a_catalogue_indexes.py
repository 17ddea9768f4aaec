"""catalogue indexes: title order and courses that have a prerequisite

Revision ID: 0013a_catalogue_indexes
Revises: 0010a_registers
"""

import sqlalchemy as sa
from alembic import op

revision = "0013a_catalogue_indexes"
down_revision = "0010a_registers"
branch_labels = None
depends_on = None

WHERE = "prerequisite_course_id IS NOT NULL"


def upgrade():
    op.create_index("ix_courses_listing_title", "courses", ["published", "archived", "title"])
    op.create_index(
        "ix_courses_prerequisite_set",
        "courses",
        ["prerequisite_course_id"],
        sqlite_where=sa.text(WHERE),
        postgresql_where=sa.text(WHERE),
    )


def downgrade():
    op.drop_index("ix_courses_prerequisite_set", table_name="courses")
    op.drop_index("ix_courses_listing_title", table_name="courses")
