"""The audit log: who did what to which record, and when.

Every domain records its changes here, in the same transaction as the change,
so this lives in the common layer (no domain depends on the admin pages to
write an audit entry; the admin pages read it).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import Model, db
from .transactions import insert_with_commit
from .types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .accounts.models import User


class AuditEntry(Model):
    """Who did what to which record, and when. Written by services in the same
    transaction as the change it describes."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text, default="")

    actor: Mapped[User | None] = relationship("User")


def _values(actor: object, action: str, target: object, detail: str) -> dict[str, object]:
    return {
        "actor_id": getattr(actor, "id", None),
        "action": action,
        "target_type": type(target).__name__ if target is not None else "",
        "target_id": getattr(target, "id", None),
        "detail": detail[:2000],
    }


def record(actor: object, action: str, target: object, detail: str = "") -> AuditEntry:
    """Add an audit entry to the current transaction (the caller commits)."""
    entry = AuditEntry(**_values(actor, action, target, detail))
    db.session.add(entry)
    return entry


def record_now(actor: object, action: str, target: object, detail: str = "") -> None:
    """``record``, written with a Core INSERT in the current transaction instead
    of at the next flush: for a hot path whose target is already written (it has
    its id) and that has nothing else to flush (the unit of work's flush costs
    several times the statement). On PostgreSQL the row goes with the commit, in
    one statement with the transaction's other such rows
    (``transactions.insert_with_commit``); nothing reads it back before then."""
    insert_with_commit(AuditEntry.__table__, [_values(actor, action, target, detail)])
