"""seats offered after the enrolment deadline: offer states, offer times, known statuses

Revision ID: 0010o_seat_offers
Revises: 0016a_reports
"""

import sqlalchemy as sa
from alembic import op

revision = "0010o_seat_offers"
down_revision = "0016a_reports"
branch_labels = None
depends_on = None

STATUSES = ("confirmed", "waitlisted", "pending", "rejected", "cancelled", "offered", "offer_declined", "offer_expired")
OLD = ("confirmed", "waitlisted", "pending", "rejected", "cancelled")


def _in(values):
    return ", ".join(f"'{v}'" for v in values)


def upgrade():
    with op.batch_alter_table("enrolments") as batch:
        batch.add_column(sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("offer_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_enrolments_offer_expires_at", ["offer_expires_at"], unique=False)
        batch.create_check_constraint(batch.f("ck_enrolments_status_known"), f"status IN ({_in(STATUSES)})")
        batch.create_check_constraint(
            batch.f("ck_enrolments_offer_has_expiry"), "status <> 'offered' OR offer_expires_at IS NOT NULL"
        )


def downgrade():
    # An open offer goes back to the waitlist; answered offers become cancellations.
    op.execute("UPDATE enrolments SET status = 'waitlisted' WHERE status = 'offered'")
    op.execute(f"UPDATE enrolments SET status = 'cancelled' WHERE status NOT IN ({_in(OLD)})")
    with op.batch_alter_table("enrolments") as batch:
        batch.drop_constraint(batch.f("ck_enrolments_offer_has_expiry"), type_="check")
        batch.drop_constraint(batch.f("ck_enrolments_status_known"), type_="check")
        batch.drop_index("ix_enrolments_offer_expires_at")
        batch.drop_column("offer_expires_at")
        batch.drop_column("offered_at")
