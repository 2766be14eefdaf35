"""`GET /tickets/{id}` answers from rendered views kept in memory while this process
projects; a view is never older than a write its reader waited for, never shows a
customer what only staff may see, and embeds the latest messages only."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

from sav.bootstrap import Services
from sav.events.ticket import Ticket
from sav.projections.messages import EMBEDDED_MESSAGES
from tests.support.http import ADMIN, AGENT, CUSTOMER, OTHER_CUSTOMER, Client, create_ticket


async def test_a_read_after_each_write_shows_that_write(client: Client) -> None:
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    for n in range(12):
        await client.get(path, as_=CUSTOMER)  # fill the view
        await client.get(path, as_=AGENT)
        wrote = await client.post(f"{path}/messages", as_=AGENT if n % 2 else CUSTOMER,
                                  json={"content": f"message {n}"})
        assert wrote.status == 201
        for who in (CUSTOMER, AGENT):
            seen = await client.get(path, as_=who)
            assert seen.json["messages"][-1]["content"] == f"message {n}"
            # issue 13: a GET's ETag is the version plus a digest of the caller's view
            assert seen.headers["etag"].startswith(f'"{seen.json["version"]}-')


async def test_views_are_kept_per_side_and_visibility_is_checked_per_caller(
        client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    note = await client.post(f"{path}/messages", as_=AGENT,
                             json={"content": "staff only", "is_internal": True})
    assert note.status == 201
    for _ in range(2):  # the second round is served from memory
        staff = await client.get(path, as_=ADMIN)
        own = await client.get(path, as_=CUSTOMER)
        stranger = await client.get(path, as_=OTHER_CUSTOMER)
        assert [m["content"] for m in staff.json["messages"]] == ["staff only"]
        assert own.json["messages"] == [] and "internal_notes" not in own.json
        assert stranger.status == 404
    assert services.views.get(ticket["id"], staff=True) is not None


async def test_concurrent_writes_and_reads_never_serve_an_older_version(
        client: Client) -> None:
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"

    async def writer(n: int) -> int:
        wrote = await client.put(path, as_=AGENT, json={"tags": [f"t{n}"]})
        assert wrote.status == 200
        version = int(wrote.headers["etag"].strip('"'))
        seen = await client.get(path, as_=AGENT)
        return int(seen.json["version"]) - version

    async def reader() -> None:
        for _ in range(20):
            assert (await client.get(path, as_=AGENT)).status == 200

    results = await asyncio.gather(*(writer(n) for n in range(10)), reader(), reader())
    assert all(lag >= 0 for lag in results[:10])


async def test_the_latest_messages_are_embedded_with_a_link_to_the_rest(
        client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    ticket_id = UUID(ticket["id"])
    total = EMBEDDED_MESSAGES + 7

    def post(t: Ticket) -> None:
        for i in range(total):
            t.post_message(str(uuid4()), CUSTOMER[0], "customer", None, None, f"m{i}", False)

    await asyncio.to_thread(services.app.change_ticket, ticket_id, post)
    await client.post(f"/tickets/{ticket_id}/messages", as_=AGENT, json={"content": "last"})
    body = (await client.get(f"/tickets/{ticket_id}", as_=CUSTOMER)).json
    contents = [m["content"] for m in body["messages"]]
    assert len(contents) == EMBEDDED_MESSAGES and contents[-1] == "last"
    assert contents[0] == f"m{total - EMBEDDED_MESSAGES + 1}"
    assert body["messages_truncated"] is True
    assert body["messages_url"] == f"/tickets/{ticket_id}/messages"
    listed = await client.get(body["messages_url"] + "?limit=5", as_=CUSTOMER)
    assert [m["content"] for m in listed.json["data"]] == [f"m{i}" for i in range(5)]
