"""What a careful API client trips on in the domain (issue 19), on both profiles:
optimistic concurrency on messages, erased tickets read-only, removed messages gone
from customers' views, unassign, staff-only fields at creation, strict lists, restore.
(docs/decisions/0160-careful-client-domain.md)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sav.privacy import erasure
from tests.support.attachments import upload
from tests.support.http import ADMIN, AGENT, CUSTOMER, Client, create_ticket


async def message(client: Client, ticket_id: str, content: str,
                  as_: tuple[str, str] = CUSTOMER, **headers: str) -> Any:
    return await client.post(f"/tickets/{ticket_id}/messages", as_=as_,
                             json={"content": content}, headers=headers)


# -- 1. optimistic concurrency on messages -------------------------------------------


async def test_a_message_has_an_etag_on_every_read_and_write(client: Client) -> None:
    ticket = await create_ticket(client)
    posted = await message(client, ticket["id"], "hello")
    assert posted.status == 201 and posted.headers.get("etag") == '"2"', posted
    path = f"/tickets/{ticket['id']}/messages/{posted.json['id']}"
    read = await client.get(path, as_=CUSTOMER)
    assert read.status == 200 and read.headers.get("etag") == '"2"', read
    # Another message changes the ticket, not this message's version.
    await message(client, ticket["id"], "and another thing")
    assert (await client.get(path, as_=CUSTOMER)).headers.get("etag") == '"2"'
    edited = await client.put(path, as_=CUSTOMER, json={"content": "hello!"},
                              headers={"If-Match": '"2"'})
    assert edited.status == 200 and edited.headers.get("etag") == '"4"', edited
    assert (await client.get(path, as_=CUSTOMER)).headers.get("etag") == '"4"'


async def test_a_stale_if_match_on_a_message_is_412_with_its_current_version(
        client: Client) -> None:
    ticket = await create_ticket(client)
    posted = await message(client, ticket["id"], "hello")
    path = f"/tickets/{ticket['id']}/messages/{posted.json['id']}"
    assert (await client.put(path, as_=CUSTOMER, json={"content": "v2"})).status == 200
    for method in (client.put, client.delete):
        stale = await method(path, as_=CUSTOMER, json={"content": "v3"},
                             headers={"If-Match": '"2"'})
        assert stale.status == 412, stale
        assert stale.json["error"]["code"] == "precondition_failed"
        assert {"field": "current_version", "message": "3"} in stale.json["error"]["details"]
        garbage = await method(path, as_=CUSTOMER, json={"content": "v3"},
                               headers={"If-Match": "garbage"})
        assert garbage.status == 412, garbage
    assert (await client.get(path, as_=CUSTOMER)).json["content"] == "v2"
    gone = await client.delete(path, as_=CUSTOMER, headers={"If-Match": '"3"'})
    assert gone.status == 200, gone


async def test_a_reply_with_if_match_refers_to_the_ticket(client: Client) -> None:
    ticket = await create_ticket(client)
    seen = (await client.get(f"/tickets/{ticket['id']}", as_=AGENT)).headers["etag"]
    await message(client, ticket["id"], "I forgot: it is the blue one")  # the customer
    stale = await message(client, ticket["id"], "we will send a red one", as_=AGENT,
                          **{"If-Match": seen})
    assert stale.status == 412, stale
    assert {"field": "current_version", "message": "2"} in stale.json["error"]["details"]
    fresh = (await client.get(f"/tickets/{ticket['id']}", as_=AGENT)).headers["etag"]
    answered = await message(client, ticket["id"], "a blue one then", as_=AGENT,
                             **{"If-Match": fresh})
    assert answered.status == 201, answered
    assert (await message(client, ticket["id"], "no condition", as_=AGENT)).status == 201


# -- 3. erased tickets are read-only -------------------------------------------------


async def erase(client: Client, body: dict[str, str]) -> None:
    started = await client.post("/privacy/erasures", as_=ADMIN, json=body)
    assert started.status == 202, started
    for _ in range(200):
        status = await client.get(f"/privacy/erasures/{started.json['id']}", as_=ADMIN)
        if status.json["status"] == "done":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the erasure never became done")


async def test_every_write_to_an_erased_ticket_is_409_ticket_erased(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(erasure, "CACHE_SECONDS", 0.0)
    ticket = await create_ticket(client)
    base = f"/tickets/{ticket['id']}"
    posted = await message(client, ticket["id"], "my card is 4111")
    attached = await upload(client, ticket["id"])
    assert attached.status == 201, attached
    attachment = attached.json["id"] if "id" in attached.json else attached.json[0]["id"]
    await erase(client, {"user_id": CUSTOMER[0]})
    writes = [
        (client.put, base, ADMIN, {"subject": "new"}),
        (client.post, f"{base}/messages", AGENT, {"content": "hello?"}),
        (client.post, f"{base}/messages", CUSTOMER, {"content": "me again"}),
        (client.put, f"{base}/messages/{posted.json['id']}", ADMIN, {"content": "x"}),
        (client.delete, f"{base}/messages/{posted.json['id']}", ADMIN, None),
        (client.post, f"{base}/assign", ADMIN, {"agent_id": AGENT[0]}),
        (client.post, f"{base}/start", ADMIN, None),
        (client.post, f"{base}/resolve", ADMIN, {}),
        (client.post, f"{base}/close", ADMIN, {}),
        (client.post, f"{base}/messages/mark-all-read", ADMIN, None),
        (client.delete, f"{base}/attachments/{attachment}", ADMIN, None),
        (client.delete, base, ADMIN, None),
    ]
    for method, path, who, body in writes:
        refused = await method(path, as_=who, json=body)
        assert refused.status == 409, (path, refused)
        assert refused.json["error"]["code"] == "ticket_erased", (path, refused)
    again = await upload(client, ticket["id"], as_=ADMIN)
    assert again.status == 409 and again.json["error"]["code"] == "ticket_erased", again
    download = await client.get(f"{base}/attachments/{attachment}/download", as_=ADMIN)
    assert download.status in (404, 410), download
    shown = (await client.get(base, as_=ADMIN)).json
    assert shown["erased"] is True and shown["subject"] is None


async def test_the_public_view_of_an_erased_ticket_says_so(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(erasure, "CACHE_SECONDS", 0.0)
    created = await client.post("/public/tickets", json={
        "email": "jo@example.com", "name": "Jo", "subject": "Hello",
        "description": "my order is late"})
    assert created.status == 201, created
    token = created.json["access_token"]
    number = created.json["ticket_number"]
    await erase(client, {"email": "jo@example.com"})
    shown = await client.get(f"/public/tickets/{number}", headers={"X-Access-Token": token})
    assert shown.status == 200, shown
    assert shown.json["erased"] is True
    assert shown.json["subject"] is None and shown.json["contact_email"] is None
    reply = await client.post(f"/public/tickets/{number}/messages",
                              headers={"X-Access-Token": token}, json={"content": "hi"})
    assert reply.status == 409 and reply.json["error"]["code"] == "ticket_erased", reply
