"""The global event feed and the export over HTTP, on both profiles: gapless pages in
position order with the envelope published to RabbitMQ, filters, who may read it, bad
input, long polling, and an export that the CLI reproduces byte for byte, never leaks a
secret, and streams in batches with flat memory."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from typing import Any
from uuid import UUID

import orjson
import pytest

from sav.bootstrap import Services, bootstrap
from sav.commands.actor import Actor
from sav.commands.tickets import AssignTicket, CreateTicket, assign_ticket, create_ticket
from sav.config import Settings
from sav.events.rules import Role
from sav.events.ticket import Ticket
from sav.history.feed import EventFeed, export_chunks
from tests.support.http import ADMIN, AGENT, CUSTOMER, Client
from tests.support.http import create_ticket as create_ticket_over_http
from tests.support.settings import JWT_SECRET
from tests.support.wire import published

ANALYST = ("analyst-1", "analyst")
ENTRY_KEYS = ["position", "message_id", "event", "timestamp", "data"]
STAFF = Actor(user_id="admin-1", role="admin")


async def feed(client: Client, query: str = "", as_: tuple[str, str] = ADMIN) -> Any:
    response = await client.get(f"/events{query}", as_=as_)
    assert response.status == 200, response
    return response.json


async def every_entry(client: Client, limit: int, **filters: str) -> list[dict[str, Any]]:
    """The whole feed, page after page, following `next_after`."""
    entries: list[dict[str, Any]] = []
    after = 0
    extra = "".join(f"&{name}={value}" for name, value in filters.items())
    while True:
        page = await feed(client, f"?after={after}&limit={limit}{extra}")
        if not page["data"]:
            assert page["pagination"]["next_after"] == after
            return entries
        entries += page["data"]
        after = page["pagination"]["next_after"]
        assert after == page["data"][-1]["position"]


async def some_history(client: Client) -> list[dict[str, Any]]:
    """Three tickets, two of them assigned, one of them also resolved."""
    tickets = [await create_ticket_over_http(client, subject=f"S{i}") for i in range(3)]
    for ticket in tickets[:2]:
        response = await client.post(f"/tickets/{ticket['id']}/assign", as_=ADMIN,
                                     json={"agent_id": "agent-1"})
        assert response.status == 200, response
    response = await client.post(f"/tickets/{tickets[0]['id']}/resolve", as_=ADMIN,
                                 json={"resolution": "refunded"})
    assert response.status == 200, response
    return tickets


def seed_updates(services: Services, ticket_id: UUID, count: int, chunk: int = 500) -> None:
    """`count` events on one ticket, `chunk` per append: a large log, fast."""
    for start in range(0, count, chunk):
        def change(ticket: Ticket, start: int = start) -> None:
            for i in range(start, min(start + chunk, count)):
                ticket.update({"subject": f"subject {i}"}, by="admin-1")

        services.app.change_ticket(ticket_id, change)


def cli_export(settings: Settings, *args: str) -> bytes:
    """`sav events export` run as a user would, on the test's database."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_", "RABBITMQ_", "MINIO_", "SAV_"))}
    env.update(SAV_DATA_DIR=str(settings.data_dir), AUTH_JWT_SECRET=JWT_SECRET,
               DB_CONNECTION=settings.db_connection, DB_HOST=settings.db_host,
               DB_PORT=str(settings.db_port), DB_DATABASE=settings.db_database,
               DB_USERNAME=settings.db_username, DB_PASSWORD=settings.db_password)
    done = subprocess.run([sys.executable, "-m", "sav.cli", "events", "export", *args],
                          env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


async def test_feed_is_every_event_in_position_order_as_published(
        client: Client, services: Services) -> None:
    await some_history(client)
    entries = await every_entry(client, limit=2)
    assert [e["position"] for e in entries] == list(range(1, 7))
    assert all(list(entry) == ENTRY_KEYS for entry in entries)
    assert [e["event"] for e in entries] == ["ticket.created"] * 3 + [
        "ticket.assigned", "ticket.assigned", "ticket.resolved"]
    # Exactly what the publisher sends: same message id, same body.
    messages = published(services.app)
    assert [(e["message_id"], {k: e[k] for k in ("event", "timestamp", "data")})
            for e in entries] == [(m.message_id, orjson.loads(m.body)) for m in messages]
    assigned = entries[3]["data"]
    assert assigned["ticket_number"] == entries[0]["data"]["ticket_number"]  # identity


async def test_pages_default_to_100_and_end_where_they_started(client: Client) -> None:
    await some_history(client)
    page = await feed(client)
    assert page["pagination"] == {"limit": 100, "next_after": 6}
    assert len(page["data"]) == 6
    assert await feed(client, "?after=6") == {"data": [], "pagination": {
        "limit": 100, "next_after": 6}}
    assert (await feed(client, "?after=4&limit=1"))["pagination"]["next_after"] == 5


async def test_feed_stays_gapless_while_many_writers_append(
        client: Client, services: Services) -> None:
    """Invariant 3 through the feed: a reader paging while 8 threads append sees every
    position exactly once, in order."""
    done = threading.Event()

    def write(n: int) -> None:
        for i in range(15):
            create_ticket(services.app, STAFF, CreateTicket(subject=f"w{n}-{i}",
                                                            description="d"))

    async def writers() -> None:
        await asyncio.gather(*(asyncio.to_thread(write, n) for n in range(8)))
        done.set()

    writing = asyncio.create_task(writers())
    seen: list[int] = []
    while True:
        finished = done.is_set()
        page = await feed(client, f"?after={seen[-1] if seen else 0}&limit=7")
        seen += [entry["position"] for entry in page["data"]]
        if finished and not page["data"]:
            break
    await writing
    assert seen == list(range(1, 8 * 15 + 1))


async def test_type_and_ticket_filters(client: Client) -> None:
    tickets = await some_history(client)
    assigned = await every_entry(client, limit=1, type="ticket.assigned")
    assert [e["position"] for e in assigned] == [4, 5]
    assert {e["data"]["ticket_id"] for e in assigned} == {tickets[0]["id"], tickets[1]["id"]}
    first = await every_entry(client, limit=100, ticket_id=tickets[0]["id"])
    assert [e["event"] for e in first] == ["ticket.created", "ticket.assigned",
                                           "ticket.resolved"]
    both = await feed(client, f"?type=ticket.resolved&ticket_id={tickets[1]['id']}")
    assert both["data"] == [] and both["pagination"]["next_after"] == 0
    status = await feed(client, "?type=ticket.status_changed")
    assert status["data"] == []


@pytest.mark.parametrize("caller", [CUSTOMER, AGENT])
async def test_customers_and_agents_may_not_read_the_feed(
        client: Client, caller: tuple[str, str]) -> None:
    await create_ticket_over_http(client)
    for path in ("/events", "/events?wait=5", "/events/export", "/events/export?format=csv"):
        response = await client.get(path, as_=caller)
        assert response.status == 403, (path, response)
        assert response.json["error"]["code"] == "forbidden"
    assert (await client.get("/events")).status == 401


@pytest.mark.skipif(not hasattr(Role, "ANALYST"), reason="the analyst role is not in this build")
async def test_analysts_read_the_feed_and_the_export(client: Client) -> None:
    await create_ticket_over_http(client)
    assert len((await feed(client, as_=ANALYST))["data"]) == 1
    assert (await client.get("/events/export", as_=ANALYST)).status == 200


@pytest.mark.parametrize(("query", "field"), [
    ("?after=-1", "after"), ("?after=abc", "after"), ("?after=1e3", "after"),
    ("?after=99999999999999999999", "after"), ("?limit=0", "limit"),
    ("?limit=1001", "limit"), ("?limit=ten", "limit"), ("?type=ticket.exploded", "type"),
    ("?ticket_id=TICKET-1", "ticket_id"), ("?wait=31", "wait"), ("?wait=-1", "wait"),
    ("?wait=soon", "wait"), ("?wait=nan", "wait"),
])
async def test_bad_feed_parameters_are_422_naming_the_field(
        client: Client, query: str, field: str) -> None:
    response = await client.get(f"/events{query}", as_=ADMIN)
    assert response.status == 422, response
    details = response.json["error"]["details"]
    assert [d["field"] for d in details] == [field]
    assert all(set(d) == {"field", "message"} for d in details)


@pytest.mark.parametrize("query", ["?format=xml", "?after=-5", "?after=x&format=csv"])
async def test_bad_export_parameters_are_422(client: Client, query: str) -> None:
    response = await client.get(f"/events/export{query}", as_=ADMIN)
    assert response.status == 422, response
    assert isinstance(response.json["error"]["details"], list)


async def test_long_poll_returns_as_soon_as_an_event_is_stored(
        client: Client, services: Services) -> None:
    await create_ticket_over_http(client)

    async def append_later() -> None:
        await asyncio.sleep(0.5)
        await services.commands.run(create_ticket, STAFF, CreateTicket(
            subject="arrives while polling", description="d"))

    appending = asyncio.create_task(append_later())
    started = time.monotonic()
    page = await feed(client, "?after=1&wait=20")
    elapsed = time.monotonic() - started
    await appending
    assert [e["data"]["subject"] for e in page["data"]] == ["arrives while polling"]
    assert page["pagination"]["next_after"] == 2
    assert 0.4 < elapsed < 10


async def test_long_poll_answers_an_empty_page_after_the_wait(client: Client) -> None:
    await create_ticket_over_http(client)
    started = time.monotonic()
    page = await feed(client, "?after=1&wait=1.2")
    assert page == {"data": [], "pagination": {"limit": 100, "next_after": 1}}
    assert 1.1 < time.monotonic() - started < 8


async def test_filtered_long_poll_waits_for_a_matching_event(
        client: Client, services: Services) -> None:
    ticket = await create_ticket_over_http(client)

    async def append_later() -> None:
        await asyncio.sleep(0.3)
        await services.commands.run(create_ticket, STAFF, CreateTicket(
            subject="not selected", description="d"))
        await asyncio.sleep(0.6)
        await services.commands.run(assign_ticket, STAFF, UUID(ticket["id"]),
                                    AssignTicket(agent_id="agent-1"))

    appending = asyncio.create_task(append_later())
    page = await feed(client, "?after=1&wait=20&type=ticket.assigned")
    await appending
    assert [(e["position"], e["event"]) for e in page["data"]] == [(3, "ticket.assigned")]


async def test_export_route_and_cli_agree_line_for_line_and_leak_no_secret(
        client: Client, settings: Settings) -> None:
    await some_history(client)
    public = await client.post("/public/tickets", json={
        "email": "ann@example.com", "name": "Ann", "subject": "Lamp", "description": "d"})
    assert public.status == 201
    token = public.json["access_token"]
    for fmt in ("jsonl", "csv"):
        response = await client.get(f"/events/export?format={fmt}", as_=ADMIN)
        assert response.status == 200, response
        assert response.body == cli_export(settings, "--format", fmt)
        assert b"access_token" not in response.body and token.encode() not in response.body
    jsonl = (await client.get("/events/export?after=2", as_=ADMIN)).body
    assert jsonl == cli_export(settings, "--after", "2")
    lines = [orjson.loads(line) for line in jsonl.splitlines()]
    assert [e["position"] for e in lines] == list(range(3, 8))
    assert lines == (await feed(client, "?after=2"))["data"]
    csv_lines = (await client.get("/events/export?format=csv", as_=ADMIN)).body.splitlines()
    assert csv_lines[0] == b"position,message_id,event,timestamp,data"
    assert len(csv_lines) == 8


async def test_the_feed_never_carries_the_access_token_hash(client: Client) -> None:
    response = await client.post("/public/tickets", json={
        "email": "ann@example.com", "name": "Ann", "subject": "Lamp", "description": "d"})
    assert response.status == 201
    page = await feed(client)
    assert page["data"][0]["event"] == "ticket.created"
    assert "access_token_hash" not in page["data"][0]["data"]
    assert b"access_token" not in orjson.dumps(page)


def exported_peak(feed: EventFeed) -> tuple[int, int, int]:
    """(chunks, bytes, peak traced memory) of a JSON-lines export, chunks discarded."""
    chunks = size = 0
    tracemalloc.start()
    try:
        for chunk in export_chunks(feed, 0, "jsonl"):
            chunks, size = chunks + 1, size + len(chunk)
            assert chunk.count(b"\n") <= 1000
        return chunks, size, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_export_memory_stays_flat_from_2k_to_8k_events(settings: Settings) -> None:
    # The export reads the event log alone: no projector (nor inline projection) writes
    # read rows for the 8,000 events meanwhile (a minute on MariaDB for 20,000). Four
    # times the events, the same peak: tracemalloc makes each exported event costly.
    services = bootstrap(settings)
    try:
        ticket_id = create_ticket(services.app, STAFF, CreateTicket(
            subject="Lamp", description="Broken")).ticket_id
        event_feed = EventFeed.of(services.app)
        seed_updates(services, ticket_id, 1_999)
        small = exported_peak(event_feed)
        seed_updates(services, ticket_id, 6_000)
        large = exported_peak(event_feed)
    finally:
        asyncio.run(services.aclose())
    assert (small[0], large[0]) == (2, 8)  # one chunk per 1,000 events
    assert large[1] > 3.5 * small[1]
    assert large[2] < 1.5 * small[2], (small, large)
