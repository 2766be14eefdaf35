"""Commands for the platform's events (RabbitMQ): order and product issues, new users.

A message may be the bare payload or our own envelope `{"event", "timestamp", "data"}`.
Tickets opened from a message get an id derived from the message's identity, so a
redelivered message collides with the ticket it already opened instead of opening a
second one. Linking a registered user is idempotent by nature (only unlinked tickets
whose contact email matches are linked).
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson
from eventsourcing.persistence import IntegrityError
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, model_validator

from sav.commands.actor import Actor
from sav.commands.app import Outcome, SavApplication
from sav.commands.tickets import CreateTicket, create_ticket
from sav.events.errors import NotFoundError
from sav.events.rules import Priority, Role, Source
from sav.events.ticket import Ticket

DELIVERY_ISSUES = {"not_received", "late_delivery", "lost", "damaged_in_transit", "delivery"}


class InvalidPlatformMessage(ValueError):
    """The message can never be handled (bad JSON, wrong schema, unknown event)."""


class PlatformMessage(BaseModel):
    # Producers may add fields; we ignore what we don't use.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)


class IssueReport(PlatformMessage):
    user_id: str | None = Field(default=None, max_length=64)
    email: EmailStr | None = None
    customer_name: str | None = Field(default=None, max_length=255)
    issue_type: str = Field(default="other", max_length=64)
    subject: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=50_000)
    priority: Priority = Priority.NORMAL

    @model_validator(mode="after")
    def _someone_to_answer(self) -> IssueReport:
        if not self.user_id and not self.email:
            raise ValueError("user_id or email is required")
        return self


class OrderIssue(IssueReport):
    """`order.issue`: a customer reported a problem with an order."""

    order_id: str = Field(min_length=1, max_length=64)

    @property
    def category(self) -> Literal["delivery", "order"]:
        return "delivery" if self.issue_type in DELIVERY_ISSUES else "order"


class ProductIssue(IssueReport):
    """`product.issue_reported`: a customer reported a problem with a product."""

    product_id: str = Field(min_length=1, max_length=64)
    order_id: str | None = Field(default=None, max_length=64)
    product_name: str | None = Field(default=None, max_length=255)


class UserRegistered(PlatformMessage):
    """`user.registered`: a user account now exists for this email."""

    user_id: str = Field(min_length=1, max_length=64)
    email: EmailStr
    name: str | None = Field(default=None, max_length=255)


SCHEMAS: dict[str, type[PlatformMessage]] = {
    "order.issue": OrderIssue,
    "product.issue_reported": ProductIssue,
    "user.registered": UserRegistered,
}


def parse_message(routing_key: str, body: bytes) -> PlatformMessage:
    schema = SCHEMAS.get(routing_key)
    if schema is None:
        raise InvalidPlatformMessage(f"no handler for routing key {routing_key!r}")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidPlatformMessage(f"body is not JSON: {error}") from None
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict) and "event" in payload:
        payload = payload["data"]
    try:
        return schema.model_validate(payload)
    except ValidationError as error:
        # Field locations and error types only: the input values are customer data.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['type']}"
            for e in error.errors(include_url=False, include_input=False))
        raise InvalidPlatformMessage(f"invalid {routing_key}: {problems}") from None


def message_key(message_id: str | None, body: bytes) -> str:
    """What identifies a delivery across redeliveries: its message_id, else its body."""
    return f"id:{message_id}" if message_id else f"sha256:{hashlib.sha256(body).hexdigest()}"


def platform_ticket_id(routing_key: str, key: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"sav:platform:{routing_key}:{key}")


def open_issue_ticket(app: SavApplication, routing_key: str, issue: IssueReport,
                      ticket_id: UUID) -> Outcome | None:
    """Open the ticket of an order or product issue; None when this message already did."""
    if _exists(app, ticket_id):
        return None
    category: str
    if isinstance(issue, OrderIssue):
        category, subject = issue.category, f"Order {issue.order_id}: {issue.issue_type}"
        metadata: dict[str, Any] = {"order_id": issue.order_id}
    elif isinstance(issue, ProductIssue):
        name = issue.product_name or issue.product_id
        category, subject = "product", f"Product {name}: {issue.issue_type}"
        metadata = {"product_id": issue.product_id, "order_id": issue.order_id}
    else:
        raise TypeError(type(issue).__name__)
    metadata = {k: v for k, v in metadata.items() if v is not None}
    metadata["issue_type"] = issue.issue_type
    cmd = CreateTicket(
        subject=(issue.subject or subject)[:255],
        description=issue.description or subject,
        priority=issue.priority, category=category, source=Source.WEB,
        tags=[routing_key], metadata=metadata, user_id=issue.user_id,
        contact_email=issue.email, contact_name=issue.customer_name,
    )
    actor = Actor(user_id=f"platform:{routing_key}", role=Role.ADMIN, name="Platform event")
    try:
        return create_ticket(app, actor, cmd, ticket_id=ticket_id,
                             origin={"channel": "rabbitmq", "event": routing_key})
    except IntegrityError:
        return None  # A concurrent redelivery opened it first.


def link_registered_user(app: SavApplication, user: UserRegistered,
                         ticket_ids: list[UUID]) -> list[UUID]:
    """Link `ticket_ids` (anonymous tickets found by contact email) to the new user.

    Each ticket is checked again on its latest state: still unlinked, same email."""
    linked = []
    email = user.email.lower()

    def link(ticket: Ticket) -> bool:
        if ticket.user_id is not None or (ticket.contact_email or "").lower() != email:
            return False
        ticket.link_user(user.user_id, user.email)
        return True

    for ticket_id in ticket_ids:
        try:
            _, changed, _ = app.change_ticket(ticket_id, link)
        except NotFoundError:
            continue
        if changed:
            linked.append(ticket_id)
    return linked


def _exists(app: SavApplication, ticket_id: UUID) -> bool:
    return bool(app.recorder.select_events(ticket_id, limit=1))
