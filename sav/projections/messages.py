"""The `ticket_messages` read model: table, fold, queries.

A removed message is deleted from this table (hard delete): the event log keeps its
history for analysts, while every read path simply stops showing it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    String,
    bindparam,
    false,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from sav.commands.actor import Actor
from sav.events.agent import Agent
from sav.events.macro import MACRO_EVENTS
from sav.events.privacy import Erasure
from sav.events.rules import Side, side_of
from sav.events.sla import CONFIG_EVENTS
from sav.events.ticket import SLA_EVENTS, Ticket
from sav.events.webhook import Webhook
from sav.eventstore.schema import Identifier
from sav.projections.cursors import keyset_page
from sav.projections.fold import Changes, Delete, Fold, Insert, State, Update, skipped, sql_handlers
from sav.projections.schema import Handlers, LongText, Timestamp, iso, naive_utc, ticket_rows

ticket_messages = ticket_rows(
    "ticket_messages",
    Column("user_id", Identifier(64), index=True),
    Column("author_role", String(16), nullable=False),
    Column("author_side", String(16), nullable=False),
    Column("author_name", String(255)),
    Column("author_email", String(255)),
    Column("content", LongText, nullable=False),
    Column("is_internal", Boolean, nullable=False),
    Column("is_read", Boolean, nullable=False),
    Column("read_at", Timestamp),
    # The ticket version that last set the content: the message's ETag (NULL: projected
    # before it was kept).
    Column("revision", Integer),
)

m = ticket_messages.c

# -- the fold -----------------------------------------------------------------------

MESSAGES = ticket_messages.name


def posted(state: State, event: Ticket.MessagePosted, position: int) -> Changes:
    at = naive_utc(event.timestamp)
    return [Insert(MESSAGES, {
        "id": event.message_id, "seq": position, "ticket_id": str(event.originator_id),
        "user_id": event.user_id, "author_role": event.author_role,
        "author_side": side_of(event.author_role).value, "author_name": event.author_name,
        # Text sealed with an erased subject's key reads back as None (issue 12).
        "author_email": event.author_email, "content": event.content or "",
        "is_internal": bool(event.is_internal), "is_read": False, "read_at": None,
        "revision": event.originator_version, "created_at": at, "updated_at": at,
    })]


def edited(state: State, event: Ticket.MessageEdited, position: int) -> Changes:
    return [Update(MESSAGES, (event.message_id,),
                   {"content": event.content or "", "revision": event.originator_version,
                    "updated_at": naive_utc(event.timestamp)})]


def removed(state: State, event: Ticket.MessageRemoved, position: int) -> Changes:
    return [Delete(MESSAGES, (event.message_id,))]


def read(state: State, event: Ticket.MessagesRead, position: int) -> Changes:
    return [Update(MESSAGES, tuple(event.message_ids),
                   {"is_read": True, "read_at": naive_utc(event.timestamp)})]


def subject_erased(state: State, event: Erasure.SubjectErased, position: int) -> Changes:
    """The subject's conversations keep their shape (ids, authors' ids, read receipts)."""
    return [Update(MESSAGES, tuple(event.ticket_ids),
                   {"content": "", "author_name": None, "author_email": None}, by="ticket_id")]


FOLD: Fold = {
    Ticket.MessagePosted: posted,
    Ticket.MessageEdited: edited,
    Ticket.MessageRemoved: removed,
    Ticket.MessagesRead: read,
    Erasure.SubjectErased: subject_erased,
    # The conversation only: the ticket's own fields, attachments and the roster are
    # other read models' (an attachment's message is referenced by id, never changed).
    **skipped(Ticket.Created, Ticket.Updated, Ticket.Assigned, Ticket.Started,
              Ticket.MarkedWaitingOnCustomer, Ticket.Resolved, Ticket.Reopened,
              Ticket.Closed, Ticket.Deleted, Ticket.Unassigned, Ticket.Restored,
              Ticket.LinkedToUser, Ticket.AttachmentAdded,
              Ticket.AttachmentRemoved, Ticket.SatisfactionRated, Ticket.Escalated,
              Ticket.SurveyRequested, Agent.Registered, Agent.Changed, Webhook.Created,
              Webhook.Updated, Webhook.Paused, Webhook.Resumed, Webhook.Disabled,
              Webhook.Deleted, *SLA_EVENTS, *CONFIG_EVENTS,
              *MACRO_EVENTS, Ticket.MacroApplied,
              Ticket.Linked, Ticket.Unlinked, Ticket.Merged),
}
HANDLERS: Handlers = sql_handlers(FOLD, [ticket_messages])

# -- queries ------------------------------------------------------------------------


def visible_clause(ticket_id: Any, actor: Actor | None) -> ColumnElement[bool]:
    """Messages of a ticket the caller may read; `actor` None is a public caller.

    Ticket visibility is checked by the caller of these queries: this clause only
    keeps internal notes away from anyone who is not staff.
    """
    if actor is not None and actor.sees_internal:
        return m.ticket_id == ticket_id
    return (m.ticket_id == ticket_id) & (m.is_internal == false())


async def list_messages(
    conn: AsyncConnection, ticket_id: str, actor: Actor | None, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """One page of the conversation, oldest first."""
    query = select(ticket_messages).where(visible_clause(ticket_id, actor))
    return await keyset_page(conn, query, m.seq, limit, cursor)


# A ticket's details embed the latest messages only; the list route pages through all.
EMBEDDED_MESSAGES = 50

# Ticket details run on every GET: statements built once (staff or not) are reused.
_LATEST = {
    staff: select(ticket_messages).where(
        visible_clause(bindparam("ticket_id"), Actor(None, "agent" if staff else "customer"))
    ).order_by(m.seq.desc()).limit(EMBEDDED_MESSAGES + 1)
    for staff in (True, False)
}


async def latest_messages(conn: AsyncConnection, ticket_id: str, actor: Actor | None
                          ) -> tuple[list[Any], bool]:
    """The latest EMBEDDED_MESSAGES visible messages, oldest first, and whether there
    are earlier ones (ticket details)."""
    staff = actor is not None and actor.sees_internal
    rows = list((await conn.execute(_LATEST[staff], {"ticket_id": ticket_id})).all())
    return rows[:EMBEDDED_MESSAGES][::-1], len(rows) > EMBEDDED_MESSAGES


async def find_message(conn: AsyncConnection, ticket_id: str, message_id: str,
                       actor: Actor | None) -> Any:
    """A visible message of the ticket, or None (an internal note is None to customers)."""
    query = select(ticket_messages).where(visible_clause(ticket_id, actor), m.id == message_id)
    return (await conn.execute(query)).first()


async def unread_count(conn: AsyncConnection, ticket_id: str, actor: Actor | None) -> int:
    """The other side's messages visible to the caller that the caller's side hasn't read."""
    # Analysts read the staff's side of the conversation.
    side = Side.STAFF if actor is not None and actor.sees_internal else Side.CUSTOMER
    query = select(func.count()).select_from(ticket_messages).where(
        visible_clause(ticket_id, actor), m.author_side != side, m.is_read == false()
    )
    return int((await conn.execute(query)).scalar() or 0)


def message_json(row: Any) -> dict[str, Any]:
    """API shape of a message row (callers only pass rows the caller may see)."""
    return {
        "id": row.id, "ticket_id": row.ticket_id, "user_id": row.user_id,
        "author_name": row.author_name, "author_email": row.author_email,
        "content": row.content or None,  # "": erased (a message is never empty)
        "is_internal": bool(row.is_internal), "is_read": bool(row.is_read),
        "read_at": iso(row.read_at), "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }
