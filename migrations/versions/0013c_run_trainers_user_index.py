"""index for the runs of a trainer (trainer profiles, Teaching)

Revision ID: 0013c_run_trainers_user_index
Revises: 0017a_outbox_scheduler
"""

from alembic import op

revision = "0013c_run_trainers_user_index"
down_revision = "0017a_outbox_scheduler"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_run_trainers_user_id", "run_trainers", ["user_id"])


def downgrade():
    op.drop_index("ix_run_trainers_user_id", table_name="run_trainers")
