"""Domain errors. `sav/api/errors.py` maps each one to an HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every business-rule failure."""

    code = "domain_error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFoundError(DomainError):
    code = "not_found"


class PermissionDeniedError(DomainError):
    code = "forbidden"


class InvalidTransitionError(DomainError):
    code = "invalid_transition"


class TicketClosedError(InvalidTransitionError):
    code = "ticket_closed"


class TicketMergedError(TicketClosedError):
    """A write to a ticket merged into another (issue 26): its conversation goes on
    there (409; `details.merged_into` says where)."""

    code = "ticket_merged"


class TicketErasedError(InvalidTransitionError):
    """A write to a ticket whose subject was erased: it is read-only (409)."""

    code = "ticket_erased"


class ConflictError(DomainError):
    code = "conflict"


class PreconditionFailedError(DomainError):
    code = "precondition_failed"


class RuleViolationError(DomainError):
    """Input that is well-formed but breaks a business rule (422)."""

    code = "validation_failed"
