"""The admin pages keep no tables of their own: the audit log they show is
written by every domain through ``training.audit``."""

from __future__ import annotations

from ..audit import AuditEntry, record

__all__ = ["AuditEntry", "record"]
