"""a qualification grant's attached evidence file (its SHA-256 in the document store)

Revision ID: 0018q_grant_evidence_files
Revises: 0018b_certificate_titles
"""

import sqlalchemy as sa
from alembic import op

revision = "0018q_grant_evidence_files"
down_revision = "0018b_certificate_titles"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("qualification_grants") as batch:
        batch.add_column(sa.Column("evidence_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("evidence_filename", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("evidence_mimetype", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("evidence_size", sa.Integer(), nullable=True))
        batch.create_check_constraint(
            op.f("ck_qualification_grants_evidence_file_type"),
            "evidence_sha256 IS NULL OR evidence_mimetype IN "
            "('application/pdf', 'image/jpeg', 'image/png', 'image/webp')",
        )


def downgrade():
    with op.batch_alter_table("qualification_grants") as batch:
        batch.drop_constraint(op.f("ck_qualification_grants_evidence_file_type"), type_="check")
        batch.drop_column("evidence_size")
        batch.drop_column("evidence_mimetype")
        batch.drop_column("evidence_filename")
        batch.drop_column("evidence_sha256")
