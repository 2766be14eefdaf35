"""The platform-event consumers on both profiles against the machine's RabbitMQ."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID

import aiormq
import pytest
from aiormq.abc import AbstractChannel
from sqlalchemy import select

from sav.bootstrap import Services
from sav.commands.actor import public_actor
from sav.commands.platform import message_key, platform_ticket_id
from sav.commands.tickets import CreateTicket, create_ticket
from sav.config import Settings
from sav.projections.tickets import support_tickets
from sav.workers import consumer as consumer_module
from sav.workers.consumer import Consumer, handle
from tests.support.broker import (
    RABBIT_URL,
    delete_names,
    drain,
    headers,
    publish,
    rabbit_env,
    unique_names,
)
from tests.support.workers import consumer_of

ORDER = {"order_id": "A-1001", "user_id": 42, "issue_type": "not_received",
         "description": "Parcel never arrived", "priority": "high"}


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    names = unique_names()
    yield names
    asyncio.run(delete_names(names))


@pytest.fixture
def settings_env(names: dict[str, str]) -> dict[str, str]:
    return rabbit_env(names)


@pytest.fixture
async def channel(services: Services) -> AsyncIterator[AbstractChannel]:
    """A test channel; the consumer's queues are declared before anything is sent."""
    async with aiormq.connect(RABBIT_URL) as connection:
        channel = await connection.channel()
        await consumer_of(services).declare(channel)
        yield channel


@pytest.fixture
def consumer(services: Services) -> Iterator[Consumer]:
    stop = threading.Event()
    consumer = consumer_of(services, max_attempts=2, retry_delay=0.05)
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    yield consumer
    stop.set()
    thread.join(timeout=10)


def ticket_rows(services: Services) -> list[Any]:
    with services.engine.connect() as conn:
        return list(conn.execute(select(support_tickets)).all())


async def wait_until(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def settle(channel: AbstractChannel, queue: str) -> None:
    """Until the queue has no ready or unacked message left."""
    async def empty() -> bool:
        declared = await channel.queue_declare(queue, passive=True)
        return declared.message_count == 0

    for _ in range(200):
        if await empty():
            await asyncio.sleep(0.3)
            if await empty():
                return
        await asyncio.sleep(0.05)


async def test_order_issue_opens_one_delivery_ticket_even_when_redelivered(
        services: Services, settings: Settings, channel: AbstractChannel,
        consumer: Consumer) -> None:
    for _ in range(3):
        await publish(channel, settings.rabbitmq_exchange, "order.issue",
                      {"event": "order.issue", "timestamp": "2024-01-15T10:30:00Z",
                       "data": ORDER}, message_id="order-evt-1")
    await wait_until(lambda: len(ticket_rows(services)) == 1)
    await settle(channel, settings.rabbitmq_queue)
    rows = ticket_rows(services)
    assert len(rows) == 1
    row = rows[0]
    assert row.category == "delivery" and row.user_id == "42" and row.priority == "high"
    assert row.metadata["order_id"] == "A-1001"
    assert UUID(row.id) == platform_ticket_id("order.issue", "id:order-evt-1")
    assert len(services.app.recorder.select_events(UUID(row.id))) == 1


async def test_product_issue_opens_a_product_ticket_for_a_contact_email(
        services: Services, settings: Settings, channel: AbstractChannel,
        consumer: Consumer) -> None:
    await publish(channel, settings.rabbitmq_exchange, "product.issue_reported",
                  {"product_id": "SKU-9", "email": "Ann@Example.com", "issue_type": "defect",
                   "description": "Screen flickers"}, message_id="product-evt-1")
    await wait_until(lambda: len(ticket_rows(services)) == 1)
    row = ticket_rows(services)[0]
    assert row.category == "product" and row.user_id is None
    assert row.contact_email.lower() == "ann@example.com"
    assert row.metadata == {"product_id": "SKU-9", "issue_type": "defect"}


async def test_user_registered_links_earlier_anonymous_tickets_once(
        services: Services, settings: Settings, channel: AbstractChannel,
        consumer: Consumer) -> None:
    def public_ticket(email: str) -> UUID:
        cmd = CreateTicket(subject="Where is my order", description="?", contact_email=email)
        return create_ticket(services.app, public_actor(email, "Ann"), cmd,
                             with_access_token=True).ticket_id

    mine = [public_ticket("ann@example.com"), public_ticket("ANN@example.com")]
    other = public_ticket("bob@example.com")
    message = {"user_id": "user-7", "email": "ann@example.com", "name": "Ann"}
    for _ in range(2):
        await publish(channel, settings.rabbitmq_exchange, "user.registered", message,
                      message_id="user-evt-1")
    await settle(channel, settings.rabbitmq_queue)
    await wait_until(lambda: {UUID(r.id): r.user_id for r in ticket_rows(services)} == {
        mine[0]: "user-7", mine[1]: "user-7", other: None})
    for ticket_id in mine:
        events = services.app.recorder.select_events(ticket_id)
        assert [e.topic.rsplit(".", 1)[-1] for e in events] == ["Created", "LinkedToUser"]


async def test_invalid_messages_are_dead_lettered_and_do_not_block_the_queue(
        services: Services, settings: Settings, channel: AbstractChannel,
        consumer: Consumer) -> None:
    exchange, queue = settings.rabbitmq_exchange, settings.rabbitmq_queue
    await publish(channel, exchange, "order.issue", b"{not json", message_id="bad-1")
    await publish(channel, exchange, "order.issue", {"order_id": "A-1"}, message_id="bad-2")
    await publish(channel, exchange, "order.issue", ORDER, message_id="good-1")
    await wait_until(lambda: len(ticket_rows(services)) == 1)
    await settle(channel, queue)
    dead = await drain(channel, f"{queue}.dead")
    assert sorted(str(m.header.properties.message_id) for m in dead) == ["bad-1", "bad-2"]
    assert all(headers(m)["x-death"] for m in dead)


async def test_failing_message_is_retried_then_dead_lettered(
        services: Services, settings: Settings, channel: AbstractChannel,
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def broken(app: object, read_model: object, routing_key: str, body: bytes, key: str) -> str:
        calls.append(key)
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(consumer_module, "handle", broken)
    stop = threading.Event()
    worker = consumer_of(services, max_attempts=3, retry_delay=0.01)
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        await publish(channel, settings.rabbitmq_exchange, "order.issue", ORDER,
                      message_id="flaky-1")
        await wait_until(lambda: len(calls) == 3)
        await settle(channel, settings.rabbitmq_queue)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert calls == ["id:flaky-1"] * 3
    dead = await drain(channel, f"{settings.rabbitmq_queue}.dead")
    assert [headers(m)["x-sav-attempts"] for m in dead] == [2]


def test_same_body_without_message_id_opens_one_ticket(services: Services) -> None:
    raw = b'{"order_id": "B-7", "email": "c@example.com", "issue_type": "wrong_item"}'
    key = message_key(None, raw)
    first = handle(services.app, services.read_model, "order.issue", raw, key)
    again = handle(services.app, services.read_model, "order.issue", raw, key)
    assert first.startswith("opened") and again.startswith("already opened")
    ticket_id = platform_ticket_id("order.issue", key)
    assert len(services.app.recorder.select_events(ticket_id)) == 1
