"""Test helpers on the machine's RabbitMQ: unique names, a tap queue, publishing, cleanup.

Other suites use the same broker concurrently: every test declares its own uniquely
named exchange and queues and deletes them afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from typing import Any

import aiormq
import orjson
from aiormq.abc import AbstractChannel, DeliveredMessage
from pamqp import commands as spec

RABBIT_HOST = os.environ.get("SAV_TEST_RABBITMQ_HOST", "127.0.0.1")
RABBIT_PORT = int(os.environ.get("SAV_TEST_RABBITMQ_PORT", "5672"))
RABBIT_URL = f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/"


def unique_names() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return {"RABBITMQ_EXCHANGE": f"sav-test-{suffix}", "RABBITMQ_QUEUE": f"sav-test-q-{suffix}"}


def rabbit_env(names: dict[str, str], port: int | None = None) -> dict[str, str]:
    return {"RABBITMQ_HOST": RABBIT_HOST, "RABBITMQ_PORT": str(port or RABBIT_PORT), **names}


async def delete_names(names: dict[str, str]) -> None:
    exchange, queue = names["RABBITMQ_EXCHANGE"], names["RABBITMQ_QUEUE"]
    async with aiormq.connect(RABBIT_URL) as connection:
        channel = await connection.channel()
        for name in (queue, f"{queue}.dead", f"tap-{exchange}"):
            await channel.queue_delete(name)
        for name in (exchange, f"{queue}.dlx"):
            await channel.exchange_delete(name)


class Tap:
    """A queue bound to `exchange` with `#`: records every published message, in order."""

    def __init__(self, exchange: str) -> None:
        self.exchange = exchange
        self.queue = f"tap-{exchange}"
        self.messages: list[DeliveredMessage] = []
        self.seen: set[int] = set()
        self._connection: Any = None
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> Tap:
        self._connection = await aiormq.connect(RABBIT_URL)
        channel = await self._connection.channel()
        await channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        await channel.queue_declare(self.queue, durable=True)
        await channel.queue_bind(self.queue, self.exchange, routing_key="#")
        await channel.basic_consume(self.queue, self._on_message, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._connection.close()

    async def _on_message(self, message: DeliveredMessage) -> None:
        self.messages.append(message)
        position = headers(message).get("x-sav-position")
        if position is not None:
            self.seen.add(int(position))
        self._arrived.set()

    def positions(self) -> list[int]:
        return [int(headers(m)["x-sav-position"]) for m in self.messages
                if "x-sav-position" in headers(m)]

    def first_occurrences(self) -> list[int]:
        seen: set[int] = set()
        first = []
        for position in self.positions():
            if position not in seen:
                seen.add(position)
                first.append(position)
        return first

    async def wait_for_positions(self, last: int, timeout: float = 30.0) -> None:
        """Until every position 1..last has arrived at least once."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.seen.intersection(range(1, last + 1))) < last:
            remaining = deadline - asyncio.get_running_loop().time()
            missing = sorted(set(range(1, last + 1)) - self.seen)
            assert remaining > 0, f"missing {len(missing)} positions, first {missing[:5]}"
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.5))

    async def wait_for_count(self, count: int, timeout: float = 20.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.messages) < count:
            assert asyncio.get_running_loop().time() < deadline, len(self.messages)
            await asyncio.sleep(0.02)


def headers(message: DeliveredMessage) -> dict[str, Any]:
    return dict(message.header.properties.headers or {})


def body(message: DeliveredMessage) -> Any:
    return orjson.loads(message.body)


async def publish(channel: AbstractChannel, exchange: str, routing_key: str, payload: Any,
                  message_id: str | None = None) -> None:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    properties = spec.Basic.Properties(delivery_mode=2, message_id=message_id,
                                       content_type="application/json")
    await channel.basic_publish(raw, exchange=exchange, routing_key=routing_key,
                                properties=properties)


async def drain(channel: AbstractChannel, queue: str) -> list[DeliveredMessage]:
    """Every message now in `queue` (acked)."""
    got: list[DeliveredMessage] = []
    while True:
        message = await channel.basic_get(queue, no_ack=True)
        if message.delivery_tag is None or isinstance(message.delivery, spec.Basic.GetEmpty):
            return got
        got.append(message)
