"""catalogue: the visible courses in title order, read from one covering index

``ix_courses_title_order`` (published, archived, title, id, category_id, level,
language) replaces ``ix_courses_listing_title`` (published, archived, title), of
which it is an extension: the catalogue's listing summary reads every visible
course's id, category, level and language in title order from the index alone
(no sort, no course row) whenever the catalogue changes.

Revision ID: 0020u_courses_title_order
Revises: 0020t_short_term_weights
"""

from alembic import op

revision = "0020u_courses_title_order"
down_revision = "0020t_short_term_weights"
branch_labels = None
depends_on = None

COLUMNS = ["published", "archived", "title", "id", "category_id", "level", "language"]


def upgrade():
    op.create_index("ix_courses_title_order", "courses", COLUMNS)
    op.drop_index("ix_courses_listing_title", table_name="courses")


def downgrade():
    op.create_index("ix_courses_listing_title", "courses", ["published", "archived", "title"])
    op.drop_index("ix_courses_title_order", table_name="courses")
