"""`sav worker publisher`: relays the event store (the outbox) to RabbitMQ.

It tails the global order from its tracked position (`projection_tracking` row
`publisher`), publishes a window of events with publisher confirms pipelined, and moves
the position by compare-and-set only once every message of the window is confirmed.
A lost broker, a nack or a crash therefore re-publishes from the last confirmed
position: at-least-once, in order, with the same `message_id` (invariant 5).
Several copies may run; a database lease keeps one active.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from aiormq.abc import AbstractChannel
from pamqp import commands as spec
from sqlalchemy import Engine

from sav.commands.app import SavApplication
from sav.config import Settings
from sav.eventstore import tracking
from sav.history.feed import EventFeed
from sav.workers.amqp import (
    BROKER_ERRORS,
    Backoff,
    amqp_url,
    close_quietly,
    connect,
    sleep_unless_stopped,
)
from sav.workers.head import TAILER_IDLE_S, watch_store
from sav.workers.lease import Lease, lease_wait
from sav.workers.routing import OutgoingMessage

log = logging.getLogger("sav.publisher")

TRACKING_NAME = "publisher"
LEASE_NAME = "publisher"


class NackedError(Exception):
    """The broker refused a message; the window is published again."""


RETRYABLE: tuple[type[BaseException], ...] = (*BROKER_ERRORS, NackedError)


def tracked_position(engine: Engine) -> int:
    return tracking.read_position(engine, TRACKING_NAME)


def set_position(engine: Engine, position: int) -> None:
    """Move the publisher's row unconditionally (only under the publisher lease)."""
    tracking.set_position(engine, TRACKING_NAME, position)


def move_under_lease(lease: Lease, position: int) -> bool:
    """`--from` without a broker: take the publisher lease, move the row, let it go;
    False (nothing written) while another live publisher holds it."""
    if not lease.acquire():
        return False
    try:
        set_position(lease.engine, position)
    finally:
        lease.release()
    return True


