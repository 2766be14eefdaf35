"""Events stored by an earlier version of SAV still load, project and replay (stored
events are permanent: docs/decisions/0010-snapshots-and-event-versioning.md)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import select

from sav.bootstrap import Services
from sav.events.catalog import ALL_EVENTS, ERASURE_EVENTS
from sav.eventstore.db import write_transaction
from sav.eventstore.schema import event_sequence, stored_events
from sav.projections.tickets import support_tickets
from sav.workers import projections as projection_worker
from tests.support.http import ADMIN, CUSTOMER, Client

FIXTURE = Path(__file__).parents[1] / "fixtures" / "store-v1.jsonl"
# Every event class version 1 knew (erasures came with issue 12, in their first version;
# later kinds, from Ticket.Unassigned on, were never written by version 1). The fixture
# must hold each of them, and each must still be a class the catalog loads.
V1_KINDS = frozenset({
    "Agent.Changed", "Agent.Registered", "Ticket.Assigned", "Ticket.AttachmentAdded",
    "Ticket.AttachmentRemoved", "Ticket.Closed", "Ticket.Created", "Ticket.Deleted",
    "Ticket.Escalated", "Ticket.LinkedToUser", "Ticket.MarkedWaitingOnCustomer",
    "Ticket.MessageEdited", "Ticket.MessagePosted", "Ticket.MessageRemoved",
    "Ticket.MessagesRead", "Ticket.Reopened", "Ticket.Resolved", "Ticket.SatisfactionRated",
    "Ticket.Started", "Ticket.SurveyRequested", "Ticket.Updated",
})


def load_fixture(services: Services) -> list[dict[str, Any]]:
    records = [orjson.loads(line) for line in FIXTURE.read_text().splitlines()]
    with write_transaction(services.engine) as conn:
        conn.execute(stored_events.insert(), [
            {"notification_id": r["position"], "originator_id": r["originator_id"],
             "originator_version": r["originator_version"], "topic": r["topic"],
             "state": base64.b64decode(r["state"])} for r in records])
        conn.execute(event_sequence.update().values(last_id=records[-1]["position"]))
    return records


async def test_a_store_written_by_version_one_loads_projects_and_replays(
        services: Services, client: Client) -> None:
    records = load_fixture(services)
    assert {r["topic"].split(":")[1] for r in records} == V1_KINDS
    assert V1_KINDS.issubset(c.__qualname__ for c in ALL_EVENTS if c not in ERASURE_EVENTS)
    assert await services.read_model.wait(records[-1]["position"])

    ticket_ids = {r["originator_id"] for r in records if "Ticket." in r["topic"]}
    for ticket_id in ticket_ids:
        ticket = services.app.repository.get(UUID(ticket_id))
        assert ticket.version == max(r["originator_version"] for r in records
                                     if r["originator_id"] == ticket_id)
        for stored in services.app.events.get(UUID(ticket_id)):
            assert type(stored) in ALL_EVENTS
            assert set(stored.actor) == {"id", "role"}  # upcast to version 2

    actors = [(type(e).__qualname__, e.actor) for r in {r["originator_id"] for r in records}
              for e in services.app.events.get(UUID(r))]
    assert ("Ticket.Escalated", {"id": "system", "role": "system"}) in actors
    assert ("Ticket.MessagePosted", {"id": "agent-1", "role": "agent"}) in actors
    assert ("Ticket.SatisfactionRated", {"id": "cust-1", "role": "customer"}) in actors
    assert ("Agent.Registered", {"id": None, "role": "admin"}) in actors
    assert ("Ticket.Assigned", {"id": "admin-1", "role": None}) in actors  # v1: no role

    listed = await client.get("/tickets?limit=100", as_=ADMIN)
    by_subject = {t["subject"]: t for t in listed.json["data"]}
    assert by_subject["Parcel lost"]["status"] == "closed"
    assert by_subject["Parcel lost"]["satisfaction_rating"] == 4
    assert by_subject["Where is my order"]["user_id"] == "cust-3"
    assert "Broken mug" not in by_subject  # deleted
    own = await client.get(f"/tickets/{by_subject['Parcel lost']['id']}", as_=CUSTOMER)
    assert [m["content"] for m in own.json["messages"]] == ["Looking into it now", "Any news?"]

    def table() -> list[Any]:
        with services.engine.connect() as conn:
            return list(conn.execute(select(support_tickets).order_by(
                support_tickets.c.seq)).all())

    live = table()
    services.background.close()
    applied = projection_worker.replay(services.app, services.engine)
    assert applied == len(records) and table() == live
