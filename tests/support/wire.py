"""The publisher's wire-format functions (`sav.workers.routing`) called with an event
type name such as "Ticket.Created", whichever way routing is keyed: by the event's
qualname string, or by its class (docs/decisions/0020-code-layout.md: dispatch on
classes). Only this module knows which; tests speak in type names.
"""

from __future__ import annotations

import inspect
from typing import Any

from sav.commands.app import SavApplication
from sav.events.agent import Agent
from sav.events.ticket import Ticket
from sav.history.feed import event_record
from sav.workers import routing

AGGREGATES: dict[str, type] = {"Ticket": Ticket, "Agent": Agent}
# Typed loosely: its signatures depend on how routing is keyed.
_routing: Any = routing
KEYED_BY_CLASS = "event_class" in inspect.signature(routing.routing_key).parameters


def event_class(event_type: str) -> type:
    """The stored event class named `event_type`, or a stand-in for one added later."""
    aggregate, _, name = event_type.partition(".")
    found = getattr(AGGREGATES.get(aggregate), name, None) if name else None
    if isinstance(found, type):
        return found
    return type(name or aggregate, (), {"__qualname__": event_type})


def routing_key(event_type: str) -> str:
    return str(_routing.routing_key(event_class(event_type) if KEYED_BY_CLASS else event_type))


def identity_of(record: dict[str, Any]) -> dict[str, Any] | None:
    if KEYED_BY_CLASS:
        found = _routing.identity_of(event_class(record["type"]), record["data"])
    else:
        found = _routing.identity_of(record)
    return None if found is None else dict(found)


def message_data(record: dict[str, Any], identity: dict[str, Any]) -> dict[str, Any]:
    return dict(_routing.message_data(*_keyed(record), identity))


def build_message(record: dict[str, Any], identity: dict[str, Any]) -> routing.OutgoingMessage:
    message: routing.OutgoingMessage = _routing.build_message(*_keyed(record), identity)
    return message


def _keyed(record: dict[str, Any]) -> tuple[Any, ...]:
    return (event_class(record["type"]), record) if KEYED_BY_CLASS else (record,)


def published(app: SavApplication) -> list[routing.OutgoingMessage]:
    """What the publisher sends for every stored event of `app`, in order."""
    identities: dict[str, dict[str, Any]] = {}
    out = []
    for notification in app.recorder.select_notifications(0, 10_000):
        record = event_record(notification, app.mapper.to_domain_event(notification))
        identity = identity_of(record)
        if identity is not None:
            identities[record["stream_id"]] = identity
        out.append(build_message(record, identities.get(record["stream_id"], {})))
    return out