class Publisher:
    def __init__(self, app: SavApplication, engine: Engine, settings: Settings, *,
                 window: int = 500, lease_ttl: float | None = None,
                 confirm_timeout: float = 15.0, poll_interval: float = 0.2,
                 start_from: int | None = None) -> None:
        self.app = app
        self.engine = engine
        # `--from`: moved once this process holds the lease, never under another publisher.
        self.start_from = start_from
        self.url = amqp_url(settings)
        self.exchange = settings.rabbitmq_exchange
        self.window = window
        self.confirm_timeout = confirm_timeout
        self.poll_interval = poll_interval
        self.lease = Lease(engine, LEASE_NAME, ttl=lease_ttl or settings.worker_lease_ttl)
        self.position = 0
        self.published = 0
        self.feed = EventFeed.of(app)  # the wire format, with stream identities remembered
        self._leader = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    def wake(self, _position: int | None = None) -> None:
        """Called after an append (of this process, or seen by the process's probe of the
        store's head): publish without waiting a poll."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            # Never let a stopped publisher fail the command that appended.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    def run(self, stop: threading.Event) -> None:
        """Blocking: run the publisher's own event loop in this thread until `stop`."""
        asyncio.run(self.serve(stop))

    async def serve(self, stop: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        watch_store(self.app, stop, self.wake)
        while not stop.is_set():
            try:
                # Created at 0: an unpublished backlog goes out once a broker is configured.
                await asyncio.to_thread(tracking.start_tracking, self.engine, TRACKING_NAME, 0)
                break
            except Exception:
                log.exception("publisher: cannot read its tracking row; retrying")
                await sleep_unless_stopped(stop, 1.0)
        lease_task = asyncio.create_task(self._hold_lease(stop))
        backoff = Backoff()
        try:
            while not stop.is_set():
                if not self._leader:
                    await sleep_unless_stopped(stop, 0.1)
                    continue
                try:
                    if self.start_from is not None:
                        await asyncio.to_thread(set_position, self.engine, self.start_from)
                        log.info("publisher: position moved to %d (--from)", self.start_from)
                        self.start_from = None
                    await self._publish_while_leader(stop, backoff)
                except RETRYABLE as error:
                    log.warning("publisher: broker unavailable (%r); retrying", error)
                    await sleep_unless_stopped(stop, backoff.next())
                except Exception:
                    log.exception("publisher failed; retrying")
                    await sleep_unless_stopped(stop, backoff.next())
        finally:
            lease_task.cancel()
            if self._leader:
                await asyncio.to_thread(self.lease.release)

    async def _hold_lease(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._leader = await asyncio.to_thread(self.lease.acquire)
            except Exception:
                log.exception("publisher: cannot renew its lease")
                self._leader = False
            await sleep_unless_stopped(stop, lease_wait(self.lease, self._leader))

    async def _publish_while_leader(self, stop: threading.Event, backoff: Backoff) -> None:
        connection = await connect(self.url, "sav-publisher")
        try:
            channel = await connection.channel(publisher_confirms=True)
            await channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
            await self._relay(channel, stop, backoff)
        finally:
            await asyncio.shield(close_quietly(connection))

    async def _relay(self, channel: AbstractChannel, stop: threading.Event,
                     backoff: Backoff) -> None:
        """Publish window after window; the next window is read from the store while the
        broker confirms the current one. The backoff resets only once the relay proves
        healthy (a confirmed window, or nothing left to publish), not on connecting."""
        assert self._wake is not None
        start = await asyncio.to_thread(tracked_position, self.engine)
        messages = await asyncio.to_thread(self._load_window, start)
        idle = self.poll_interval
        while not stop.is_set() and self._leader:
            if not messages:
                self.position = start
                backoff.reset()
                # Idle: read ever less often; appends wake us (this process's at once,
                # other processes' through the probe of the store's head).
                await sleep_unless_stopped(stop, idle, self._wake)
                idle = self.poll_interval if self._wake.is_set() else min(idle * 2,
                                                                          TAILER_IDLE_S)
                self._wake.clear()
                messages = await asyncio.to_thread(self._load_window, start)
                continue
            idle = self.poll_interval
            end = messages[-1].position
            following = asyncio.create_task(asyncio.to_thread(self._load_window, end))
            try:
                await self._confirm(channel, messages, start)
                moved = await asyncio.to_thread(tracking.advance_position, self.engine,
                                                TRACKING_NAME, start, end)
            except BaseException:
                following.cancel()
                raise
            if not moved:
                log.warning("publisher: position moved by another publisher; re-reading it")
                following.cancel()
                start = await asyncio.to_thread(tracked_position, self.engine)
                messages = await asyncio.to_thread(self._load_window, start)
                continue
            self.position = start = end
            self.published += len(messages)
            backoff.reset()
            messages = await following

    async def _confirm(self, channel: AbstractChannel, messages: list[OutgoingMessage],
                       start: int) -> None:
        """Publish a window pipelined and wait for every confirm (bounded)."""
        tasks = [asyncio.create_task(self._publish(channel, m)) for m in messages]
        try:
            confirms = await asyncio.wait_for(asyncio.gather(*tasks), self.confirm_timeout)
        finally:
            for task in tasks:
                task.cancel()
        if not all(isinstance(c, spec.Basic.Ack) for c in confirms):
            raise NackedError(f"broker nacked a message after position {start}")

    async def _publish(self, channel: AbstractChannel, message: OutgoingMessage) -> Any:
        properties = spec.Basic.Properties(
            content_type="application/json", delivery_mode=2, message_id=message.message_id,
            message_type=message.routing_key, app_id="sav", headers=message.headers,
        )
        return await channel.basic_publish(message.body, exchange=self.exchange,
                                           routing_key=message.routing_key,
                                           properties=properties)

    def _load_window(self, start: int) -> list[OutgoingMessage]:
        return self.feed.messages(start, self.window)


def run(app: SavApplication, engine: Engine, settings: Settings, stop: threading.Event,
        start_from: int | None = None) -> None:
    """`sav worker publisher [--from POSITION]`. Without RABBITMQ_HOST publishing is
    paused: events wait in the store and go out from the tracked position once a broker
    is configured. `--from` waits for the publisher lease (a live publisher elsewhere
    keeps it until it stops) and moves the row only while holding it."""
    if not settings.rabbitmq_host:
        if start_from is not None:
            lease = Lease(engine, LEASE_NAME, ttl=settings.worker_lease_ttl)
            while not move_under_lease(lease, start_from):
                log.info("publisher --from: waiting for the lease held by %s", lease.holder())
                if stop.wait(lease.ttl / 3):
                    return
            log.info("publisher: position moved to %d (--from)", start_from)
        log.warning("RABBITMQ_HOST is not set: publishing paused")
        stop.wait()
        return
    publisher = Publisher(app, engine, settings, start_from=start_from)
    app.on_append(publisher.wake)  # appends of this process publish without a poll
    publisher.run(stop)
