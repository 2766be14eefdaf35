"""The wire format of published messages (pure functions): routing keys, stable message
ids, the body envelope, identity on every message, and what is never published."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
import pytest

from sav.commands import messages, tickets
from sav.commands.actor import public_actor
from sav.commands.agents import UpsertAgent, upsert_agent
from sav.commands.app import SavApplication
from sav.workers import routing
from tests.support import wire
from tests.support.domain import ADMIN, AGENT, CUSTOMER, move, ticket_number_of

# docs/contract.md, "Events": the routing keys downstream services bind to.
KEYS = [
    ("Ticket.Created", "ticket.created"),
    ("Ticket.Updated", "ticket.updated"),
    ("Ticket.Assigned", "ticket.assigned"),
    ("Ticket.Started", "ticket.status_changed"),
    ("Ticket.MarkedWaitingOnCustomer", "ticket.status_changed"),
    ("Ticket.Resolved", "ticket.resolved"),
    ("Ticket.Closed", "ticket.closed"),
    ("Ticket.Reopened", "ticket.reopened"),
    ("Ticket.Deleted", "ticket.deleted"),
    ("Ticket.MessagePosted", "ticket.message.new"),
    ("Ticket.AttachmentAdded", "ticket.attachment.added"),
    ("Ticket.Escalated", "ticket.escalated"),
    ("Ticket.SatisfactionRated", "ticket.satisfaction.received"),
    ("Agent.Registered", "agent.updated"),
    ("Agent.Changed", "agent.updated"),
]


@pytest.mark.parametrize(("event_type", "key"), KEYS)
def test_routing_key_of_each_event(event_type: str, key: str) -> None:
    assert wire.routing_key(event_type) == key


@pytest.mark.parametrize(("event_type", "key"), [
    ("Ticket.PriorityRaised", "ticket.priority_raised"),
    ("Agent.Retired", "agent.retired"),
    ("Orphan", "orphan"),
    ("LooseEvent", "loose_event"),
])
def test_an_event_added_later_is_still_published(event_type: str, key: str) -> None:
    assert wire.routing_key(event_type) == key


def test_message_ids_are_stable_per_stream_and_version() -> None:
    stream = "7b0f2c34-0000-4000-8000-000000000001"
    assert routing.message_id(stream, 3) == routing.message_id(stream, 3)
    assert str(UUID(routing.message_id(stream, 3))) == routing.message_id(stream, 3)
    assert routing.message_id(stream, 3) != routing.message_id(stream, 4)
    assert routing.message_id(stream, 3) != routing.message_id(stream[:-1] + "2", 3)


def record(event_type: str, data: dict[str, Any], version: int = 2) -> dict[str, Any]:
    return {"position": 41, "type": event_type, "stream_id": "s-1", "version": version,
            "timestamp": "2026-03-02T09:00:00.000000Z", "data": data}


def test_the_body_is_the_envelope_and_headers_carry_position_and_version() -> None:
    message = wire.build_message(record("Ticket.Resolved", {"by": "a", "resolution": "r"}),
                                    {"ticket_number": "T-1"})
    body = orjson.loads(message.body)
    assert body == {"event": "ticket.resolved", "timestamp": "2026-03-02T09:00:00.000000Z",
                    "data": {"ticket_id": "s-1", "ticket_number": "T-1", "by": "a",
                             "resolution": "r", "status": "resolved"}}
    assert message.headers == {"x-sav-position": 41, "x-sav-version": 2,
                               "x-sav-stream-id": "s-1", "x-sav-event-type": "Ticket.Resolved"}
    assert (message.routing_key, message.position) == ("ticket.resolved", 41)
    assert message.message_id == routing.message_id("s-1", 2)


@pytest.mark.parametrize(("event_type", "status", "transition"), [
    ("Ticket.Created", "open", None),
    ("Ticket.Started", "in_progress", "started"),
    ("Ticket.MarkedWaitingOnCustomer", "waiting_customer", "waiting"),
    ("Ticket.Resolved", "resolved", None),
    ("Ticket.Closed", "closed", None),
    ("Ticket.Assigned", None, None),
    ("Ticket.Reopened", None, None),
])
def test_status_and_transition_in_the_data(event_type: str, status: str | None,
                                           transition: str | None) -> None:
    data = wire.message_data(record(event_type, {}), {})
    assert data.get("status") == status
    assert data.get("transition") == transition


def test_the_access_token_hash_is_never_published() -> None:
    data = wire.message_data(
        record("Ticket.Created", {"ticket_number": "T-1", "access_token_hash": "abc"}, 1), {})
    assert "access_token_hash" not in data and data["ticket_number"] == "T-1"


def test_agent_messages_carry_the_agent_identity() -> None:
    opening = record("Agent.Registered", {"agent_id": "agent-1", "name": "Ann"}, 1)
    identity = wire.identity_of(opening)
    assert identity == {"agent_id": "agent-1"}
    data = wire.message_data(record("Agent.Changed", {"name": "Ann B"}), identity)
    assert data == {"agent_aggregate_id": "s-1", "agent_id": "agent-1", "name": "Ann B"}


@pytest.mark.parametrize(("event_type", "identity"), [
    ("Ticket.Created", {"ticket_number": "T-1"}),
    ("Agent.Registered", {"agent_id": "agent-1"}),
    ("Ticket.Assigned", None),
    ("Agent.Changed", None),
])
def test_only_opening_events_define_identity(event_type: str,
                                             identity: dict[str, str] | None) -> None:
    opening = record(event_type, {"ticket_number": "T-1", "agent_id": "agent-1"})
    assert wire.identity_of(opening) == identity


def test_every_message_of_a_real_ticket_carries_its_id_and_number(app: SavApplication) -> None:
    outcome = tickets.create_ticket(
        app, public_actor("anon@example.com", None),
        tickets.CreateTicket(subject="Help", description="Please"), with_access_token=True)
    ticket_id = outcome.ticket_id
    move(app, ticket_id, "assign", "start")
    messages.post_message(app, AGENT, ticket_id, messages.PostMessage(content="Hi"))
    move(app, ticket_id, "resolve", "close")
    sent = wire.published(app)
    assert [m.routing_key for m in sent] == [
        "ticket.created", "ticket.assigned", "ticket.status_changed", "ticket.message.new",
        "ticket.resolved", "ticket.closed"]
    for message in sent:
        data = orjson.loads(message.body)["data"]
        assert (data["ticket_id"], data["ticket_number"]) == (
            str(ticket_id), ticket_number_of(outcome))
        assert b"access_token" not in message.body
    assert [m.position for m in sent] == sorted({m.position for m in sent})


def test_republishing_gives_the_same_message_ids(app: SavApplication) -> None:
    ticket_id = tickets.create_ticket(
        app, CUSTOMER, tickets.CreateTicket(subject="A", description="B")).ticket_id
    move(app, ticket_id, "assign")
    upsert_agent(app, ADMIN, "agent-1", UpsertAgent(name="Ann"))
    first, again = wire.published(app), wire.published(app)
    assert [m.message_id for m in first] == [m.message_id for m in again]
    assert len({m.message_id for m in first}) == len(first) == 3
    assert orjson.loads(first[-1].body)["data"]["agent_id"] == "agent-1"


def test_internal_notes_are_published_flagged_internal(app: SavApplication) -> None:
    ticket_id = tickets.create_ticket(
        app, CUSTOMER, tickets.CreateTicket(subject="A", description="B")).ticket_id
    messages.post_message(app, AGENT, ticket_id,
                          messages.PostMessage(content="staff only", is_internal=True))
    data = orjson.loads(wire.published(app)[-1].body)["data"]
    assert data["is_internal"] is True
