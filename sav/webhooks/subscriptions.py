"""The `webhook_subscriptions` read model: one row per subscription, folded from the
Webhook events like every read model (`sav.projections.fold`), so `sav replay` rebuilds
it and a write reads its own subscription back. The secret is not here: the sender reads
it from the aggregate, through the store's decryption (`secret_of`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Connection, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sav.events.agent import Agent
from sav.events.macro import MACRO_EVENTS
from sav.events.privacy import Erasure
from sav.events.sla import CONFIG_EVENTS
from sav.events.ticket import SLA_EVENTS, Ticket
from sav.events.webhook import Webhook
from sav.eventstore.schema import Identifier
from sav.projections.fold import Changes, Delete, Fold, Insert, State, Update, skipped, sql_handlers
from sav.projections.schema import Handlers, Timestamp, iso, naive_utc, read_metadata

webhook_subscriptions = Table(
    "webhook_subscriptions",
    read_metadata,
    Column("id", Identifier(36), primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("events", JSON, nullable=False),
    Column("description", String(500)),
    Column("active", Boolean, nullable=False),
    Column("disabled_reason", String(32)),
    # Where its deliveries start: the events after the one that created it.
    Column("created_position", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    mysql_engine="InnoDB",
)
SUBSCRIPTIONS = webhook_subscriptions.name
w = webhook_subscriptions.c


def _touch(event: Any) -> dict[str, Any]:
    return {"version": event.originator_version, "updated_at": naive_utc(event.timestamp)}


def created(state: State, event: Webhook.Created, position: int) -> Changes:
    at = naive_utc(event.timestamp)
    return [Insert(SUBSCRIPTIONS, {
        "id": str(event.originator_id), "url": event.url, "events": list(event.events),
        "description": event.description, "active": True, "disabled_reason": None,
        "created_position": position, "version": event.originator_version,
        "created_at": at, "updated_at": at})]


def updated(state: State, event: Webhook.Updated, position: int) -> Changes:
    values: dict[str, Any] = {name: event.changes[name] for name in ("url", "events",
                                                                      "description")
                              if name in event.changes}
    return [Update(SUBSCRIPTIONS, (str(event.originator_id),), {**values, **_touch(event)})]


def paused(state: State, event: Webhook.Paused, position: int) -> Changes:
    return [Update(SUBSCRIPTIONS, (str(event.originator_id),),
                   {"active": False, **_touch(event)})]


def resumed(state: State, event: Webhook.Resumed, position: int) -> Changes:
    return [Update(SUBSCRIPTIONS, (str(event.originator_id),),
                   {"active": True, "disabled_reason": None, **_touch(event)})]


def disabled(state: State, event: Webhook.Disabled, position: int) -> Changes:
    return [Update(SUBSCRIPTIONS, (str(event.originator_id),),
                   {"active": False, "disabled_reason": event.reason, **_touch(event)})]


def deleted(state: State, event: Webhook.Deleted, position: int) -> Changes:
    return [Delete(SUBSCRIPTIONS, (str(event.originator_id),))]


FOLD: Fold = {
    Webhook.Created: created,
    Webhook.Updated: updated,
    Webhook.Paused: paused,
    Webhook.Resumed: resumed,
    Webhook.Disabled: disabled,
    Webhook.Deleted: deleted,
    # Subscriptions are the platform's configuration: tickets, the roster and erasures
    # never change one (what they are sent is the sender's business).
    **skipped(Ticket.Created, Ticket.Updated, Ticket.Assigned, Ticket.Started,
              Ticket.MarkedWaitingOnCustomer, Ticket.Resolved, Ticket.Reopened,
              Ticket.Closed, Ticket.Deleted, Ticket.Unassigned, Ticket.Restored,
              Ticket.LinkedToUser, Ticket.MessagePosted,
              Ticket.MessageEdited, Ticket.MessageRemoved, Ticket.MessagesRead,
              Ticket.AttachmentAdded, Ticket.AttachmentRemoved, Ticket.SatisfactionRated,
              Ticket.Escalated, Ticket.SurveyRequested, Agent.Registered, Agent.Changed,
              Erasure.SubjectErased, *SLA_EVENTS, *CONFIG_EVENTS,
              *MACRO_EVENTS, Ticket.MacroApplied,
              Ticket.Linked, Ticket.Unlinked, Ticket.Merged),
}
HANDLERS: Handlers = sql_handlers(FOLD, [webhook_subscriptions])


# -- queries ------------------------------------------------------------------------

def subscription_json(row: Any) -> dict[str, Any]:
    """The API's view: never the secret (it is not in this table)."""
    return {"id": row.id, "url": row.url, "events": list(row.events),
            "description": row.description, "active": bool(row.active),
            "disabled_reason": row.disabled_reason,
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}


async def list_subscriptions(conn: AsyncConnection) -> list[Any]:
    return list((await conn.execute(select(webhook_subscriptions)
                                    .order_by(w.created_at, w.id))).all())


async def find_subscription(conn: AsyncConnection, webhook_id: str) -> Any:
    return (await conn.execute(select(webhook_subscriptions)
                               .where(w.id == webhook_id))).first()


def all_subscriptions(conn: Connection) -> list[Any]:
    """Every subscription (the sender's view; paused and disabled ones included)."""
    return list(conn.execute(select(webhook_subscriptions).order_by(w.created_position)).all())
