"""report summaries: the glossary's facts per run and per day, kept by a refresh job; feedback counts per run

Revision ID: 0019r_report_summaries
Revises: 0018q_grant_evidence_files
"""

import sqlalchemy as sa
from alembic import op

revision = "0019r_report_summaries"
down_revision = "0018q_grant_evidence_files"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "report_run_summaries",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("company_id", sa.Integer(), primary_key=True),
        sa.Column("meetings", sa.Integer(), nullable=False),
        sa.Column("meetings_ended", sa.Integer(), nullable=False),
        sa.Column("open_registers", sa.Integer(), nullable=False),
        sa.Column("minutes_held", sa.Float(), nullable=False),
        sa.Column("confirmed", sa.Integer(), nullable=False),
        sa.Column("confirmed_at_start", sa.Integer(), nullable=False),
        sa.Column("attended", sa.Integer(), nullable=False),
        sa.Column("attendees", sa.Integer(), nullable=False),
        sa.Column("certified", sa.Integer(), nullable=False),
        sa.Column("distribution", sa.String(120), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "report_day_summaries",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("company_id", sa.Integer(), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("enrolments", sa.Integer(), nullable=False),
        sa.Column("certificates", sa.Integer(), nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("attended", sa.Integer(), nullable=False),
    )
    op.create_index("ix_report_day_summaries_company_day", "report_day_summaries", ["company_id", "day"])
    op.create_table(
        "report_summary_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.Integer(), nullable=False),
    )
    op.create_table(
        "report_summary_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rebuilt_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "feedback_stats",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("question_id", sa.Integer(), primary_key=True),
        sa.Column("invited", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("counted", sa.Integer(), nullable=False),
    )
    # The counts of the answers given so far (training.reports.feedback.REBUILD_SQL).
    op.execute("""INSERT INTO feedback_stats (run_id, question_id, invited, answers, total, counted)
       SELECT r.id, 0,
              (SELECT count(*) FROM feedback_invitations i WHERE i.run_id = r.id),
              (SELECT count(*) FROM feedback_responses f WHERE f.run_id = r.id),
              (SELECT coalesce(sum(f.recommend), 0) FROM feedback_responses f WHERE f.run_id = r.id),
              (SELECT count(f.recommend) FROM feedback_responses f WHERE f.run_id = r.id)
       FROM runs r
       WHERE EXISTS (SELECT 1 FROM feedback_invitations i WHERE i.run_id = r.id)
          OR EXISTS (SELECT 1 FROM feedback_responses f WHERE f.run_id = r.id)""")
    op.execute("""INSERT INTO feedback_stats (run_id, question_id, invited, answers, total, counted)
       SELECT f.run_id, a.question_id, 0, count(*), sum(a.rating), 0
       FROM feedback_answers a JOIN feedback_responses f ON f.id = a.response_id
       WHERE a.rating IS NOT NULL GROUP BY f.run_id, a.question_id""")


def downgrade():
    op.drop_table("feedback_stats")
    op.drop_table("report_summary_state")
    op.drop_table("report_summary_changes")
    op.drop_index("ix_report_day_summaries_company_day", table_name="report_day_summaries")
    op.drop_table("report_day_summaries")
    op.drop_table("report_run_summaries")
