"""Anonymous tickets over HTTP on both profiles: token access, privacy, replies, limits."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import select

from sav.bootstrap import Services
from sav.projections.tickets import support_tickets
from tests.support.http import ADMIN, AGENT, Client

NEW_TICKET = {"email": "ann@example.com", "name": "Ann", "subject": "Broken lamp",
              "description": "It flickers", "priority": "high"}


async def open_public_ticket(client: Client, **fields: Any) -> dict[str, Any]:
    response = await client.post("/public/tickets", json={**NEW_TICKET, **fields})
    assert response.status == 201, response
    return response.json  # type: ignore[no-any-return]


def with_token(ticket: dict[str, Any]) -> dict[str, str]:
    return {"X-Access-Token": ticket["access_token"]}


async def test_create_returns_number_and_token_once(client: Client, services: Services) -> None:
    ticket = await open_public_ticket(client)
    assert ticket["ticket_number"].startswith("TICKET-")
    assert len(ticket["access_token"]) >= 32
    assert ticket["contact_email"] == "ann@example.com" and ticket["contact_name"] == "Ann"
    assert ticket["priority"] == "high" and ticket["status"] == "open"
    for hidden in ("internal_notes", "assigned_to", "access_token_hash", "metadata",
                   "user_id", "tags"):
        assert hidden not in ticket
    # Only the SHA-256 of the token is stored.
    with services.engine.connect() as conn:
        stored = conn.execute(select(support_tickets.c.access_token_hash)).scalar()
    assert stored == hashlib.sha256(ticket["access_token"].encode()).hexdigest()
    looked_up = await client.get(f"/public/tickets/{ticket['ticket_number']}",
                                 headers=with_token(ticket))
    assert looked_up.status == 200 and "access_token" not in looked_up.json


async def test_staff_see_the_public_ticket_with_contact(client: Client) -> None:
    ticket = await open_public_ticket(client)
    staff = (await client.get(f"/tickets/{ticket['id']}", as_=AGENT)).json
    assert staff["contact_email"] == "ann@example.com" and staff["user_id"] is None
    assert staff["source"] == "web"


async def test_lookup_accepts_header_or_query_token(client: Client) -> None:
    ticket = await open_public_ticket(client)
    number, token = ticket["ticket_number"], ticket["access_token"]
    by_header = await client.get(f"/public/tickets/{number}", headers={"X-Access-Token": token})
    by_query = await client.get(f"/public/tickets/{number}?token={token}")
    by_id = await client.get(f"/public/tickets/{ticket['id']}?token={token}")
    assert by_header.status == by_query.status == by_id.status == 200
    assert by_header.json == by_query.json == by_id.json


async def test_wrong_or_missing_token_looks_like_a_missing_ticket(client: Client) -> None:
    ticket = await open_public_ticket(client)
    other = await open_public_ticket(client)
    number = ticket["ticket_number"]
    answers = [
        await client.get(f"/public/tickets/{number}"),
        await client.get(f"/public/tickets/{number}", headers={"X-Access-Token": "nope"}),
        await client.get(f"/public/tickets/{number}", headers=with_token(other)),
        await client.get("/public/tickets/TICKET-19990101-001", headers=with_token(ticket)),
        await client.post(f"/public/tickets/{number}/messages", json={"content": "hi"}),
        await client.post(f"/public/tickets/{number}/satisfaction", json={"rating": 5}),
    ]
    for answer in answers:
        assert answer.status == 404, answer
        assert answer.json == {"error": {"code": "not_found", "message": "ticket not found"}}


async def test_tickets_created_by_customers_have_no_public_access(client: Client) -> None:
    response = await client.post("/tickets", as_=("cust-1", "customer"),
                                 json={"subject": "s", "description": "d"})
    number = response.json["ticket_number"]
    assert (await client.get(f"/public/tickets/{number}?token=")).status == 404


async def test_lookup_shows_public_messages_only(client: Client) -> None:
    ticket = await open_public_ticket(client)
    path = f"/tickets/{ticket['id']}"
    await client.post(f"{path}/messages", as_=AGENT, json={"content": "Hello Ann"})
    await client.post(f"{path}/messages", as_=AGENT,
                      json={"content": "SECRET refund abuse", "is_internal": True})
    await client.put(path, as_=AGENT, json={"internal_notes": "SECRET vip list"})
    looked_up = await client.get(f"/public/tickets/{ticket['ticket_number']}",
                                 headers=with_token(ticket))
    assert [m["content"] for m in looked_up.json["messages"]] == ["Hello Ann"]
    assert "SECRET" not in looked_up.body.decode()
    assert looked_up.json["first_response_at"] is not None


async def test_public_reply_is_the_contact_and_wakes_the_ticket(client: Client) -> None:
    ticket = await open_public_ticket(client)
    path = f"/tickets/{ticket['id']}"
    await client.post(f"{path}/assign", as_=ADMIN, json={"agent_id": AGENT[0]})
    await client.post(f"{path}/wait", as_=AGENT)
    reply = await client.post(f"/public/tickets/{ticket['ticket_number']}/messages",
                              headers=with_token(ticket), json={"content": "Here you go"})
    assert reply.status == 201
    assert reply.json["author_email"] == "ann@example.com" and reply.json["user_id"] is None
    assert reply.json["author_name"] == "Ann" and reply.json["is_internal"] is False
    assert (await client.get(path, as_=AGENT)).json["status"] == "in_progress"
    by_id = await client.post(f"/public/tickets/{ticket['id']}/messages",
                              headers=with_token(ticket), json={"content": "And more"})
    assert by_id.status == 201
    unread = await client.get(f"{path}/messages/unread-count", as_=AGENT)
    assert unread.json == {"count": 2}


async def test_public_reply_cannot_be_internal_or_empty(client: Client, services: Services) -> None:
    ticket = await open_public_ticket(client)
    path = f"/public/tickets/{ticket['ticket_number']}/messages"
    before = services.app.recorder.max_notification_id()
    internal = await client.post(path, headers=with_token(ticket),
                                 json={"content": "x", "is_internal": True})
    assert internal.status == 422
    assert (await client.post(path, headers=with_token(ticket),
                              json={"content": " "})).status == 422
    assert (await client.post(path, headers={**with_token(ticket), "content-type":
                              "application/json"}, content=b"{oops")).status == 400
    assert services.app.recorder.max_notification_id() == before


async def test_no_public_reply_on_closed_ticket(client: Client) -> None:
    ticket = await open_public_ticket(client)
    await client.post(f"/tickets/{ticket['id']}/close", as_=ADMIN)
    response = await client.post(f"/public/tickets/{ticket['ticket_number']}/messages",
                                 headers=with_token(ticket), json={"content": "hello?"})
    assert response.status == 409


@pytest.mark.parametrize("body", [
    {"email": "not-an-email", "subject": "s", "description": "d"},
    {"email": "a@example.com", "subject": "", "description": "d"},
    {"email": "a@example.com", "subject": "s"},
    {"email": "a@example.com", "subject": "s", "description": "d", "priority": "asap"},
    {"email": "a@example.com", "subject": "s", "description": "d", "user_id": "admin-1"},
])
async def test_bad_public_create_is_422_and_writes_nothing(
    client: Client, services: Services, body: dict[str, Any]
) -> None:
    before = services.app.recorder.max_notification_id()
    response = await client.post("/public/tickets", json=body)
    assert response.status == 422, response
    assert response.json["error"]["code"] == "validation_failed"
    assert services.app.recorder.max_notification_id() == before


async def test_malformed_public_create_is_400(client: Client, services: Services) -> None:
    before = services.app.recorder.max_notification_id()
    response = await client.post("/public/tickets", content=b"{nope",
                                 headers={"content-type": "application/json"})
    assert response.status == 400 and response.json["error"]["code"] == "bad_request"
    assert services.app.recorder.max_notification_id() == before


async def test_name_is_optional(client: Client) -> None:
    ticket = await open_public_ticket(client, name=None)
    assert ticket["contact_name"] is None


class TestRateLimit:
    @pytest.fixture
    def settings_env(self) -> dict[str, str]:
        return {"SAV_PUBLIC_RATE_LIMIT": "3", "SAV_PUBLIC_RATE_WINDOW_SECONDS": "60"}

    async def test_public_routes_answer_429_with_retry_after(self, client: Client) -> None:
        ticket = await open_public_ticket(client)
        number = ticket["ticket_number"]
        assert (await client.get(f"/public/tickets/{number}",
                                 headers=with_token(ticket))).status == 200
        assert (await client.get(f"/public/tickets/{number}")).status == 404
        limited = await client.get(f"/public/tickets/{number}", headers=with_token(ticket))
        assert limited.status == 429
        assert limited.json["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await client.post("/public/tickets", json=NEW_TICKET)).status == 429
        # Authenticated routes are not limited by the public budget.
        assert (await client.get("/tickets", as_=AGENT)).status == 200
