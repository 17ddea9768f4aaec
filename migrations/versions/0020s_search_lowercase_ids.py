"""catalogue search: faster matching (a covering index; on PostgreSQL lower-cased columns)

``ix_courses_id_listing`` (id, published, archived, title) lets a search join its
matches to the courses' visibility and title from the index alone.

Re-installs the search support: on PostgreSQL the index keeps its columns
lower-cased (the rank no longer lowers every column of every match) and gains
``course_search_ids``, which finds the courses containing every term through the
trigram index. On SQLite nothing changes; the install is idempotent.

Revision ID: 0020s_search_lowercase_ids
Revises: 0019_state_checks
"""

from alembic import op

revision = "0020s_search_lowercase_ids"
down_revision = "0019_state_checks"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_courses_id_listing", "courses", ["id", "published", "archived", "title"])
    from training.catalogue.search import install_search_support

    # Replaces the refresh function and rebuilds the index from the courses.
    install_search_support(op.get_bind())


def downgrade():
    op.drop_index("ix_courses_id_listing", table_name="courses")
    # Lower-cased columns and the extra function are harmless to older code
    # (it lowers both sides itself and never calls the function).
    pass
