"""login sessions that logout ends on the server; failed logins by account and source

Revision ID: 0011s_login_sessions
Revises: 0015_companies
"""

import sqlalchemy as sa
from alembic import op

revision = "0011s_login_sessions"
down_revision = "0015_companies"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_login_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_sessions")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_login_sessions_key_hash")),
    )
    op.create_index(op.f("ix_login_sessions_user_id"), "login_sessions", ["user_id"])
    op.create_index(op.f("ix_login_sessions_created_at"), "login_sessions", ["created_at"])
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_key", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_account_created", "login_failures", ["account_key", "created_at"])
    op.create_index(op.f("ix_login_failures_created_at"), "login_failures", ["created_at"])
    # A plain ALTER (no table copy on SQLite: the catalogue search view and triggers use users).
    op.add_column("users", sa.Column("lock_notified_at", sa.DateTime(timezone=True), nullable=True))
    # Locks of the old scheme (five failures from anywhere) are lifted: the new one is by account and source.
    op.execute("UPDATE users SET locked_until = NULL, failed_logins = 0")


def downgrade():
    op.drop_column("users", "lock_notified_at")
    op.drop_index(op.f("ix_login_failures_created_at"), table_name="login_failures")
    op.drop_index("ix_login_failures_account_created", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_index(op.f("ix_login_sessions_created_at"), table_name="login_sessions")
    op.drop_index(op.f("ix_login_sessions_user_id"), table_name="login_sessions")
    op.drop_table("login_sessions")
