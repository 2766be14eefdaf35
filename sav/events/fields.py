"""A ticket's fields, declared once.

Each field says what it holds, where it is stored, who sees it, whether it is personal
data and who may set it. Everything else derives from this list: the aggregate's
editable state and the `Ticket.Updated` payload it accepts, the request model of
`PUT /tickets/{id}`, the `support_tickets` columns and the rows the fold writes, the
response shapes (the customer's and the public views are filters of the full one) and
the privacy classification (what is sealed in events and snapshots, what an erasure
empties). A field set later, through an update, needs a declaration here and a migration
for its column; one carried by `Ticket.Created` is part of that event's stored schema
and needs a new class version.

The order is the order of the response object (and of the table's columns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, get_origin

from sav.events.rules import Priority, Status
from sav.sla.state import SlaView


class Locale(StrEnum):
    """The languages SAV's mail is written in (sav.mail.templates)."""

    EN = "en"
    FR = "fr"


class Seen(StrEnum):
    PUBLIC = "public"  # anyone who may read the ticket, access-token holders included
    CUSTOMER = "customer"  # the ticket's owner and staff (the ticket API)
    STAFF = "staff"  # agents, admins and analysts only
    NEVER = "never"  # stored for the service's own use, never shown


class SetBy(StrEnum):
    CUSTOMER = "customer"  # the owner (and staff) may change it with PUT /tickets/{id}
    STAFF = "staff"  # agents and admins may change it with PUT /tickets/{id}
    SYSTEM = "system"  # set by the creation and the lifecycle's own events only


class Store(StrEnum):
    """How a field is kept in the read table (`sav.projections.tickets` maps it)."""

    ID = "id"  # an identifier: exact comparison, `length` characters
    STRING = "string"  # a bounded string of `length` characters
    TEXT = "text"  # free text of any length
    JSON = "json"
    TIME = "time"  # naive UTC, microseconds
    INT = "int"
    BIGINT = "bigint"
    BOOL = "bool"


@dataclass(frozen=True, slots=True)
class TicketField:
    name: str
    type: Any  # the value's Python type, None aside
    store: Store
    seen: Seen
    personal: bool = False
    set_by: SetBy = SetBy.SYSTEM
    on_create: bool = False  # carried by `Ticket.Created` (its stored schema)
    required: bool = False  # never null, in the table and in requests
    length: int | None = None  # the column's (ID, STRING)
    index: bool = False
    unique: bool = False
    primary: bool = False
    default: Any = None  # what an insert that leaves it out stores
    limits: dict[str, int] = field(default_factory=dict)  # request validation
    doc: str | None = None
    example: Any = None

    @property
    def settable(self) -> bool:
        return self.set_by != SetBy.SYSTEM

    @property
    def empty(self) -> Any:
        """What the field reads as when its personal data is gone: the JSON containers
        stay containers, the rest is null."""
        container = get_origin(self.type)
        return {} if container is dict else [] if container is list else None

    @property
    def nullable(self) -> bool:
        """Whether a response may hold null: an optional field, or personal text (null
        once its subject is erased)."""
        return not self.required or (self.personal and self.empty is None)

    @property
    def erased(self) -> Any:
        """What an erasure leaves in the read table (NOT NULL text keeps "")."""
        if self.required and self.store in (Store.STRING, Store.TEXT):
            return ""
        return self.empty


F, S = TicketField, Store

