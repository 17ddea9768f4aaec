"""member companies: companies, coordinators, company of users and enrolments,
reserved seats; users' free-text companies matched into company records

Revision ID: 0015_companies
Revises: 0014_qualifications
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from datetime import UTC

import sqlalchemy as sa
from alembic import op

revision = "0015_companies"
down_revision = "0014_qualifications"
branch_labels = None
depends_on = None


def name_key(text):
    """The same comparison as training.companies.models.name_key (copied: a
    migration must not change when the application code does)."""
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


def upgrade():
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=True),
        sa.Column("credit_code", sa.String(length=32), nullable=True),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("contact_phone", sa.String(length=50), nullable=False),
        sa.Column("reviewed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("tier IN ('member', 'associate', 'founding')", name=op.f("ck_companies_tier_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
        sa.UniqueConstraint("code", name=op.f("uq_companies_code")),
        sa.UniqueConstraint("credit_code", name=op.f("uq_companies_credit_code")),
    )
    op.create_table(
        "company_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'linked', 'revoked')", name=op.f("ck_company_invitations_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_company_invitations_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_id"],
            ["users.id"],
            name=op.f("fk_company_invitations_invited_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_company_invitations_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_company_invitations")),
        sa.UniqueConstraint("company_id", "email", name=op.f("uq_company_invitations_company_id_email")),
    )
    op.create_index(op.f("ix_company_invitations_company_id"), "company_invitations", ["company_id"])
    op.create_index("ix_company_invitations_email_status", "company_invitations", ["email", "status"])
    op.create_table(
        "company_report_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_company_report_mails_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_company_report_mails_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_company_report_mails")),
        sa.UniqueConstraint(
            "company_id", "user_id", "month", name=op.f("uq_company_report_mails_company_id_user_id_month")
        ),
    )
    op.create_table(
        "seat_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("overflow", sa.Boolean(), nullable=False),
        sa.Column("release_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_seats", sa.Integer(), nullable=False),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("seats >= 0", name=op.f("ck_seat_allocations_seats_nonnegative")),
        sa.CheckConstraint("released_seats >= 0", name=op.f("ck_seat_allocations_released_nonnegative")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_seat_allocations_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_seat_allocations_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seat_allocations")),
        sa.UniqueConstraint("run_id", "company_id", name=op.f("uq_seat_allocations_run_id_company_id")),
    )
    op.create_index(op.f("ix_seat_allocations_company_id"), "seat_allocations", ["company_id"])
    op.create_index(op.f("ix_seat_allocations_run_id"), "seat_allocations", ["run_id"])
    _without_search_index(_add_company_columns)
    match_free_text(op.get_bind())


def _without_search_index(change) -> None:
    """SQLite rebuilds a table to change it, which its search view and
    triggers on users would not survive: take them off and put them back."""
    from training.catalogue.search import install_search_support, uninstall_search_support

    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        uninstall_search_support(op.get_bind())
    change()
    if sqlite:
        install_search_support(op.get_bind())


def _add_company_columns() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("company_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_users_company_id"), ["company_id"])
        batch.create_foreign_key(
            batch.f("fk_users_company_id_companies"), "companies", ["company_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("enrolments") as batch:
        batch.add_column(sa.Column("company_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_enrolments_company_id"), ["company_id"])
        batch.create_foreign_key(
            batch.f("fk_enrolments_company_id_companies"), "companies", ["company_id"], ["id"], ondelete="SET NULL"
        )


def _code_for(name: str, taken: set[str]) -> str:
    """A company code from a name: its ASCII letters and digits, else M + a number."""
    stem = re.sub(r"[^A-Z0-9]+", "-", unicodedata.normalize("NFKC", name).upper()).strip("-")[:24] or "M"
    code, n = stem, 1
    while code in taken:
        n += 1
        code = f"{stem}-{n}"
    taken.add(code)
    return code


def match_free_text(conn) -> None:
    """Users' and enrolments' free-text company, matched into company records.

    Spellings that are equal after NFKC and case folding (``BOSCH``, ``Bosch``,
    ``ＢＯＳＣＨ``) are one company; its name is the most used spelling. An
    existing company whose code, name or Chinese name has that key is used;
    otherwise a company is created and marked unreviewed, and the admin page
    "Companies to review" lists it (with every spelling) to confirm, rename or
    merge into another. Blank values are left alone."""
    from datetime import datetime

    users = sa.table(
        "users", sa.column("id", sa.Integer), sa.column("company", sa.String), sa.column("company_id", sa.Integer)
    )
    enrolments = sa.table(
        "enrolments",
        sa.column("id", sa.Integer),
        sa.column("user_id", sa.Integer),
        sa.column("company", sa.String),
        sa.column("company_id", sa.Integer),
    )
    companies = sa.table(
        "companies",
        sa.column("id", sa.Integer),
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("name_zh", sa.String),
        sa.column("address", sa.Text),
        sa.column("tier", sa.String),
        sa.column("contact_name", sa.String),
        sa.column("contact_email", sa.String),
        sa.column("contact_phone", sa.String),
        sa.column("reviewed", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    spellings: dict[str, Counter] = defaultdict(Counter)
    user_rows = conn.execute(sa.select(users.c.id, users.c.company).where(users.c.company.isnot(None))).all()
    enrolment_rows = conn.execute(
        sa.select(enrolments.c.id, enrolments.c.company).where(enrolments.c.company.isnot(None))
    ).all()
    for _id, text in user_rows:
        if name_key(text):
            spellings[name_key(text)][text.strip()] += 1
    for _id, text in enrolment_rows:
        if name_key(text):
            spellings[name_key(text)][text.strip()] += 0  # a spelling, but people count once
    if not spellings:
        return
    known: dict[str, int] = {}
    taken: set[str] = set()
    for cid, code, name, name_zh in conn.execute(
        sa.select(companies.c.id, companies.c.code, companies.c.name, companies.c.name_zh)
    ).all():
        taken.add(code)
        for value in (code, name, name_zh):
            if value:
                known.setdefault(name_key(value), cid)
    now = datetime.now(UTC)
    if conn.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    ids: dict[str, int] = {}
    for key in sorted(spellings):
        if key in known:
            ids[key] = known[key]
            continue
        name = sorted(spellings[key].items(), key=lambda kv: (-kv[1], kv[0]))[0][0][:200]
        conn.execute(
            companies.insert().values(
                code=_code_for(name, taken),
                name=name,
                name_zh=None,
                address="",
                tier="member",
                contact_name="",
                contact_email="",
                contact_phone="",
                reviewed=False,
                created_at=now,
            )
        )
        ids[key] = conn.execute(sa.select(sa.func.max(companies.c.id))).scalar()
    for uid, text in user_rows:
        if name_key(text) in ids:
            conn.execute(users.update().where(users.c.id == uid).values(company_id=ids[name_key(text)]))
    for eid, text in enrolment_rows:
        if name_key(text) in ids:
            conn.execute(enrolments.update().where(enrolments.c.id == eid).values(company_id=ids[name_key(text)]))


def downgrade():
    _without_search_index(_drop_company_columns)
    op.drop_index(op.f("ix_seat_allocations_run_id"), table_name="seat_allocations")
    op.drop_index(op.f("ix_seat_allocations_company_id"), table_name="seat_allocations")
    op.drop_table("seat_allocations")
    op.drop_table("company_report_mails")
    op.drop_index("ix_company_invitations_email_status", table_name="company_invitations")
    op.drop_index(op.f("ix_company_invitations_company_id"), table_name="company_invitations")
    op.drop_table("company_invitations")
    op.drop_table("companies")


def _drop_company_columns() -> None:
    with op.batch_alter_table("enrolments") as batch:
        batch.drop_constraint(batch.f("fk_enrolments_company_id_companies"), type_="foreignkey")
        batch.drop_index(batch.f("ix_enrolments_company_id"))
        batch.drop_column("company_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(batch.f("fk_users_company_id_companies"), type_="foreignkey")
        batch.drop_index(batch.f("ix_users_company_id"))
        batch.drop_column("company_id")
