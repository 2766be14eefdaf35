"""Live conversations (issue 27), on both profiles, in process: the JSON form of
`/tickets/{id}/events` and `/public/tickets/{number}/events`, who may read them, agent
collision (`POST /tickets/{id}/viewing`, `viewers` on staff views, shared by replicas in
the database or Redis), and the one tailer that feeds every stream of a process.
The streams themselves, over real sockets: tests/e2e/test_live_sse.py."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import orjson
import pytest

from sav.api.app import create_app
from sav.api.events import StoreHead
from sav.api.presence import RedisPresence, SqlPresence
from sav.bootstrap import Services, bootstrap
from sav.config import Settings
from sav.history.feed import EventFeed
from sav.history.live import LiveItem, PresenceItem, Subscription, TicketTailer, catch_up
from tests.support.http import (
    ADMIN,
    AGENT,
    CUSTOMER,
    OTHER_AGENT,
    OTHER_CUSTOMER,
    Client,
    create_ticket,
)

REDIS_URL = (f"redis://{os.environ.get('SAV_TEST_REDIS_HOST', '127.0.0.1')}:"
             f"{os.environ.get('SAV_TEST_REDIS_PORT', '6379')}/0")


async def conversation(client: Client) -> dict[str, Any]:
    """A customer's ticket, assigned to agent-1, with a public reply and an internal note."""
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    assert (await client.post(f"{path}/assign", as_=ADMIN,
                              json={"agent_id": AGENT[0]})).status == 200
    for content, internal in (("We ship today", False), ("Refund if late", True)):
        posted = await client.post(f"{path}/messages", as_=AGENT,
                                   json={"content": content, "is_internal": internal})
        assert posted.status == 201, posted
    return ticket


async def test_without_the_stream_header_the_route_answers_the_history_page(
        client: Client) -> None:
    ticket = await conversation(client)
    path = f"/tickets/{ticket['id']}"
    for caller in (CUSTOMER, AGENT, ADMIN):
        events = await client.get(f"{path}/events?limit=3", as_=caller)
        history = await client.get(f"{path}/history?limit=3", as_=caller)
        assert events.status == history.status == 200
        assert events.json == history.json, caller
    head = await client.request("HEAD", f"{path}/events", as_=CUSTOMER,
                                headers={"Accept": "text/event-stream"})
    assert head.status == 200 and head.headers["content-type"] == "application/json"
    staff = (await client.get(f"{path}/events?limit=100", as_=AGENT)).json["data"]
    customer = (await client.get(f"{path}/events?limit=100", as_=CUSTOMER)).json["data"]
    assert any(e["changes"].get("content") == "Refund if late" for e in staff)
    assert not any(e["changes"].get("content") == "Refund if late" for e in customer)
    assert any(e["changes"].get("content") == "We ship today" for e in customer)


async def test_a_stranger_gets_404_as_for_the_ticket(client: Client) -> None:
    ticket = await conversation(client)
    for headers in ({}, {"Accept": "text/event-stream"}):
        stranger = await client.get(f"/tickets/{ticket['id']}/events", as_=OTHER_CUSTOMER,
                                    headers=headers)
        assert stranger.status == 404 and stranger.json["error"]["code"] == "not_found"
        other_agent = await client.get(f"/tickets/{ticket['id']}/events", as_=OTHER_AGENT,
                                       headers=headers)
        assert other_agent.status == 404
    number = ticket["ticket_number"]
    for token in ("", "?token=wrong"):
        public = await client.get(f"/public/tickets/{number}/events{token}",
                                  headers={"Accept": "text/event-stream"})
        assert public.status == 404
    bad = await client.get(f"/tickets/{ticket['id']}/events", as_=CUSTOMER,
                           headers={"Accept": "text/event-stream", "Last-Event-ID": "x"})
    assert bad.status == 422


async def test_the_public_side_reads_the_customers_history_with_its_token(
        client: Client) -> None:
    created = await client.post("/public/tickets", json={
        "email": "jo@example.com", "subject": "Broken lid", "description": "Lid"})
    assert created.status == 201
    number, token = created.json["ticket_number"], created.json["access_token"]
    ticket_id = created.json["id"]
    assert (await client.post(f"/tickets/{ticket_id}/messages", as_=ADMIN, json={
        "content": "staff only", "is_internal": True})).status == 201
    page = await client.get(f"/public/tickets/{number}/events",
                            headers={"X-Access-Token": token})
    assert page.status == 200 and "ratelimit" in page.headers
    assert [e["type"] for e in page.json["data"]] == ["ticket.created"]
    by_query = await client.get(f"/public/tickets/{number}/events?token={token}")
    assert by_query.json == page.json


async def test_presence_is_seen_by_another_agent_and_never_by_the_customer(
        client: Client) -> None:
    ticket = await create_ticket(client)
    path = f"/tickets/{ticket['id']}"
    marked = await client.post(f"{path}/viewing", as_=AGENT)
    assert marked.status == 204 and marked.body == b""
    seen = await client.get(path, as_=OTHER_AGENT)
    assert [v["id"] for v in seen.json["viewers"]] == [AGENT[0]]
    assert seen.json["viewers"][0]["since"].endswith("+00:00")
    assert (await client.get(path, as_=AGENT)).json["viewers"] == []  # not oneself
    assert "viewers" not in (await client.get(path, as_=CUSTOMER)).json
    public = await client.get(f"/public/tickets/{ticket['ticket_number']}")
    assert "viewers" not in (public.json or {})
    # Customers cannot mark; nobody marks a ticket they cannot see.
    assert (await client.post(f"{path}/viewing", as_=CUSTOMER)).status == 403
    assert (await client.post(f"{path}/viewing", as_=OTHER_CUSTOMER)).status == 403
    assert (await client.post(f"/tickets/{uuid.uuid4()}/viewing", as_=AGENT)).status == 404
    # A second mark keeps `since`; the second agent's mark shows to the first.
    before = seen.json["viewers"][0]["since"]
    assert (await client.post(f"{path}/viewing", as_=AGENT)).status == 204
    assert (await client.post(f"{path}/viewing", as_=OTHER_AGENT)).status == 204
    again = await client.get(path, as_=ADMIN)
    assert {v["id"]: v["since"] for v in again.json["viewers"]}[AGENT[0]] == before
    assert [v["id"] for v in (await client.get(path, as_=AGENT)).json["viewers"]] == [
        OTHER_AGENT[0]]


