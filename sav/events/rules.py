"""The domain's vocabulary and the rules every layer shares, defined once.

The aggregate enforces these rules; the projector, the publisher's wire format, the
event log, the CLI and the request models import them instead of restating them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Source(StrEnum):
    WEB = "web"
    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    ADMIN = "admin"
    # Reads everything an admin reads (internal notes included); changes nothing.
    ANALYST = "analyst"


class Side(StrEnum):
    """Conversations have two sides: the customer's and the staff's."""

    CUSTOMER = "customer"
    STAFF = "staff"


STAFF_ROLES = frozenset({Role.AGENT, Role.ADMIN})

# The lifecycle table (docs/contract.md): command -> statuses it is allowed from.
ALLOWED_FROM: dict[str, tuple[Status, ...]] = {
    "assign": (Status.OPEN, Status.ASSIGNED, Status.IN_PROGRESS),
    "start": (Status.OPEN, Status.ASSIGNED, Status.WAITING),
    "wait": (Status.ASSIGNED, Status.IN_PROGRESS),
    "resolve": (Status.OPEN, Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING),
    "close": (Status.OPEN, Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING,
              Status.RESOLVED),
    "reopen": (Status.RESOLVED,),
    # Taking a ticket back from its agent (issue 19) while work on it is not done: it
    # goes back to `open`. An open ticket has nobody; resolved and closed ones keep who
    # handled them (reopen first).
    "unassign": (Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING),
}

# "Agents see tickets assigned to them plus all unassigned open ones": unassigned
# tickets that still need work (not resolved or closed).
DONE = (Status.RESOLVED, Status.CLOSED)


def side_of(role: str) -> Side:
    return Side.STAFF if role in STAFF_ROLES else Side.CUSTOMER


def status_after_assign(status: str) -> Status:
    """Assigning an open ticket makes it `assigned`; later statuses are kept."""
    return Status.ASSIGNED if status == Status.OPEN else Status(status)


def status_after_reopen(assigned_to: str | None) -> Status:
    return Status.IN_PROGRESS if assigned_to else Status.OPEN


def is_first_response(author_role: str, is_internal: bool) -> bool:
    """Only a public staff message can be a ticket's first response."""
    return side_of(author_role) == Side.STAFF and not is_internal


SYSTEM_ROLE = "system"


@dataclass(frozen=True, slots=True)
class Who:
    """Who did something, as events record it: `{"id", "role"}` (`role` "system" for
    automations and platform events; `id` None for a public token holder)."""

    id: str | None
    role: str | None

    @property
    def label(self) -> str:
        """The `by` string events carried before they carried an actor."""
        return self.id or f"{self.role}:anonymous"

    def ref(self) -> dict[str, str | None]:
        return {"id": self.id, "role": self.role}


SYSTEM = Who("system", SYSTEM_ROLE)


def as_who(by: Who | str | None) -> Who:
    """Aggregate methods take a `Who`; a bare id (tests, old call sites) has no role."""
    if isinstance(by, Who):
        return by
    return SYSTEM if by == SYSTEM.id else Who(by, None)
