"""open registers are reminded once

Revision ID: 0010b_register_reminders
Revises: 0011a_certificate_documents
"""

import sqlalchemy as sa
from alembic import op

revision = "0010b_register_reminders"
down_revision = "0011a_certificate_documents"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("register_reminded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("register_reminded_at")
