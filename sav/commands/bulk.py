"""Bulk actions (issue 26): one action on up to 100 tickets, each ticket its own command.

A bulk request is a list of ordinary commands, not a transaction: each ticket is loaded,
checked (who may see it, what its lifecycle allows) and saved on its own, so one refused
ticket does not stop the others, and each answers with the status its own route would.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sav.commands import macros, tickets
from sav.commands.actor import Actor
from sav.commands.app import Outcome, SavApplication
from sav.commands.policy import command_handler, require_staff, require_visible
from sav.events.rules import Priority
from sav.events.ticket import Ticket

MAX_IDS = 100
Tag = tickets.Tag
TicketId = Annotated[str, Field(min_length=1, max_length=64, pattern=tickets.NOT_BLANK)]


class BulkAction(StrEnum):
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    CLOSE = "close"
    RESOLVE = "resolve"
    SET_PRIORITY = "set_priority"
    ADD_TAGS = "add_tags"
    REMOVE_TAGS = "remove_tags"
    APPLY_MACRO = "apply_macro"


# The parameter each action needs.
NEEDS = {BulkAction.ASSIGN: "agent_id", BulkAction.SET_PRIORITY: "priority",
         BulkAction.ADD_TAGS: "tags", BulkAction.REMOVE_TAGS: "tags",
         BulkAction.APPLY_MACRO: "macro_id"}


def needs_schema(schema: dict[str, Any]) -> None:
    """The document says which parameter each action needs (given, not null), as
    `_parameter_given` checks."""
    schema["allOf"] = [
        {"if": {"properties": {"action": {"const": action.value}}, "required": ["action"]},
         "then": {"required": [needed], "properties": {needed: {"not": {"type": "null"}}}}}
        for action, needed in NEEDS.items()]


class BulkBody(BaseModel):
    """`POST /tickets/bulk`: the tickets, the action and its parameter."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True,
                              json_schema_extra=needs_schema)

    ids: list[TicketId] = Field(
        min_length=1, max_length=MAX_IDS, description=f"ticket ids (at most {MAX_IDS})")
    action: BulkAction
    agent_id: str | None = Field(default=None, min_length=1, max_length=64,
                                 pattern=tickets.NOT_BLANK, description="assign: to whom")
    priority: Priority | None = Field(default=None, description="set_priority")
    tags: list[Tag] | None = Field(default=None, min_length=1, max_length=50,
                                   description="add_tags, remove_tags")
    macro_id: UUID | None = Field(default=None, description="apply_macro")
    reason: str | None = Field(default=None, max_length=2000, description="close")
    resolution: str | None = Field(default=None, max_length=50_000, description="resolve")

    @model_validator(mode="after")
    def _parameter_given(self) -> BulkBody:
        needed = NEEDS.get(self.action)
        if needed is not None and getattr(self, needed) is None:
            raise ValueError(f"{self.action} needs {needed}")
        return self


@command_handler
def retag_ticket(app: SavApplication, actor: Actor, ticket_id: UUID, add: list[str],
                 remove: list[str]) -> Outcome:
    """Add and remove tags on the ticket as it is when loaded (no lost update)."""

    def change(ticket: Ticket) -> None:
        require_visible(ticket, actor)
        require_staff(actor, "tag tickets")
        kept = [tag for tag in ticket.tags if tag not in remove]
        ticket.update({"tags": kept + [tag for tag in add if tag not in kept]}, by=actor.who)

    ticket, _, position = app.change_ticket(
        ticket_id, change, check=lambda ticket: require_visible(ticket, actor))
    return Outcome(ticket.id, ticket.version, position)


@command_handler
def set_priority(app: SavApplication, actor: Actor, ticket_id: UUID, priority: str
                 ) -> Outcome:
    def change(ticket: Ticket) -> None:
        require_visible(ticket, actor)
        require_staff(actor, "change priorities in bulk")
        ticket.update({"priority": priority}, by=actor.who)

    ticket, _, position = app.change_ticket(
        ticket_id, change, check=lambda ticket: require_visible(ticket, actor))
    return Outcome(ticket.id, ticket.version, position)


def command_for(body: BulkBody) -> tuple[Any, tuple[Any, ...]]:
    """The command handler and its arguments after `(app, actor, ticket_id)`."""
    match body.action:
        case BulkAction.ASSIGN:
            return tickets.assign_ticket, (tickets.AssignTicket(agent_id=str(body.agent_id)),)
        case BulkAction.UNASSIGN:
            return tickets.unassign_ticket, ()
        case BulkAction.CLOSE:
            return tickets.close_ticket, (tickets.ReasonBody(reason=body.reason),)
        case BulkAction.RESOLVE:
            return tickets.resolve_ticket, (
                tickets.ResolveTicket(resolution=body.resolution),)
        case BulkAction.SET_PRIORITY:
            return set_priority, (str(body.priority),)
        case BulkAction.ADD_TAGS:
            return retag_ticket, (list(body.tags or ()), [])
        case BulkAction.REMOVE_TAGS:
            return retag_ticket, ([], list(body.tags or ()))
        case BulkAction.APPLY_MACRO:
            return macros.apply_macro, (str(body.macro_id),)
    raise AssertionError(body.action)
