"""catalogue search: the short-term index keeps each gram's rank

``course_search_grams`` gains ``weight`` (what a one- or two-character term scores
for that course), so a short term is ranked from the index alone instead of
testing every matching course's columns with LIKE. The table is derived data:
it is dropped and filled again by the install.

Revision ID: 0020t_short_term_weights
Revises: 0020s_search_lowercase_ids
"""

from alembic import op

revision = "0020t_short_term_weights"
down_revision = "0020s_search_lowercase_ids"
branch_labels = None
depends_on = None


def upgrade():
    from training.catalogue.search import install_search_support

    install_search_support(op.get_bind())


def downgrade():
    # Older code reads only gram and course_id; the extra column does not disturb it.
    pass
