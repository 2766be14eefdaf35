"""The `support_agents` read model (the roster) and agents' open workload.

Workload is not stored: it is counted from `support_tickets` when asked, so it can
never drift from the tickets themselves.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    String,
    Table,
    false,
    func,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select, Subquery

from sav.commands.policy import AGENT_POOL_EXCLUDES
from sav.events.agent import Agent
from sav.events.errors import RuleViolationError
from sav.events.macro import MACRO_EVENTS
from sav.events.privacy import Erasure
from sav.events.sla import CONFIG_EVENTS
from sav.events.ticket import SLA_EVENTS, Ticket
from sav.events.webhook import Webhook
from sav.eventstore.schema import Identifier
from sav.projections.cursors import keyset_page
from sav.projections.fold import Changes, Fold, Insert, State, Update, skipped, sql_handlers
from sav.projections.schema import Handlers, Timestamp, iso, naive_utc, read_metadata
from sav.projections.tickets import support_tickets

support_agents = Table(
    "support_agents",
    read_metadata,
    Column("agent_id", Identifier(64), primary_key=True),
    # The Agent aggregate's id: `Agent.Changed` events only carry this one.
    Column("aggregate_id", String(36), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("email", String(255)),
    Column("active", Boolean, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    mysql_engine="InnoDB",
)

a = support_agents.c
t = support_tickets.c


AGENTS = support_agents.name


def registered(state: State, event: Agent.Registered, position: int) -> Changes:
    at = naive_utc(event.timestamp)
    return [Insert(AGENTS, {
        "agent_id": event.agent_id, "aggregate_id": str(event.originator_id),
        "name": event.name, "email": event.email, "active": bool(event.active),
        "created_at": at, "updated_at": at,
    })]


def changed(state: State, event: Agent.Changed, position: int) -> Changes:
    # `Agent.Changed` carries the aggregate's id only, not the agent's.
    return [Update(AGENTS, (str(event.originator_id),),
                   {"name": event.name, "email": event.email, "active": bool(event.active),
                    "updated_at": naive_utc(event.timestamp)}, by="aggregate_id")]


FOLD: Fold = {
    Agent.Registered: registered,
    Agent.Changed: changed,
    # The roster: tickets and erasures never change it (workload is counted on demand).
    **skipped(Ticket.Created, Ticket.Updated, Ticket.Assigned, Ticket.Started,
              Ticket.MarkedWaitingOnCustomer, Ticket.Resolved, Ticket.Reopened,
              Ticket.Closed, Ticket.Deleted, Ticket.Unassigned, Ticket.Restored,
              Ticket.LinkedToUser, Ticket.MessagePosted,
              Ticket.MessageEdited, Ticket.MessageRemoved, Ticket.MessagesRead,
              Ticket.AttachmentAdded, Ticket.AttachmentRemoved, Ticket.SatisfactionRated,
              Ticket.Escalated, Ticket.SurveyRequested, Erasure.SubjectErased,
              Webhook.Created, Webhook.Updated, Webhook.Paused,
              Webhook.Resumed, Webhook.Disabled, Webhook.Deleted,
              *SLA_EVENTS, *CONFIG_EVENTS,
              *MACRO_EVENTS, Ticket.MacroApplied,
              Ticket.Linked, Ticket.Unlinked, Ticket.Merged),
}
HANDLERS: Handlers = sql_handlers(FOLD, [support_agents])

# -- queries ------------------------------------------------------------------------


def open_workload() -> Subquery:
    """Open (not resolved, not closed, not deleted) tickets per assignee."""
    return (
        select(t.assigned_to.label("agent_id"), func.count().label("open"))
        .where(t.is_deleted == false(), t.assigned_to.is_not(None),
               t.status.notin_(AGENT_POOL_EXCLUDES))
        .group_by(t.assigned_to)
        .subquery("workload")
    )


def _roster() -> Select[Any]:
    load = open_workload()
    return select(support_agents, func.coalesce(load.c.open, 0).label("open")).select_from(
        support_agents.outerjoin(load, load.c.agent_id == a.agent_id))


# The unpadded base64url of `a` and the last agent id of the page (UTF-8): any string
# of that alphabet and length (not 1 more than a multiple of 4) opening with `a`'s two
# characters is one, and the list goes on after the id it spells (bytes that are not
# UTF-8 read as U+FFFD). `/openapi.json` gives the pattern; nothing else is accepted.
AGENT_CURSOR_PATTERN = "^Y[Q-Za-f](?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{1,2})?$"
AGENT_CURSOR_MAX_LENGTH = 512
_AGENT_CURSOR = re.compile(AGENT_CURSOR_PATTERN)


def encode_cursor(agent_id: str) -> str:
    return base64.urlsafe_b64encode(f"a{agent_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    if len(cursor) > AGENT_CURSOR_MAX_LENGTH or not _AGENT_CURSOR.match(cursor):
        raise RuleViolationError("invalid cursor", {"field": "cursor"})
    cursor = cursor.removesuffix("\n")  # `$` allows one, in the document's checkers too
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    return raw[1:].decode(errors="replace")


async def list_agents(conn: AsyncConnection, limit: int, cursor: str | None,
                      active: bool | None = None) -> tuple[list[Any], str | None]:
    query = _roster()
    if active is not None:
        query = query.where(a.active == active)
    return await keyset_page(conn, query, a.agent_id, limit, cursor,
                             encode=encode_cursor, decode=decode_cursor)


async def find_agent(conn: AsyncConnection, agent_id: str) -> Any:
    return (await conn.execute(_roster().where(a.agent_id == agent_id))).first()


def agent_json(row: Any) -> dict[str, Any]:
    return {"agent_id": row.agent_id, "name": row.name, "email": row.email,
            "active": bool(row.active), "open_tickets": int(row.open),
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}


def active_workloads(conn: Connection) -> dict[str, int]:
    """Every active agent's open ticket count (0 included), for auto-assign."""
    rows = conn.execute(_roster().where(a.active == true())).all()
    return {row.agent_id: int(row.open) for row in rows}


def least_loaded(workloads: dict[str, int]) -> str | None:
    """Fewest open tickets wins; ties go to the smallest agent id (deterministic)."""
    if not workloads:
        return None
    return min(workloads, key=lambda agent: (workloads[agent], agent))


def least_loaded_agent(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return least_loaded(active_workloads(conn))