TICKET_FIELDS: tuple[TicketField, ...] = (
    F("id", str, S.ID, Seen.PUBLIC, length=36, primary=True, required=True, doc="UUID"),
    F("seq", int, S.BIGINT, Seen.NEVER, required=True, unique=True),
    F("ticket_number", str, S.ID, Seen.PUBLIC, on_create=True, required=True, length=64,
      unique=True, example="TICKET-20261129-001"),
    F("user_id", str, S.ID, Seen.CUSTOMER, on_create=True, length=64, index=True),
    F("assigned_to", str, S.ID, Seen.CUSTOMER, length=64, index=True),
    F("subject", str, S.STRING, Seen.PUBLIC, personal=True, set_by=SetBy.CUSTOMER,
      on_create=True, required=True, length=255, limits={"min_length": 1, "max_length": 255}),
    F("description", str, S.TEXT, Seen.PUBLIC, personal=True, set_by=SetBy.CUSTOMER,
      on_create=True, required=True, limits={"min_length": 1, "max_length": 50_000}),
    F("status", Status, S.STRING, Seen.PUBLIC, required=True, length=32, index=True),
    F("priority", Priority, S.STRING, Seen.PUBLIC, set_by=SetBy.CUSTOMER, on_create=True,
      required=True, length=16, index=True),
    F("category", str, S.STRING, Seen.PUBLIC, set_by=SetBy.STAFF, on_create=True, length=64,
      index=True, limits={"max_length": 64}),
    F("source", str, S.STRING, Seen.PUBLIC, on_create=True, required=True, length=16),
    F("contact_email", str, S.STRING, Seen.PUBLIC, personal=True, on_create=True,
      length=255, index=True),
    F("contact_name", str, S.STRING, Seen.PUBLIC, personal=True, on_create=True, length=255),
    F("first_response_at", datetime, S.TIME, Seen.PUBLIC),
    F("resolved_at", datetime, S.TIME, Seen.PUBLIC),
    F("closed_at", datetime, S.TIME, Seen.PUBLIC),
    F("resolution_notes", str, S.TEXT, Seen.PUBLIC, personal=True),
    F("satisfaction_rating", int, S.INT, Seen.PUBLIC),
    F("satisfaction_comment", str, S.TEXT, Seen.PUBLIC, personal=True),
    F("tags", list[str], S.JSON, Seen.CUSTOMER, set_by=SetBy.STAFF, on_create=True,
      required=True, limits={"max_length": 50}),
    F("metadata", dict[str, Any], S.JSON, Seen.CUSTOMER, personal=True, set_by=SetBy.STAFF,
      on_create=True, required=True),
    F("access_token_hash", str, S.STRING, Seen.NEVER, on_create=True, length=64),
    F("escalated_at", datetime, S.TIME, Seen.CUSTOMER),
    F("survey_requested_at", datetime, S.TIME, Seen.NEVER),
    F("is_deleted", bool, S.BOOL, Seen.NEVER, required=True, default=False),
    F("created_at", datetime, S.TIME, Seen.PUBLIC, required=True),
    F("updated_at", datetime, S.TIME, Seen.PUBLIC, required=True),
    F("deleted_at", datetime, S.TIME, Seen.NEVER),
    F("version", int, S.INT, Seen.CUSTOMER, required=True,
      doc="the ticket's version, also its ETag"),
    F("internal_notes", str, S.TEXT, Seen.STAFF, personal=True, set_by=SetBy.STAFF,
      limits={"max_length": 50_000}, doc="agents, admins, analysts only"),
    # The subject's personal data was erased (issue 12): those fields read as empty,
    # in every view (the public one too), and the ticket is read-only (issue 19).
    F("erased", bool, S.BOOL, Seen.PUBLIC, required=True, default=False),
    # Service levels (issue 23): the policy, due times, breaches and pause (staff only),
    # kept from the ticket's SLA events (sav.sla.state); the state behind it, the next
    # due time (what the scheduler's `sla` job looks up) and whether one broke.
    F("sla", SlaView, S.JSON, Seen.STAFF,
      doc="service levels (agents, admins, analysts): policy, first_response_due_at, "
          "next_response_due_at, resolution_due_at, breaches, paused; null without a policy"),
    F("sla_state", dict[str, Any], S.JSON, Seen.NEVER),
    F("sla_next_due_at", datetime, S.TIME, Seen.NEVER, index=True),
    F("sla_breached", bool, S.BOOL, Seen.NEVER, required=True, default=False, index=True),
    # The e-mail channel (issue 24): the language of the ticket's mail, from the first
    # mail's Content-Language or the creating request's Accept-Language; staff change it.
    F("locale", Locale, S.STRING, Seen.PUBLIC, set_by=SetBy.STAFF, required=True, length=8,
      default=Locale.EN.value, doc="the language of the ticket's mail: en (default) or fr"),
    # Agent productivity (issue 26): the ticket this one was merged into, and its number
    # (what the public lookup of a merged ticket shows).
    F("merged_into", str, S.ID, Seen.PUBLIC, length=36,
      doc="the ticket this one was merged into (UUID); null unless merged"),
    F("merged_into_number", str, S.ID, Seen.PUBLIC, length=64,
      doc="the number of the ticket this one was merged into"),
)
del F, S

FIELDS = {f.name: f for f in TICKET_FIELDS}
# Set through `PUT /tickets/{id}`: the `Ticket.Updated` payload's keys.
SETTABLE = tuple(f for f in TICKET_FIELDS if f.settable)
CUSTOMER_SETTABLE = frozenset(f.name for f in SETTABLE if f.set_by == SetBy.CUSTOMER)
# Settable fields that `null` cannot clear.
REQUIRED_SETTABLE = tuple(f.name for f in SETTABLE if f.required)
# Settable fields `Ticket.Created` does not carry: the aggregate starts them empty.
LATER = tuple(f for f in SETTABLE if not f.on_create)
PERSONAL = tuple(f for f in TICKET_FIELDS if f.personal)


def seen_by(side: Seen) -> tuple[TicketField, ...]:
    """The fields shown to `side` (PUBLIC, CUSTOMER or STAFF), in response order."""
    ladder = {Seen.PUBLIC: (Seen.PUBLIC,), Seen.CUSTOMER: (Seen.PUBLIC, Seen.CUSTOMER),
              Seen.STAFF: (Seen.PUBLIC, Seen.CUSTOMER, Seen.STAFF)}[side]
    return tuple(f for f in TICKET_FIELDS if f.seen in ladder)
