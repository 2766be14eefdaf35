"""A ticket as it was: its own events folded, in memory, into the rows the read model
would hold.

No second implementation of the projectors: the folds of `support_tickets`,
`ticket_messages` and `ticket_attachments` (`sav.projections.fold`) run here on
in-memory tables, never a read of the live ones. `GET /tickets/{id}?version=` and
`?as_of=` render the final rows with the normal ticket shape, and the history
(`sav.history.entries`) shows what each step changed.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, KeysView
from typing import Any

from sav.commands.actor import Actor
from sav.projections import attachments, links, messages, tickets
from sav.projections.attachments import attachment_internal_messages, attachment_json
from sav.projections.attachments import ticket_attachments as attachment_table
from sav.projections.fold import Changes, Insert, MemoryTables, Row
from sav.projections.messages import message_json, ticket_messages
from sav.projections.ticket_queries import ticket_json
from sav.projections.tickets import support_tickets

# The ticket's read models, in the projector's order.
FOLDS = (tickets.FOLD, messages.FOLD, attachments.FOLD, links.FOLD)
TABLES = (support_tickets, ticket_messages, attachment_table, attachment_internal_messages,
          links.ticket_links)


class PastTicket:
    """One ticket's rows in memory. The ids of internal messages (a table of the
    attachments model) and of the attachments made internal by them are kept after
    removal, so what belonged to an internal note stays staff-only."""

    def __init__(self) -> None:
        self.tables = MemoryTables(TABLES)
        self.internal_attachments: set[str] = set()

    def apply(self, event: Any, position: int | None = None) -> Changes:
        """Fold one event of the ticket's stream; returns the changes each read model
        made (`position` defaults to the version: the order within one ticket)."""
        at = event.originator_version if position is None else position
        changes: list[Any] = []
        for fold in FOLDS:
            step = fold[type(event)]
            if step is not None:
                made = step(self.tables, event, at)
                self.tables.apply(made)
                changes.extend(made)
        for change in changes:
            if (isinstance(change, Insert) and change.table == attachment_table.name
                    and change.row["is_internal"]):
                self.internal_attachments.add(change.row["id"])
        return changes

    @property
    def ticket(self) -> Row | None:
        return next(iter(self.tables.rows[support_tickets.name].values()), None)

    @property
    def row(self) -> Row:
        if self.ticket is None:
            raise ValueError("a ticket's stream starts with Ticket.Created")
        return self.ticket

    @property
    def version(self) -> int:
        return int(self.ticket.version) if self.ticket is not None else 0

    @property
    def messages(self) -> dict[str, Row]:
        return self.tables.rows[ticket_messages.name]

    @property
    def attachments(self) -> dict[str, Row]:
        return self.tables.rows[attachment_table.name]

    @property
    def links(self) -> dict[str, Row]:
        """This ticket's side of its links at that version (issue 26)."""
        return self.tables.rows[links.LINKS]

    @property
    def internal_messages(self) -> KeysView[str]:
        return self.tables.rows[attachment_internal_messages.name].keys()


def fold(events: Iterable[Any]) -> PastTicket:
    past = PastTicket()
    for event in events:
        past.apply(event)
    return past


def past_ticket_json(past: PastTicket, actor: Actor,
                     present: Container[str] | None = None,
                     linked: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The normal `GET /tickets/{id}` shape for a past state, the whole conversation of
    that moment embedded (`messages_url` is null: the list route shows the present).
    `linked`: the ticket's links at that version (`sav.projections.links.past_links`).
    `present`: the messages that exist now; for customers a message removed since is not
    shown (only staff keep the audit trail)."""
    staff = actor.sees_internal
    data = ticket_json(past.row, actor)
    data["messages"] = [message_json(m) for m in past.messages.values()
                        if staff or (not m.is_internal
                                     and (present is None or m.id in present))]
    data["messages_truncated"] = False
    data["attachments"] = [attachment_json(a) for a in past.attachments.values()
                           if staff or not a.is_internal]
    data["messages_url"] = None
    data["links"] = linked or []
    return data
