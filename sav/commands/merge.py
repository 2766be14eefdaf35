"""Merging a ticket into another (issue 26): both tickets in one append.

The source gets a public message saying where the conversation went, `Ticket.Merged`
and the `Closed` that ends it (reason `merged`); the target gets the link
`merged_from` and a public message naming the source, so its customer sees where the
conversation came from. Further writes to the source are 409 `ticket_merged`.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict

from sav.commands.actor import Actor
from sav.commands.app import Outcome, SavApplication
from sav.commands.links import MERGED_FROM, change_two
from sav.commands.policy import command_handler, require_staff, require_visible
from sav.events.errors import ConflictError, RuleViolationError, TicketClosedError
from sav.events.rules import Status
from sav.events.ticket import Ticket
from sav.sla.config import follow_sla

MERGED_REASON = "merged"


class MergeBody(BaseModel):
    """`POST /tickets/{id}/merge`: the ticket this one goes into."""

    model_config = ConfigDict(extra="forbid")

    into: UUID


def _say(ticket: Ticket, actor: Actor, content: str) -> None:
    ticket.post_message(message_id=str(uuid4()), user_id=actor.user_id, role=actor.role,
                        author_name=actor.name, author_email=actor.email, content=content,
                        is_internal=False)


@command_handler
def merge_ticket(app: SavApplication, actor: Actor, ticket_id: UUID, body: MergeBody
                 ) -> Outcome:
    require_staff(actor, "merge tickets")
    if body.into == ticket_id:
        raise RuleViolationError("a ticket cannot be merged into itself", {"field": "into"})

    def change(source: Ticket, target: Ticket) -> None:
        require_visible(source, actor)
        require_visible(target, actor)
        if target.status == Status.CLOSED or getattr(target, "merged_into", None):
            raise TicketClosedError("the target ticket is closed or merged",
                                    {"into": str(target.id)})
        if str(source.id) in getattr(target, "links", {}):
            raise ConflictError("these tickets are already linked")
        _say(source, actor, f"This ticket was merged into {target.ticket_number}: the "
                            f"conversation continues there.")
        source.close(by=actor.who, reason=MERGED_REASON)
        ref = actor.who.ref()
        source.trigger_event(Ticket.Merged, into_id=str(target.id),
                             into_number=target.ticket_number, actor=ref)
        target.trigger_event(Ticket.Linked, other_id=str(source.id), kind=MERGED_FROM,
                             actor=ref)
        _say(target, actor, f"Ticket {source.ticket_number} was merged into this one.")
        for ticket in (source, target):  # service levels follow, in the same append
            follow_sla(app, ticket, rematch=False)

    source, _, position = change_two(app, ticket_id, body.into, change)
    return Outcome(source.id, source.version, position)
