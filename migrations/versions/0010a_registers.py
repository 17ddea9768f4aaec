"""registers signed off, meetings cancelled and moved, check-in devices, recorded times of marks

Revision ID: 0010a_registers
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0010a_registers"
down_revision = "0001"
branch_labels = None
depends_on = None

SOURCES = ("roster", "offline", "checkin", "api", "admin")
STATUSES = ("present", "late", "absent", "excused")


def _in(values):
    return ", ".join(f"'{v}'" for v in values)


def upgrade():
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("cancel_reason", sa.Text(), server_default="", nullable=False))
        batch.add_column(sa.Column("sequence", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("finalised_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("finalised_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_meetings_finalised_by_id_users"), "users", ["finalised_by_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_check_constraint(batch.f("ck_meetings_sequence_nonnegative"), "sequence >= 0")
        batch.create_check_constraint(
            batch.f("ck_meetings_finalised_by_when_finalised"), "finalised_by_id IS NULL OR finalised_at IS NOT NULL"
        )

    # Until now the client could name the source of a mark; anything unknown was a roster mark.
    op.execute(f"UPDATE attendance SET source = 'roster' WHERE source NOT IN ({_in(SOURCES)})")
    with op.batch_alter_table("attendance") as batch:
        batch.add_column(sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(batch.f("ck_attendance_source_known"), f"source IN ({_in(SOURCES)})")
        batch.create_check_constraint(batch.f("ck_attendance_status_known"), f"status IN ({_in(STATUSES)})")
    op.execute("UPDATE attendance SET recorded_at = marked_at")
    with op.batch_alter_table("attendance_changes") as batch:
        batch.add_column(sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "checkin_devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("device_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_checkin_devices_meeting_id_meetings"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_checkin_devices_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_devices")),
        sa.UniqueConstraint(
            "meeting_id", "device_hash", "user_id", name=op.f("uq_checkin_devices_meeting_id_device_hash_user_id")
        ),
    )
    op.create_index("ix_checkin_devices_meeting_device", "checkin_devices", ["meeting_id", "device_hash"])
    op.create_table(
        "checkin_ticket_uses",
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_checkin_ticket_uses_meeting_id_meetings"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_checkin_ticket_uses_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_checkin_ticket_uses")),
    )
    op.create_index(op.f("ix_checkin_ticket_uses_meeting_id"), "checkin_ticket_uses", ["meeting_id"])


def downgrade():
    op.drop_index(op.f("ix_checkin_ticket_uses_meeting_id"), table_name="checkin_ticket_uses")
    op.drop_table("checkin_ticket_uses")
    op.drop_index("ix_checkin_devices_meeting_device", table_name="checkin_devices")
    op.drop_table("checkin_devices")
    with op.batch_alter_table("attendance_changes") as batch:
        batch.drop_column("recorded_at")
    with op.batch_alter_table("attendance") as batch:
        batch.drop_constraint(batch.f("ck_attendance_status_known"), type_="check")
        batch.drop_constraint(batch.f("ck_attendance_source_known"), type_="check")
        batch.drop_column("recorded_at")
    with op.batch_alter_table("meetings") as batch:
        batch.drop_constraint(batch.f("ck_meetings_finalised_by_when_finalised"), type_="check")
        batch.drop_constraint(batch.f("ck_meetings_sequence_nonnegative"), type_="check")
        batch.drop_constraint(batch.f("fk_meetings_finalised_by_id_users"), type_="foreignkey")
        batch.drop_column("finalised_by_id")
        batch.drop_column("finalised_at")
        batch.drop_column("sequence")
        batch.drop_column("cancel_reason")
        batch.drop_column("cancelled_at")