async def test_viewing_honours_idempotency_key(client: Client) -> None:
    ticket = await create_ticket(client)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post(f"/tickets/{ticket['id']}/viewing", as_=AGENT, headers=key)
    again = await client.post(f"/tickets/{ticket['id']}/viewing", as_=AGENT, headers=key)
    assert first.status == again.status == 204
    assert again.headers.get("idempotent-replayed") == "true"


@pytest.fixture
async def replicas(settings: Settings, services: Services) -> AsyncIterator[tuple[Client, Client]]:
    """Two API processes on one database, each with its own services."""
    second = bootstrap(settings)
    one, two = Client(create_app(settings, services)), Client(create_app(settings, second))
    yield one, two
    await one.aclose()
    await two.aclose()
    await second.aclose()


async def test_replicas_share_who_views_a_ticket(replicas: tuple[Client, Client]) -> None:
    one, two = replicas
    ticket = await create_ticket(one)
    assert (await one.post(f"/tickets/{ticket['id']}/viewing", as_=AGENT)).status == 204
    seen = await two.get(f"/tickets/{ticket['id']}", as_=OTHER_AGENT)
    assert [v["id"] for v in seen.json["viewers"]] == [AGENT[0]]


@pytest.mark.parametrize("store", ["database", "redis"])
async def test_marks_expire_after_thirty_seconds_and_since_restarts(
        services: Services, store: str) -> None:
    clock = FakeClock(1_000_000.0)
    presence: Any = (RedisPresence(REDIS_URL, clock) if store == "redis"
                     else SqlPresence(services.read_engine, clock))
    ticket = str(uuid.uuid4())  # marks of this test only (Redis outlives it)
    try:
        await presence.mark(ticket, "agent-1")
        clock.now += 20
        await presence.mark(ticket, "agent-2")
        await presence.mark(ticket, "agent-1")
        assert (await presence.viewers([ticket]))[ticket] == [
            ("agent-1", 1_000_000.0), ("agent-2", 1_000_020.0)]
        clock.now += 31  # agent-1 last marked 31 s ago, agent-2 too
        assert await presence.viewers([ticket, str(uuid.uuid4())]) == {}
        await presence.mark(ticket, "agent-1")
        assert (await presence.viewers([ticket]))[ticket] == [("agent-1", 1_000_051.0)]
    finally:
        await presence.close()


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_one_tailer_wakes_once_per_new_position_for_every_stream(
        client: Client, services: Services) -> None:
    """Many subscriptions on two tickets: each new event is read and folded once and
    reaches every subscription of its ticket, with its side's entry (none for an
    internal note on the customer's side)."""
    first, second = await conversation(client), await conversation(client)
    pool = services.commands
    head = StoreHead(lambda: pool.call(EventFeed.of(services.app).head), interval=0.05)
    tailer = TicketTailer(services.app, pool.call, head)
    subscriptions = [Subscription(ticket["id"], staff) for ticket in (first, second)
                     for staff in (True, False) for _ in range(25)]
    for subscription in subscriptions:
        await tailer.subscribe(subscription)
        start = await pool.call(catch_up, services.app, UUID(subscription.ticket_id),
                                subscription.staff, None)
        subscription.version = start.version
    assert tailer.streams == 100 and tailer.wakeups == 0
    versions = {s.ticket_id: s.version for s in subscriptions}
    path = f"/tickets/{first['id']}/messages"
    assert (await client.post(path, as_=AGENT, json={"content": "internal",
                                                     "is_internal": True})).status == 201
    assert (await client.post(path, as_=CUSTOMER, json={"content": "public"})).status == 201
    received = {id(s): await received_items(s, 2) for s in subscriptions[:50]}
    assert tailer.wakeups <= 2  # the two appends, whatever the number of streams
    for subscription in subscriptions[:50]:
        items = received[id(subscription)]
        before = versions[subscription.ticket_id]
        assert [item.version for item in items] == [before + 1, before + 2]
        side = [item.staff if subscription.staff else item.customer for item in items]
        contents = [orjson.loads(m.split(b"data: ", 1)[1])["changes"]["content"]
                    if m else None for m in side]
        assert contents == (["internal", "public"] if subscription.staff
                            else [None, "public"])
    assert all(not s.items for s in subscriptions[50:])  # the other ticket's: nothing
    for subscription in subscriptions:
        tailer.unsubscribe(subscription)
    assert tailer.streams == 0
    head.close()


async def received_items(subscription: Subscription, count: int) -> list[LiveItem]:
    items: list[LiveItem] = []
    async with asyncio.timeout(20):
        while len(items) < count:
            got = await subscription.wait(10)
            items.extend(item for item in got if not isinstance(item, PresenceItem))
    return items
