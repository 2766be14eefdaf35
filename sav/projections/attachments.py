"""The `ticket_attachments` read model: tables, fold, queries.

`file_url` stays NULL: a presigned URL expires after an hour, so one is made per
download request instead of being stored. `is_internal` is copied from the message
an attachment belongs to, so the attachment stays hidden from customers even after
that message is removed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    String,
    Table,
    bindparam,
    false,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from sav.commands.actor import Actor
from sav.events.agent import Agent
from sav.events.macro import MACRO_EVENTS
from sav.events.privacy import Erasure
from sav.events.sla import CONFIG_EVENTS
from sav.events.ticket import SLA_EVENTS, Ticket
from sav.events.webhook import Webhook
from sav.eventstore.schema import Identifier
from sav.projections.cursors import keyset_page
from sav.projections.fold import Changes, Delete, Fold, Insert, State, Update, skipped, sql_handlers
from sav.projections.schema import Handlers, iso, naive_utc, read_metadata, ticket_rows

ticket_attachments = ticket_rows(
    "ticket_attachments",
    Column("message_id", Identifier(64), index=True),
    Column("user_id", Identifier(64)),
    Column("file_name", String(255), nullable=False),
    Column("file_path", String(512), nullable=False),
    Column("file_url", String(1024)),
    Column("file_type", String(32), nullable=False),
    Column("file_size", BigInteger, nullable=False),
    Column("mime_type", String(128), nullable=False),
    Column("is_internal", Boolean, nullable=False),
    # A virus scanner said the file is clean (docs/decisions/0110-virus-scanning.md).
    Column("scanned", Boolean, nullable=False, server_default=false()),
)

# Ids of internal messages, kept after the message is removed (see module docstring).
attachment_internal_messages = Table(
    "attachment_internal_messages", read_metadata,
    Column("message_id", Identifier(64), primary_key=True),
    Column("ticket_id", Identifier(36), nullable=False), mysql_engine="InnoDB")

a = ticket_attachments.c

# -- the fold -----------------------------------------------------------------------

ATTACHMENTS = ticket_attachments.name
INTERNAL_MESSAGES = attachment_internal_messages.name


def message_posted(state: State, event: Ticket.MessagePosted, position: int) -> Changes:
    if not event.is_internal:
        return []
    return [Insert(INTERNAL_MESSAGES, {"message_id": event.message_id,
                                       "ticket_id": str(event.originator_id)})]


def attachment_added(state: State, event: Ticket.AttachmentAdded, position: int) -> Changes:
    at = naive_utc(event.timestamp)
    internal = event.message_id is not None and state.value(
        INTERNAL_MESSAGES, event.message_id, "message_id") is not None
    return [Insert(ATTACHMENTS, {
        "id": event.attachment_id, "seq": position, "ticket_id": str(event.originator_id),
        "message_id": event.message_id, "user_id": event.user_id,
        # Names sealed with an erased subject's key read back as None (issue 12).
        "file_name": event.file_name or "", "file_path": event.file_path or "",
        "file_url": None,
        "file_type": event.file_type, "file_size": event.file_size,
        "mime_type": event.mime_type, "is_internal": internal, "scanned": event.scanned,
        "created_at": at, "updated_at": at,
    })]


def attachment_removed(state: State, event: Ticket.AttachmentRemoved, position: int
                       ) -> Changes:
    return [Delete(ATTACHMENTS, (event.attachment_id,))]


def subject_erased(state: State, event: Erasure.SubjectErased, position: int) -> Changes:
    """File names (and the paths that hold them) go; type and size stay."""
    return [Update(ATTACHMENTS, tuple(event.ticket_ids), {"file_name": "", "file_path": ""},
                   by="ticket_id")]


FOLD: Fold = {
    Ticket.MessagePosted: message_posted,
    Ticket.AttachmentAdded: attachment_added,
    Ticket.AttachmentRemoved: attachment_removed,
    Erasure.SubjectErased: subject_erased,
    # A removed message keeps its attachments (and an internal one stays internal: its
    # id is never forgotten); nothing else about a ticket changes its files.
    **skipped(Ticket.Created, Ticket.Updated, Ticket.Assigned, Ticket.Started,
              Ticket.MarkedWaitingOnCustomer, Ticket.Resolved, Ticket.Reopened,
              Ticket.Closed, Ticket.Deleted, Ticket.Unassigned, Ticket.Restored,
              Ticket.LinkedToUser, Ticket.MessageEdited,
              Ticket.MessageRemoved, Ticket.MessagesRead, Ticket.SatisfactionRated,
              Ticket.Escalated, Ticket.SurveyRequested, Agent.Registered, Agent.Changed,
              Webhook.Created, Webhook.Updated, Webhook.Paused,
              Webhook.Resumed, Webhook.Disabled, Webhook.Deleted,
              *SLA_EVENTS, *CONFIG_EVENTS,
              *MACRO_EVENTS, Ticket.MacroApplied,
              Ticket.Linked, Ticket.Unlinked, Ticket.Merged),
}
HANDLERS: Handlers = sql_handlers(FOLD, [ticket_attachments, attachment_internal_messages])

# -- queries ------------------------------------------------------------------------


def visible_to(actor: Actor | None) -> ColumnElement[bool]:
    """Attachments of internal messages are for staff only (None: a public caller).

    The caller must already be allowed to see the ticket itself."""
    if actor is not None and actor.sees_internal:
        return true()
    return a.is_internal == false()


# Ticket details run on every GET: statements built once (staff or not) are reused.
_ALL_VISIBLE = {
    staff: select(ticket_attachments).where(
        a.ticket_id == bindparam("ticket_id"),
        visible_to(Actor(None, "agent" if staff else "customer")),
    ).order_by(a.seq)
    for staff in (True, False)
}


async def visible_attachments(conn: AsyncConnection, ticket_id: str,
                              actor: Actor | None) -> list[Any]:
    """Every attachment of a ticket the caller may see, oldest first (ticket details)."""
    staff = actor is not None and actor.sees_internal
    return list((await conn.execute(_ALL_VISIBLE[staff], {"ticket_id": ticket_id})).all())


async def list_attachments(conn: AsyncConnection, ticket_id: str, actor: Actor,
                           limit: int, cursor: str | None,
                           message_id: str | None = None) -> tuple[list[Any], str | None]:
    """One page of a ticket's visible attachments, oldest first."""
    query = select(ticket_attachments).where(a.ticket_id == ticket_id, visible_to(actor))
    if message_id is not None:
        query = query.where(a.message_id == message_id)
    return await keyset_page(conn, query, a.seq, limit, cursor)


async def find_attachment(conn: AsyncConnection, ticket_id: str, attachment_id: str,
                          actor: Actor) -> Any:
    """The attachment if it belongs to the ticket and the caller may see it, else None."""
    query = select(ticket_attachments).where(
        a.id == attachment_id, a.ticket_id == ticket_id, visible_to(actor))
    return (await conn.execute(query)).first()


async def find_by_id(conn: AsyncConnection, attachment_id: str) -> Any:
    """Any attachment by id, whoever may see it (for signed local downloads)."""
    return (await conn.execute(
        select(ticket_attachments).where(a.id == attachment_id))).first()


def attachment_json(row: Any) -> dict[str, Any]:
    """API shape of an attachment. `file_url` is the download route, which answers a
    fresh presigned URL (stored URLs would expire)."""
    return {
        "id": row.id, "ticket_id": row.ticket_id, "message_id": row.message_id,
        # "": erased (issue 12)
        "user_id": row.user_id, "file_name": row.file_name or None,
        "file_path": row.file_path or None,
        "file_url": f"/tickets/{row.ticket_id}/attachments/{row.id}/download",
        "file_type": row.file_type, "file_size": row.file_size, "mime_type": row.mime_type,
        "scanned": bool(row.scanned),
        "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
    }
