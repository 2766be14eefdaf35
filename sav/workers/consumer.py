"""`sav worker consumer`: the platform's events on RABBITMQ_QUEUE -> SAV commands.

Manual ack once the command is stored. A message that can never be handled (bad JSON,
wrong schema) is rejected straight to the dead-letter queue `{queue}.dead` (through the
exchange `{queue}.dlx`); one that fails for another reason (database down) is
re-queued at the tail with `x-sav-attempts` + 1 and dead-lettered after `max_attempts`,
so no message blocks the queue. Several consumers may run side by side.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any
from uuid import UUID

from aiormq.abc import AbstractChannel, DeliveredMessage
from pamqp import commands as spec
from pydantic import ValidationError
from sqlalchemy import false, func, select

from sav.commands.app import SavApplication
from sav.commands.platform import (
    SCHEMAS,
    InvalidPlatformMessage,
    IssueReport,
    UserRegistered,
    link_registered_user,
    message_key,
    open_issue_ticket,
    parse_message,
    platform_ticket_id,
)
from sav.config import Settings
from sav.events.errors import PermissionDeniedError, RuleViolationError
from sav.projections.position import ReadModelPosition
from sav.projections.tickets import support_tickets
from sav.workers import amqp
from sav.workers.lease import HELD

log = logging.getLogger("sav.consumer")

ATTEMPTS_HEADER = "x-sav-attempts"
ROUTING_KEY_HEADER = "x-sav-routing-key"
KEY_HEADER = "x-sav-message-key"
# Errors that no retry can fix: the message goes straight to the dead-letter queue.
PERMANENT_ERRORS = (InvalidPlatformMessage, ValidationError, RuleViolationError,
                    PermissionDeniedError)


def handle(app: SavApplication, read_model: ReadModelPosition, routing_key: str, body: bytes,
           key: str) -> str:
    """Run the command for one message (synchronous); returns what was done.

    `key` identifies the delivery across redeliveries (`message_key`)."""
    message = parse_message(routing_key, body)
    if isinstance(message, IssueReport):
        ticket_id = platform_ticket_id(routing_key, key)
        outcome = open_issue_ticket(app, routing_key, message, ticket_id)
        return f"opened {ticket_id}" if outcome else f"already opened {ticket_id}"
    if isinstance(message, UserRegistered):
        candidates = anonymous_tickets(app, read_model, message)
        linked = link_registered_user(app, message, candidates)
        return f"linked {len(linked)} tickets"
    raise InvalidPlatformMessage(f"no handler for {type(message).__name__}")


def anonymous_tickets(app: SavApplication, read_model: ReadModelPosition, user: UserRegistered,
                      wait: float = 10.0) -> list[UUID]:
    """Unlinked tickets with this contact email, from the read model once it has caught up
    with every event stored before this message (bounded wait)."""
    read_model.wait_blocking(app.recorder.max_notification_id() or 0, timeout=wait)
    t = support_tickets.c
    with read_model.engine.connect() as conn:
        rows = conn.execute(select(t.id).where(
            t.user_id.is_(None), t.is_deleted == false(),
            func.lower(t.contact_email) == user.email.lower())).all()
    return [UUID(row.id) for row in rows]


class Consumer:
    def __init__(self, app: SavApplication, read_model: ReadModelPosition, settings: Settings,
                 *, max_attempts: int = 5, prefetch: int = 16, retry_delay: float = 0.5) -> None:
        self.app = app
        self.read_model = read_model
        self.url = amqp.amqp_url(settings)
        self.exchange = settings.rabbitmq_exchange
        self.queue = settings.rabbitmq_queue
        self.max_attempts = max_attempts
        self.prefetch = prefetch
        self.retry_delay = retry_delay

    def run(self, stop: threading.Event) -> None:
        asyncio.run(self.serve(stop))

    async def serve(self, stop: threading.Event) -> None:
        backoff = amqp.Backoff()
        while not stop.is_set():
            try:
                await self._consume(stop, backoff)
            except amqp.BROKER_ERRORS as error:
                log.warning("consumer: broker unavailable (%r); retrying", error)
            except Exception:
                log.exception("consumer failed; retrying")
            await amqp.sleep_unless_stopped(stop, backoff.next())

    async def declare(self, channel: AbstractChannel) -> None:
        dlx, dead = f"{self.queue}.dlx", f"{self.queue}.dead"
        await channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        await channel.exchange_declare(dlx, exchange_type="fanout", durable=True)
        await channel.queue_declare(dead, durable=True)
        await channel.queue_bind(dead, dlx, routing_key="")
        await channel.queue_declare(self.queue, durable=True,
                                    arguments={"x-dead-letter-exchange": dlx})
        for key in SCHEMAS:
            await channel.queue_bind(self.queue, self.exchange, routing_key=key)

    async def _consume(self, stop: threading.Event, backoff: amqp.Backoff) -> None:
        connection = await amqp.connect(self.url, "sav-consumer")
        try:
            channel = await connection.channel(publisher_confirms=True)
            await self.declare(channel)
            await channel.basic_qos(prefetch_count=self.prefetch)
            await channel.basic_consume(self.queue, lambda m: self.on_message(channel, m),
                                        no_ack=False)
            backoff.reset()
            HELD.hold("consumer")  # the worker's /status: consuming now
            while not stop.is_set() and not channel.is_closed:
                await asyncio.sleep(0.1)
        finally:
            HELD.lost("consumer")
            await amqp.close_quietly(connection)

    async def on_message(self, channel: AbstractChannel, message: DeliveredMessage) -> None:
        props = message.header.properties
        headers: dict[str, Any] = dict(props.headers or {})
        routing_key = str(headers.get(ROUTING_KEY_HEADER) or message.routing_key or "")
        try:
            attempts = int(headers.get(ATTEMPTS_HEADER) or 0) + 1
        except (TypeError, ValueError):
            attempts = self.max_attempts  # a header we did not write: last try
        key = str(headers.get(KEY_HEADER) or message_key(props.message_id, message.body))
        tag = message.delivery_tag
        assert tag is not None
        try:
            done = await asyncio.to_thread(handle, self.app, self.read_model, routing_key,
                                           message.body, key)
        except PERMANENT_ERRORS as error:
            log.warning("consumer: dead-lettering %s (%s): %s", props.message_id, routing_key,
                        error)
            await channel.basic_reject(tag, requeue=False)
            return
        except Exception:
            log.exception("consumer: %s (%s) failed, attempt %d/%d", props.message_id,
                          routing_key, attempts, self.max_attempts)
            await self._retry_later(channel, message, routing_key, attempts, key)
            return
        log.info("consumer: %s %s: %s", routing_key, props.message_id, done)
        await channel.basic_ack(tag)

    async def _retry_later(self, channel: AbstractChannel, message: DeliveredMessage,
                           routing_key: str, attempts: int, key: str) -> None:
        tag = message.delivery_tag
        assert tag is not None
        if attempts >= self.max_attempts:
            await channel.basic_reject(tag, requeue=False)
            return
        await asyncio.sleep(self.retry_delay * attempts)
        props = message.header.properties
        # The retry carries the original's key: it is recognised as the same delivery.
        headers = {**(props.headers or {}), ATTEMPTS_HEADER: attempts,
                   ROUTING_KEY_HEADER: routing_key, KEY_HEADER: key}
        copy = spec.Basic.Properties(
            content_type=props.content_type, delivery_mode=2, message_id=props.message_id,
            headers=headers, message_type=props.message_type, app_id=props.app_id,
        )
        confirm = await channel.basic_publish(message.body, exchange="",
                                              routing_key=self.queue, properties=copy)
        if isinstance(confirm, spec.Basic.Ack):
            await channel.basic_ack(tag)
        else:
            await channel.basic_nack(tag, requeue=True)


def run(app: SavApplication, read_model: ReadModelPosition, settings: Settings,
        stop: threading.Event) -> None:
    """`sav worker consumer`; idle (nothing to consume) without RABBITMQ_HOST."""
    if not settings.rabbitmq_host:
        log.warning("RABBITMQ_HOST is not set: consumer idle")
        stop.wait()
        return
    Consumer(app, read_model, settings).run(stop)
