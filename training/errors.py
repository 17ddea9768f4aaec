"""Domain errors: raised by services, turned into a flash by HTML views and
into ``{"error": {...}}`` by the API. Each carries a stable code, an HTTP
status and a message to show the user."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "invalid"
    status = 422

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict[str, Any] | None = None,
        **extra: Any,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = fields or {}
        self.extra = extra


class ValidationFailed(DomainError):
    code = "validation_failed"
    status = 422


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409


class AlreadyEnrolled(Conflict):
    code = "already_enrolled"


class EnrolmentClosed(DomainError):
    code = "enrolment_closed"
    status = 409


class NotEligible(DomainError):
    code = "not_eligible"
    status = 409
