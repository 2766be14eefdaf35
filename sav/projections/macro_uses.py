"""The `macro_uses` read model (issue 26): how often each macro was applied, for
`GET /tickets/statistics` (`macros`, staff only) and each macro's `uses`.

One row per macro ever applied, folded from `Ticket.MacroApplied` like every read model
(`sav.projections.fold`), so the live projector, `sav replay` and its check agree. A
deleted macro keeps its count: its uses happened, and the tickets still show them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sav.events.agent import Agent
from sav.events.macro import MACRO_EVENTS
from sav.events.privacy import Erasure
from sav.events.sla import CONFIG_EVENTS
from sav.events.ticket import SLA_EVENTS, Ticket
from sav.events.webhook import Webhook
from sav.eventstore.schema import Identifier
from sav.projections.fold import Changes, Fold, Insert, State, Update, skipped, sql_handlers
from sav.projections.schema import Handlers, Timestamp, naive_utc, read_metadata

macro_uses = Table(
    "macro_uses",
    read_metadata,
    Column("macro_id", Identifier(36), primary_key=True),
    Column("title", String(200), nullable=False),  # as it was when last applied
    Column("uses", BigInteger, nullable=False),
    Column("last_used_at", Timestamp, nullable=False),
    mysql_engine="InnoDB",
)
USES = macro_uses.name


def applied(state: State, event: Ticket.MacroApplied, position: int) -> Changes:
    uses = state.value(USES, event.macro_id, "uses")
    values = {"title": event.title, "last_used_at": naive_utc(event.timestamp)}
    if uses is None:
        return [Insert(USES, {"macro_id": event.macro_id, "uses": 1, **values})]
    return [Update(USES, (event.macro_id,), {"uses": uses + 1, **values}, by="macro_id")]


FOLD: Fold = {
    Ticket.MacroApplied: applied,
    # Only a macro's use counts here: its definition lives in its own stream
    # (`sav.events.macro`), and nothing else a ticket does is a macro's use.
    **skipped(Ticket.Created, Ticket.Updated, Ticket.Assigned, Ticket.Started,
              Ticket.MarkedWaitingOnCustomer, Ticket.Resolved, Ticket.Reopened,
              Ticket.Closed, Ticket.Deleted, Ticket.Unassigned, Ticket.Restored,
              Ticket.LinkedToUser, Ticket.MessagePosted,
              Ticket.MessageEdited, Ticket.MessageRemoved, Ticket.MessagesRead,
              Ticket.AttachmentAdded, Ticket.AttachmentRemoved, Ticket.SatisfactionRated,
              Ticket.Escalated, Ticket.SurveyRequested, Agent.Registered, Agent.Changed,
              Erasure.SubjectErased, Webhook.Created, Webhook.Updated, Webhook.Paused,
              Webhook.Resumed, Webhook.Disabled, Webhook.Deleted, *SLA_EVENTS,
              *CONFIG_EVENTS, *MACRO_EVENTS, Ticket.Linked, Ticket.Unlinked,
              Ticket.Merged),
}
HANDLERS: Handlers = sql_handlers(FOLD, [macro_uses])


async def section(conn: AsyncConnection) -> dict[str, Any]:
    """`{"applied": total, "by_macro": [{"macro_id", "title", "uses"}, ...]}`, most used
    first (a deleted macro keeps its count, under the title it had when last used)."""
    rows = (await conn.execute(select(macro_uses).order_by(
        macro_uses.c.uses.desc(), macro_uses.c.macro_id))).all()
    return {"applied": sum(int(row.uses) for row in rows),
            "by_macro": [{"macro_id": row.macro_id, "title": row.title, "uses": int(row.uses)}
                         for row in rows]}
