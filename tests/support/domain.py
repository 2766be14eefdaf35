"""The real application on eventsourcing's in-memory store, for unit tests.

Callers, a ticket opener, a way to bring a ticket into any status through the command
handlers, and readers of what a command returned (the one place that knows the shape
of command results).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from sav.commands import tickets
from sav.commands.actor import Actor
from sav.commands.app import SavApplication

CUSTOMER = Actor("cust-1", "customer", "cust1@example.com", "Cus Tomer")
OTHER_CUSTOMER = Actor("cust-2", "customer", "cust2@example.com", "Other Customer")
AGENT = Actor("agent-1", "agent", "agent1@example.com", "Agent One")
OTHER_AGENT = Actor("agent-2", "agent", "agent2@example.com", "Agent Two")
ADMIN = Actor("admin-1", "admin", "admin@example.com", "Admin")
ACTORS = {"customer": CUSTOMER, "other_customer": OTHER_CUSTOMER, "agent": AGENT,
          "other_agent": OTHER_AGENT, "admin": ADMIN}

STATUSES = ("open", "assigned", "in_progress", "waiting_customer", "resolved", "closed")

# Commands of the lifecycle table, as the staff issue them through the handlers.
TRANSITIONS: dict[str, Callable[[SavApplication, Actor, UUID], Any]] = {
    "assign": lambda app, actor, tid: tickets.assign_ticket(
        app, actor, tid, tickets.AssignTicket(agent_id=AGENT.user_id or "")),
    "start": lambda app, actor, tid: tickets.start_ticket(app, actor, tid),
    "wait": lambda app, actor, tid: tickets.wait_on_customer(app, actor, tid),
    "resolve": lambda app, actor, tid: tickets.resolve_ticket(
        app, actor, tid, tickets.ResolveTicket(resolution="Refunded")),
    "close": lambda app, actor, tid: tickets.close_ticket(app, actor, tid),
    "reopen": lambda app, actor, tid: tickets.reopen_ticket(app, actor, tid),
}

# How a fresh ticket reaches each status (assigned to AGENT on the way, except open,
# closed and the unassigned variants below).
PATHS = {
    "open": (),
    "assigned": ("assign",),
    "in_progress": ("assign", "start"),
    "waiting_customer": ("assign", "wait"),
    "resolved": ("assign", "resolve"),
    "closed": ("assign", "close"),
}


def new_app(ticket_prefix: str = "TICKET") -> SavApplication:
    """The application on the in-memory (POPO) event store: no database."""
    return SavApplication(ticket_prefix=ticket_prefix)


def open_ticket(app: SavApplication, actor: Actor = CUSTOMER, **fields: Any) -> UUID:
    values = {"subject": "Order not received", "description": "Parcel never arrived", **fields}
    return tickets.create_ticket(app, actor, tickets.CreateTicket(**values)).ticket_id


def ticket_in(app: SavApplication, status: str, owner: Actor = CUSTOMER) -> UUID:
    """A ticket of `owner` brought to `status` by an admin, through the command handlers."""
    ticket_id = open_ticket(app, owner)
    move(app, ticket_id, *PATHS[status])
    return ticket_id


def move(app: SavApplication, ticket_id: UUID, *commands: str, by: Actor = ADMIN) -> None:
    for command in commands:
        TRANSITIONS[command](app, by, ticket_id)


def status_of(app: SavApplication, ticket_id: UUID) -> str:
    return str(app.get_ticket(ticket_id).status)


def enable_auto_assign(app: SavApplication, pick: Callable[[], str | None]) -> None:
    """Give the application an agent picker, as bootstrap does with AUTO_ASSIGN=true."""
    app.pick_agent = pick


# -- what commands return ---------------------------------------------------------


def result(outcome: Any, name: str) -> Any:
    """A field of a command's typed outcome (`CreatedTicket.ticket_number`, ...)."""
    return getattr(outcome, name)


def ticket_number_of(outcome: Any) -> str:
    return str(result(outcome, "ticket_number"))


def access_token_of(outcome: Any) -> str | None:
    token = result(outcome, "access_token")
    return None if token is None else str(token)


def message_id_of(outcome: Any) -> str:
    return str(result(outcome, "message_id"))


def marked_of(outcome: Any) -> int:
    return int(result(outcome, "marked"))


def attachment_ids_of(outcome: Any) -> list[str]:
    return list(result(outcome, "attachment_ids"))


def file_path_of(outcome: Any) -> str:
    return str(result(outcome, "file_path"))


def events_of(app: SavApplication, stream_id: UUID) -> list[Any]:
    """A stream's stored events, oldest first (their classes and fields are permanent)."""
    return list(app.events.get(stream_id))
