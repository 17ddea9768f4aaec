"""certificates: the SHA-256 of the issued document

Revision ID: 0011a_certificate_documents
Revises: 0013b_short_term_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0011a_certificate_documents"
down_revision = "0013b_short_term_index"
branch_labels = None
depends_on = None


def upgrade():
    # Existing certificates keep NULL: their document is made once, on first need
    # (download, e-mail, check) or with `flask certificates store-documents`.
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("document_sha256", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_certificates_document_sha256"), ["document_sha256"], unique=False)


def downgrade():
    with op.batch_alter_table("certificates") as batch:
        batch.drop_index(batch.f("ix_certificates_document_sha256"))
        batch.drop_column("document_sha256")
