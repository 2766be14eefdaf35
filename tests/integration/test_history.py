"""`GET /tickets/{id}/history`: one entry per event of the ticket, oldest first, paginated;
staff and analysts see everything, customers never a staff-only entry or field."""

from __future__ import annotations

from typing import Any

import pytest

from sav.projections.schema import iso
from tests.support.http import (
    ADMIN,
    AGENT,
    ANALYST,
    CUSTOMER,
    OTHER_AGENT,
    OTHER_CUSTOMER,
    Client,
)
from tests.support.story import NOTE, NOTES_FIELD, Story, tell_story

TYPES = ["ticket.created", "ticket.updated", "ticket.assigned", "ticket.status_changed",
         "ticket.message.new", "ticket.attachment.added", "ticket.message.updated",
         "ticket.message.new", "ticket.updated", "ticket.status_changed", "ticket.message.new",
         "ticket.status_changed", "ticket.attachment.added", "ticket.message.read",
         "ticket.updated", "ticket.resolved", "ticket.satisfaction.received",
         "ticket.reopened"]
# The versions of the note, its attachment, its edit and the internal_notes-only update.
STAFF_ONLY_VERSIONS = {5, 6, 7, 15}


async def history(client: Client, story: Story, as_: tuple[str, str], query: str = ""
                  ) -> dict[str, Any]:
    response = await client.get(f"/tickets/{story.ticket_id}/history{query}", as_=as_)
    assert response.status == 200, response
    return response.json  # type: ignore[no-any-return]


async def every_entry(client: Client, story: Story, as_: tuple[str, str], limit: int
                      ) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    query = f"?limit={limit}"
    while True:
        page = await history(client, story, as_, query)
        assert len(page["data"]) <= limit
        entries += page["data"]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            return entries
        query = f"?limit={limit}&cursor={cursor}"


async def test_staff_and_analysts_read_every_event_oldest_first(client: Client) -> None:
    story = await tell_story(client)
    bodies = [await history(client, story, who, "?limit=100") for who in (ADMIN, AGENT, ANALYST)]
    assert bodies[0] == bodies[1] == bodies[2]
    entries = bodies[0]["data"]
    assert bodies[0]["pagination"] == {"limit": 100, "next_cursor": None}
    assert [e["type"] for e in entries] == TYPES
    assert [e["version"] for e in entries] == list(range(1, 19))
    positions = [e["position"] for e in entries]
    assert positions == sorted(positions) and len(set(positions)) == 18
    at = {step.version: iso(step.at) for step in story.steps}
    assert all(e["occurred_at"] == at.get(e["version"], e["occurred_at"]) for e in entries)
    assert all(e["occurred_at"].endswith("Z") for e in entries)
    by_version = {e["version"]: e for e in entries}
    created = by_version[1]
    assert created["actor"] == {"id": CUSTOMER[0], "role": "customer"}
    assert created["changes"]["subject"] == "Parcel lost"
    assert created["changes"]["status"] == "open"
    assert "access_token_hash" not in created["changes"]
    assert by_version[3]["changes"] == {"assigned_to": AGENT[0], "status": "assigned"}
    assert by_version[3]["actor"] == {"id": ADMIN[0], "role": "admin"}
    assert by_version[5]["changes"]["content"] == NOTE
    assert by_version[5]["changes"]["is_internal"] is True
    assert by_version[8]["changes"]["first_response_at"] == at[8]
    assert by_version[9]["changes"] == {"category": "delivery", "internal_notes": NOTES_FIELD}
    assert by_version[12]["changes"] == {"status": "in_progress"}
    assert by_version[12]["actor"] == {"id": CUSTOMER[0], "role": "customer"}
    assert by_version[16]["changes"] == {"status": "resolved", "resolved_at": at[16],
                                         "resolution_notes": "Refunded"}
    assert by_version[17]["changes"] == {"satisfaction_rating": 4,
                                         "satisfaction_comment": "ok"}
    assert by_version[18]["changes"] == {"status": "in_progress", "resolved_at": None,
                                         "reason": "the refund never came"}


async def test_customers_never_see_staff_only_entries_or_fields(client: Client) -> None:
    story = await tell_story(client)
    response = await client.get(f"/tickets/{story.ticket_id}/history?limit=100", as_=CUSTOMER)
    assert response.status == 200, response
    entries = response.json["data"]
    assert [e["version"] for e in entries] == [v for v in range(1, 19)
                                               if v not in STAFF_ONLY_VERSIONS]
    by_version = {e["version"]: e for e in entries}
    assert by_version[9]["changes"] == {"category": "delivery"}
    assert by_version[18]["changes"] == {"status": "in_progress", "resolved_at": None}
    assert "origin" not in by_version[1]["changes"]
    body = response.body.decode()
    for secret in (NOTE, NOTES_FIELD, "evidence.pdf", story.internal_message_id,
                   "internal_notes"):
        assert secret not in body


async def test_pages_follow_the_cursor_to_the_same_entries(client: Client) -> None:
    story = await tell_story(client)
    for who in (ADMIN, CUSTOMER):
        whole = (await history(client, story, who, "?limit=100"))["data"]
        assert await every_entry(client, story, who, limit=4) == whole
        assert await every_entry(client, story, who, limit=1) == whole
    first = await history(client, story, ADMIN)
    assert len(first["data"]) == 18 and first["pagination"] == {"limit": 20,
                                                                "next_cursor": None}


async def test_history_by_ticket_number_and_visibility(client: Client) -> None:
    story = await tell_story(client)
    by_number = await client.get(f"/tickets/{story.ticket_number}/history?limit=100",
                                 as_=ADMIN)
    assert by_number.json == await history(client, story, ADMIN, "?limit=100")
    for stranger in (OTHER_CUSTOMER, OTHER_AGENT):
        hidden = await client.get(f"/tickets/{story.ticket_id}/history", as_=stranger)
        assert hidden.status == 404, hidden
    missing = await client.get("/tickets/5d0f7b43-25c4-4b52-9a34-3a8c1f6f1c11/history",
                               as_=ADMIN)
    assert missing.status == 404
    assert (await client.get(f"/tickets/{story.ticket_id}/history")).status == 401


@pytest.mark.parametrize(("query", "field"), [
    ("?limit=0", "limit"), ("?limit=101", "limit"), ("?limit=ten", "limit"),
    ("?cursor=not-a-cursor", "cursor"), ("?cursor=czE", "cursor")])
async def test_bad_history_parameters_are_422_naming_the_field(
        client: Client, query: str, field: str) -> None:
    ticket = (await client.post("/tickets", as_=CUSTOMER, json={
        "subject": "s", "description": "d"})).json
    response = await client.get(f"/tickets/{ticket['id']}/history{query}", as_=CUSTOMER)
    if field == "cursor" and query.endswith("czE"):  # a well-formed cursor: just past the end
        assert response.status == 200 and response.json["data"] == []
        return
    assert response.status == 422, response
    details = response.json["error"]["details"]
    assert [d["field"] for d in details] == [field]
    assert all(set(d) == {"field", "message"} for d in details)


async def test_a_public_tickets_history_never_shows_its_access_token(client: Client) -> None:
    created = await client.post("/public/tickets", json={
        "email": "ann@example.com", "name": "Ann", "subject": "s", "description": "d"})
    assert created.status == 201, created
    response = await client.get(f"/tickets/{created.json['id']}/history", as_=ADMIN)
    assert response.status == 200, response
    [entry] = response.json["data"]
    assert entry["actor"] == {"id": None, "role": "customer"}
    assert entry["changes"]["contact_email"] == "ann@example.com"
    assert "access_token" not in response.body.decode()
