"""status columns hold only their enum's values

CHECK constraints on the state columns that had none: a run's status and mode,
a course's level, a user's and an invitation's role, and an attendance change's
old and new status and source. The values are written out as they are at this
revision (a migration must not change when the application code does).

On SQLite a constraint is added by rebuilding the table (batch mode); the
catalogue's search view and triggers, which do not survive a rebuild of courses,
runs or users, are taken off first and installed again after.

Revision ID: 0019_state_checks
Revises: 0019r_report_summaries
"""

from __future__ import annotations

from alembic import op

revision = "0019_state_checks"
down_revision = "0019r_report_summaries"
branch_labels = None
depends_on = None


def _in(column: str, *values: str, nullable: bool = False) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IS NULL OR {column} IN ({listed})" if nullable else f"{column} IN ({listed})"


_ATTENDANCE = ("present", "late", "absent", "excused")
_ROLES = ("trainee", "trainer", "admin", "assessor", "coordinator")

# table -> [(constraint name without the ck_<table>_ prefix, SQL)]
CHECKS: dict[str, list[tuple[str, str]]] = {
    "runs": [
        ("status_known", _in("status", "draft", "open", "closed", "cancelled")),
        ("mode_known", _in("mode", "in_person", "online", "blended")),
    ],
    "courses": [("level_known", _in("level", "beginner", "intermediate", "advanced"))],
    "users": [("role_known", _in("role", *_ROLES))],
    "attendance_changes": [
        ("old_status_known", _in("old_status", *_ATTENDANCE, nullable=True)),
        ("new_status_known", _in("new_status", *_ATTENDANCE)),
        ("source_known", _in("source", "roster", "offline", "checkin", "api", "admin")),
    ],
    "company_invitations": [("role_known", _in("role", *_ROLES))],
}


def _search_support_around(change) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        change()
        return
    from training.catalogue.search import install_search_support, uninstall_search_support

    uninstall_search_support(op.get_bind())
    change()
    install_search_support(op.get_bind())


def upgrade() -> None:
    def change() -> None:
        for table, checks in CHECKS.items():
            with op.batch_alter_table(table) as batch:
                for name, sql in checks:
                    batch.create_check_constraint(op.f(f"ck_{table}_{name}"), sql)

    _search_support_around(change)


def downgrade() -> None:
    def change() -> None:
        for table, checks in reversed(CHECKS.items()):
            with op.batch_alter_table(table) as batch:
                for name, _sql in reversed(checks):
                    batch.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")

    _search_support_around(change)
