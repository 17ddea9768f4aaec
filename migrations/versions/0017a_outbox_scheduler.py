"""Transactional outbox, job leases, scheduler leadership and task state, page cache version.

Revision ID: 0017a_outbox_scheduler
Revises: 0010o_seat_offers
"""

import sqlalchemy as sa
from alembic import op

revision = "0017a_outbox_scheduler"
down_revision = "0010o_seat_offers"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('mail', 'job')", name=op.f("ck_outbox_kind")),
        sa.CheckConstraint("state IN ('pending', 'done', 'failed')", name=op.f("ck_outbox_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_outbox_key")),
    )
    op.create_index("ix_outbox_due", "outbox", ["state", "next_attempt_at"], unique=False)
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "scheduler_tasks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_job_id", sa.String(length=36), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_tasks")),
    )
    op.create_table(
        "cache_versions",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cache_versions")),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("stage", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("args_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_jobs_lease_until", ["lease_until"], unique=False)
        batch.create_check_constraint("state", "state IN ('queued', 'running', 'finished', 'failed')")
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("attempts", server_default=None)


def downgrade():
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("state", type_="check")
        batch.drop_index("ix_jobs_lease_until")
        batch.drop_column("started_at")
        batch.drop_column("lease_until")
        batch.drop_column("attempts")
        batch.drop_column("args_json")
        batch.drop_column("stage")
    op.drop_table("cache_versions")
    op.drop_table("scheduler_tasks")
    op.drop_table("leases")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
