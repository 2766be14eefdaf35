"""The `ticket_links` read model (issue 26): one row per side of a link between two
tickets, folded from `Ticket.Linked` and `Ticket.Unlinked` (each ticket records its own
side, both in one append), so the live projector, time travel and `sav replay` agree.
The other ticket's number and status are read at query time: they change after the link.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Column, Index, String, Table, false, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sav.commands.actor import Actor
from sav.commands.policy import can_see
from sav.events.agent import Agent
from sav.events.macro import MACRO_EVENTS
from sav.events.privacy import Erasure
from sav.events.sla import CONFIG_EVENTS
from sav.events.ticket import SLA_EVENTS, Ticket
from sav.events.webhook import Webhook
from sav.eventstore.schema import Identifier
from sav.projections.fold import Changes, Delete, Fold, Insert, State, skipped, sql_handlers
from sav.projections.schema import Handlers, Timestamp, iso, naive_utc, read_metadata
from sav.projections.tickets import support_tickets

ticket_links = Table(
    "ticket_links",
    read_metadata,
    Column("id", Identifier(80), primary_key=True),  # "<ticket_id>:<other_id>"
    Column("ticket_id", Identifier(36), nullable=False),
    Column("other_id", Identifier(36), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Index("ix_ticket_links_ticket_id", "ticket_id"),
    mysql_engine="InnoDB",
)
LINKS = ticket_links.name


def key_of(ticket_id: Any, other_id: Any) -> str:
    return f"{ticket_id}:{other_id}"


def linked(state: State, event: Ticket.Linked, position: int) -> Changes:
    return [Insert(LINKS, {"id": key_of(event.originator_id, event.other_id),
                           "ticket_id": str(event.originator_id), "other_id": event.other_id,
                           "kind": event.kind, "created_at": naive_utc(event.timestamp)})]


def unlinked(state: State, event: Ticket.Unlinked, position: int) -> Changes:
    return [Delete(LINKS, (key_of(event.originator_id, event.other_id),))]


FOLD: Fold = {
    Ticket.Linked: linked,
    Ticket.Unlinked: unlinked,
    # Only links: everything else about either ticket is read from its own row.
    **skipped(Ticket.Created, Ticket.Updated, Ticket.Assigned, Ticket.Started,
              Ticket.MarkedWaitingOnCustomer, Ticket.Resolved, Ticket.Reopened,
              Ticket.Closed, Ticket.Deleted, Ticket.Unassigned, Ticket.Restored,
              Ticket.LinkedToUser, Ticket.MessagePosted,
              Ticket.MessageEdited, Ticket.MessageRemoved, Ticket.MessagesRead,
              Ticket.AttachmentAdded, Ticket.AttachmentRemoved, Ticket.SatisfactionRated,
              Ticket.Escalated, Ticket.SurveyRequested, Ticket.MacroApplied, Ticket.Merged,
              Agent.Registered, Agent.Changed, Erasure.SubjectErased, Webhook.Created,
              Webhook.Updated, Webhook.Paused, Webhook.Resumed, Webhook.Disabled,
              Webhook.Deleted, *SLA_EVENTS, *CONFIG_EVENTS, *MACRO_EVENTS),
}
HANDLERS: Handlers = sql_handlers(FOLD, [ticket_links])


async def links_of(conn: AsyncConnection, ticket_id: str, actor: Actor | None
                   ) -> list[dict[str, Any]]:
    """The ticket's links, oldest first, with the other ticket's number and status; a
    linked ticket the caller may not see (or deleted) is left out."""
    t = support_tickets.c
    rows = await conn.execute(
        select(ticket_links.c.other_id, ticket_links.c.kind, ticket_links.c.created_at,
               t.ticket_number, t.status, t.user_id, t.assigned_to)
        .join(support_tickets, t.id == ticket_links.c.other_id)
        .where(ticket_links.c.ticket_id == ticket_id, t.is_deleted == false())
        .order_by(ticket_links.c.created_at, ticket_links.c.other_id))
    return [{"ticket_id": row.other_id, "kind": row.kind, "ticket_number": row.ticket_number,
             "status": row.status, "created_at": iso(row.created_at)}
            for row in rows
            if actor is None or can_see(actor, row.user_id, row.assigned_to, row.status)]


def link_json(other_id: str, kind: str, created_at: Any, other: Any) -> dict[str, Any]:
    """One item of a ticket view's `links` (the shape of `GET /tickets/{id}/links`)."""
    return {"ticket_id": other_id, "kind": kind, "ticket_number": other.ticket_number,
            "status": other.status, "created_at": iso(created_at)}


def shown(staff: bool, owner: str | None, other_owner: str | None) -> bool:
    """Which links a ticket view carries: staff see them all (views are cached per
    caller class, not per agent); customers and token holders only those to another
    ticket of the same owner, so no other customer's ticket number leaks."""
    return staff or (owner is not None and other_owner == owner)


async def embedded_links(conn: AsyncConnection, owners: Mapping[str, str | None],
                         staff: bool) -> dict[str, list[dict[str, Any]]]:
    """The `links` of several ticket views (ticket id -> its owner's user id), in one
    query for a whole page; a deleted other ticket is left out."""
    found: dict[str, list[dict[str, Any]]] = {ticket_id: [] for ticket_id in owners}
    if not owners:
        return found
    t, side = support_tickets.c, ticket_links.c
    rows = await conn.execute(
        select(side.ticket_id, side.other_id, side.kind, side.created_at,
               t.ticket_number, t.status, t.user_id)
        .join(support_tickets, t.id == side.other_id)
        .where(side.ticket_id.in_(list(owners)), t.is_deleted == false())
        .order_by(side.created_at, side.other_id))
    for row in rows:
        if shown(staff, owners[row.ticket_id], row.user_id):
            found[row.ticket_id].append(link_json(row.other_id, row.kind, row.created_at, row))
    return found


async def past_links(conn: AsyncConnection, sides: Iterable[Any], owner: str | None,
                     staff: bool) -> list[dict[str, Any]]:
    """The `links` of a past view: the link rows folded up to that version, with the
    other ticket's number and status as they are now (a link's other side is another
    stream; its past status is not rebuilt)."""
    ordered = sorted(sides, key=lambda s: (s.created_at, s.other_id))
    if not ordered:
        return []
    t = support_tickets.c
    others = {row.id: row for row in await conn.execute(
        select(t.id, t.ticket_number, t.status, t.user_id)
        .where(t.id.in_([s.other_id for s in ordered]), t.is_deleted == false()))}
    return [link_json(s.other_id, s.kind, s.created_at, others[s.other_id])
            for s in ordered
            if s.other_id in others and shown(staff, owner, others[s.other_id].user_id)]


async def has_links(conn: AsyncConnection, ticket_id: str) -> bool:
    """Whether the ticket has any link, shown to the caller or not (a view that hides one
    to a deleted ticket or another customer's still depends on that ticket's row)."""
    found = await conn.execute(
        select(ticket_links.c.id).where(ticket_links.c.ticket_id == ticket_id).limit(1))
    return found.first() is not None
