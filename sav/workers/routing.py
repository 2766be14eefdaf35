"""Stored events -> published messages: routing key, body and headers (the wire contract).

One stored event is one message. Its `message_id` is derived from the stream and the
version, so a re-publication after a broker outage or a crash carries the same id and
consumers can drop it. The body is `{"event", "timestamp", "data"}`; `data` always has
the aggregate's identity (`ticket_id` and `ticket_number`, `agent_id`, `webhook_id`).

Privacy: downstream services are trusted platform services, so internal messages are
published with their content and `is_internal: true` (consumers that reach customers
must filter on it); `ticket.updated` may carry `internal_notes` (staff-only). The public
access token's hash, a webhook's secret and its URL are never published.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import orjson

from sav.events.agent import Agent
from sav.events.macro import Macros
from sav.events.privacy import Erasure
from sav.events.sla import SlaCalendar, SlaPolicies
from sav.events.ticket import STATUS_AFTER, Ticket
from sav.events.webhook import Webhook

ROUTES: dict[type, str] = {
    Ticket.Created: "ticket.created",
    Ticket.Updated: "ticket.updated",
    Ticket.Assigned: "ticket.assigned",
    Ticket.Started: "ticket.status_changed",
    Ticket.MarkedWaitingOnCustomer: "ticket.status_changed",
    Ticket.Resolved: "ticket.resolved",
    Ticket.Reopened: "ticket.reopened",
    Ticket.Closed: "ticket.closed",
    Ticket.Deleted: "ticket.deleted",
    Ticket.Unassigned: "ticket.unassigned",
    Ticket.Restored: "ticket.restored",
    Ticket.LinkedToUser: "ticket.user_linked",
    Ticket.MessagePosted: "ticket.message.new",
    Ticket.MessageEdited: "ticket.message.updated",
    Ticket.MessageRemoved: "ticket.message.deleted",
    Ticket.MessagesRead: "ticket.message.read",
    Ticket.AttachmentAdded: "ticket.attachment.added",
    Ticket.AttachmentRemoved: "ticket.attachment.removed",
    Ticket.SatisfactionRated: "ticket.satisfaction.received",
    Ticket.Escalated: "ticket.escalated",
    Ticket.SurveyRequested: "ticket.survey_requested",
    Agent.Registered: "agent.updated",
    Agent.Changed: "agent.updated",
    # Downstream services erase what they hold of the subject (issue 12).
    Erasure.SubjectErased: "privacy.subject_erased",
    # Which subscription changed, not where it points (docs/decisions/0120-webhooks.md).
    Webhook.Created: "webhook.created",
    Webhook.Updated: "webhook.updated",
    Webhook.Paused: "webhook.paused",
    Webhook.Resumed: "webhook.resumed",
    Webhook.Disabled: "webhook.disabled",
    Webhook.Deleted: "webhook.deleted",
    # Service levels (issue 23): a ticket's clocks, and the configuration's changes.
    Ticket.SlaApplied: "ticket.sla.applied",
    Ticket.SlaPaused: "ticket.sla.paused",
    Ticket.SlaResumed: "ticket.sla.resumed",
    Ticket.SlaClockStarted: "ticket.sla.clock_started",
    Ticket.SlaMet: "ticket.sla.met",
    Ticket.SlaBreached: "ticket.sla.breached",
    Ticket.SlaStopped: "ticket.sla.stopped",
    SlaCalendar.Created: "sla.calendar.updated",
    SlaCalendar.Changed: "sla.calendar.updated",
    SlaPolicies.Created: "sla.policy.updated",
    SlaPolicies.PolicyPut: "sla.policy.updated",
    SlaPolicies.PolicyDeleted: "sla.policy.deleted",
    # Agent productivity (issue 26): the macros' changes, and a macro used on a ticket.
    Macros.Created: "macro.created",
    Macros.MacroCreated: "macro.created",
    Macros.MacroChanged: "macro.updated",
    Macros.MacroDeleted: "macro.deleted",
    Ticket.MacroApplied: "ticket.macro_applied",
    Ticket.Linked: "ticket.linked",
    Ticket.Unlinked: "ticket.unlinked",
    Ticket.Merged: "ticket.merged",
}
TRANSITIONS = {Ticket.Started: "started", Ticket.MarkedWaitingOnCustomer: "waiting"}

# Never published, at the top of an event or in an update's `changes`: the public access
# token's hash, a webhook's signing secret and its URL (a URL can carry a token).
NEVER_PUBLISHED = frozenset({"access_token_hash", "secret", "url"})

# The events that open a stream carry its identity; later events borrow it.
IDENTITY_FIELDS: dict[type, tuple[str, ...]] = {
    Ticket.Created: ("ticket_number",), Agent.Registered: ("agent_id",)}


@dataclass(frozen=True)
class OutgoingMessage:
    routing_key: str
    message_id: str
    body: bytes
    headers: dict[str, Any]
    position: int


def routing_key(event_class: type) -> str:
    """The key of `event_class`; an event class added later still gets published under
    `<aggregate>.<snake_case_name>` rather than being held back."""
    if event_class in ROUTES:
        return ROUTES[event_class]
    aggregate, _, name = event_class.__qualname__.partition(".")
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name or aggregate).lower()
    return f"{aggregate.lower()}.{snake}" if name else snake


def message_id(stream_id: str, version: int) -> str:
    return str(uuid5(NAMESPACE_URL, f"sav:event:{stream_id}:{version}"))


def identity_of(event_class: type, data: dict[str, Any]) -> dict[str, Any] | None:
    """The identity fields an opening event (Created, Registered) defines, else None."""
    fields = IDENTITY_FIELDS.get(event_class)
    if fields is None:
        return None
    return {name: data.get(name) for name in fields}


def message_data(event_class: type, record: dict[str, Any], identity: dict[str, Any]
                 ) -> dict[str, Any]:
    key = ("agent_aggregate_id" if issubclass(event_class, Agent.Event)
           else "erasure_id" if issubclass(event_class, Erasure.Event)
           else "webhook_id" if issubclass(event_class, Webhook.Event)
           else "sla_id" if issubclass(event_class, SlaCalendar.Event | SlaPolicies.Event)
           else "macros_id" if issubclass(event_class, Macros.Event)
           else "ticket_id")
    data: dict[str, Any] = {key: record["stream_id"], **identity}
    data.update({k: v for k, v in record["data"].items() if k not in NEVER_PUBLISHED})
    if isinstance(data.get("changes"), dict) and NEVER_PUBLISHED & set(data["changes"]):
        data["changes"] = {k: v for k, v in data["changes"].items() if k not in NEVER_PUBLISHED}
    if event_class in STATUS_AFTER:
        data["status"] = STATUS_AFTER[event_class].value
    if event_class in TRANSITIONS:
        data["transition"] = TRANSITIONS[event_class]
    return data


def build_message(event_class: type, record: dict[str, Any], identity: dict[str, Any]
                  ) -> OutgoingMessage:
    """`record` is `sav.history.feed.event_record(...)` of one stored event."""
    key = routing_key(event_class)
    body = {"event": key, "timestamp": record["timestamp"],
            "data": message_data(event_class, record, identity)}
    headers = {
        "x-sav-position": record["position"],
        "x-sav-version": record["version"],
        "x-sav-stream-id": record["stream_id"],
        "x-sav-event-type": record["type"],
    }
    return OutgoingMessage(
        routing_key=key,
        message_id=message_id(record["stream_id"], record["version"]),
        body=orjson.dumps(body),
        headers=headers,
        position=record["position"],
    )
