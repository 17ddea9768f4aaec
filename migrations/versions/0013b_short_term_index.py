"""catalogue search: the short-term index (one- and two-character terms)

Revision ID: 0013b_short_term_index
Revises: 0011s_login_sessions
"""

from alembic import op

revision = "0013b_short_term_index"
down_revision = "0011s_login_sessions"
branch_labels = None
depends_on = None


def upgrade():
    # Idempotent: creates course_search_grams (and, on SQLite, the positions table),
    # re-creates the triggers that keep it in step, and fills it from the courses.
    from training.catalogue.search import install_search_support

    install_search_support(op.get_bind())


def downgrade():
    # The index is harmless to older code (its triggers only write to it) and is
    # dropped with the rest of the search support by the initial migration's downgrade.
    pass
