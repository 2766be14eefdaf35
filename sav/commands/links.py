"""Links between tickets (issue 26): both sides in one append.

A link is recorded on each ticket (`Ticket.Linked`, what the other ticket is to it), so
each ticket's own history, time travel and replay show it; the two appends are saved
together, and a concurrent change to either ticket retries the whole command.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from pydantic import BaseModel, ConfigDict

from sav.commands.actor import Actor
from sav.commands.app import MAX_ATTEMPTS, RETRY_JITTER_S, Outcome, SavApplication
from sav.commands.policy import command_handler, require_staff, require_visible
from sav.events.errors import ConflictError, NotFoundError, RuleViolationError
from sav.events.ticket import Ticket


class LinkKind(StrEnum):
    """What the other ticket is to this one, as asked."""

    RELATED = "related"
    DUPLICATE = "duplicate"  # this ticket duplicates the other
    PARENT = "parent"  # the other is this one's parent
    CHILD = "child"


# (this side, the other side) as recorded.
SIDES: dict[LinkKind, tuple[str, str]] = {
    LinkKind.RELATED: ("related", "related"),
    LinkKind.DUPLICATE: ("duplicate_of", "duplicated_by"),
    LinkKind.PARENT: ("parent", "child"),
    LinkKind.CHILD: ("child", "parent"),
}
MERGED_FROM = "merged_from"


class LinkBody(BaseModel):
    """`POST /tickets/{id}/links`."""

    model_config = ConfigDict(extra="forbid")

    ticket_id: UUID
    kind: LinkKind


def change_two(app: SavApplication, first_id: UUID, second_id: UUID,
               change: Callable[[Ticket, Ticket], Any]) -> tuple[Ticket, Ticket, int | None]:
    """Load both tickets, apply `change`, save both in one append; retried on a
    concurrent change to either."""
    for attempt in range(MAX_ATTEMPTS):
        first, second = app.get_ticket(first_id), app.get_ticket(second_id)
        change(first, second)
        try:
            position = app.record(first, second)
        except IntegrityError:
            time.sleep(random.uniform(0, RETRY_JITTER_S * (attempt + 1)))
            continue
        return first, second, position
    raise ConflictError("too many concurrent changes to these tickets, retry")


def link(ticket: Ticket, other: Ticket, mine: str, theirs: str, actor: Actor) -> None:
    if ticket.erased or other.erased:
        raise ConflictError("an erased ticket is read-only")
    existing = getattr(ticket, "links", {})  # set by the first link (Ticket.Linked)
    if str(other.id) in existing:
        raise ConflictError("these tickets are already linked",
                            {"kind": existing[str(other.id)]})
    ref = actor.who.ref()
    ticket.trigger_event(Ticket.Linked, other_id=str(other.id), kind=mine, actor=ref)
    other.trigger_event(Ticket.Linked, other_id=str(ticket.id), kind=theirs, actor=ref)


@command_handler
def link_tickets(app: SavApplication, actor: Actor, ticket_id: UUID, body: LinkBody
                 ) -> Outcome:
    require_staff(actor, "link tickets")
    if body.ticket_id == ticket_id:
        raise RuleViolationError("a ticket cannot be linked to itself", {"field": "ticket_id"})
    mine, theirs = SIDES[body.kind]

    def change(ticket: Ticket, other: Ticket) -> None:
        require_visible(ticket, actor)
        require_visible(other, actor)
        link(ticket, other, mine, theirs, actor)

    ticket, _, position = change_two(app, ticket_id, body.ticket_id, change)
    return Outcome(ticket.id, ticket.version, position)


@command_handler
def unlink_tickets(app: SavApplication, actor: Actor, ticket_id: UUID, other_id: UUID
                   ) -> Outcome:
    require_staff(actor, "unlink tickets")

    def change(ticket: Ticket, other: Ticket) -> None:
        require_visible(ticket, actor)
        require_visible(other, actor)
        if str(other.id) not in getattr(ticket, "links", {}):
            raise NotFoundError("these tickets are not linked")
        ref = actor.who.ref()
        ticket.trigger_event(Ticket.Unlinked, other_id=str(other.id), actor=ref)
        if str(ticket.id) in getattr(other, "links", {}):
            other.trigger_event(Ticket.Unlinked, other_id=str(ticket.id), actor=ref)

    ticket, _, position = change_two(app, ticket_id, other_id, change)
    return Outcome(ticket.id, ticket.version, position)
