"""RabbitMQ connection helpers shared by the publisher and the consumers (aiormq)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any
from urllib.parse import quote

import aiormq
from aiormq.abc import AbstractConnection

from sav.config import Settings

CONNECT_TIMEOUT = 5.0
HEARTBEAT = 10

# What a lost or refused broker connection raises; workers back off and reconnect.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
)


def amqp_url(settings: Settings) -> str:
    user = quote(settings.rabbitmq_user, safe="")
    password = quote(settings.rabbitmq_password, safe="")
    vhost = quote(settings.rabbitmq_vhost, safe="")
    return (f"amqp://{user}:{password}@{settings.rabbitmq_host}:{settings.rabbitmq_port}/"
            f"{vhost}?heartbeat={HEARTBEAT}")


async def connect(url: str, name: str) -> AbstractConnection:
    """Open a connection, failing within CONNECT_TIMEOUT when the broker is unreachable."""
    return await asyncio.wait_for(aiormq.connect(f"{url}&name={name}"), CONNECT_TIMEOUT)


async def sleep_unless_stopped(stop: threading.Event, seconds: float,
                               wake: asyncio.Event | None = None) -> None:
    """Sleep up to `seconds`, returning early when `stop` (a thread event) or `wake` is set."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not stop.is_set():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        if wake is None:
            await asyncio.sleep(min(remaining, 0.1))
            continue
        try:
            await asyncio.wait_for(wake.wait(), min(remaining, 0.1))
            return
        except TimeoutError:
            continue


async def close_quietly(connection: Any) -> None:
    """Close a connection that may already be dead (an outage is the usual reason)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(connection.close(), 2.0)


class Backoff:
    """Exponential reconnect delay, reset after a successful connection."""

    def __init__(self, first: float = 0.2, cap: float = 3.0) -> None:
        self.first = first
        self.cap = cap
        self.delay = first

    def next(self) -> float:
        delay = self.delay
        self.delay = min(self.delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.delay = self.first
