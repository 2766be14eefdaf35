"""The publisher on both profiles against the machine's RabbitMQ: contract and faults.

Outages are simulated with a TCP proxy between the publisher and RabbitMQ (the shared
broker is never stopped). `SAV_TEST_OUTAGE_SECONDS` sets the outage length (default 3 s
to keep the suite fast; the issue's scenario is 60).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from sav.bootstrap import Services
from sav.commands.actor import Actor
from sav.commands.app import SavApplication
from sav.commands.tickets import (
    AssignTicket,
    CreateTicket,
    UpdateTicket,
    assign_ticket,
    create_ticket,
    update_ticket,
)
from sav.config import Settings
from sav.events.ticket import Ticket
from sav.workers.lease import Lease
from sav.workers.publisher import LEASE_NAME, set_position, tracked_position
from sav.workers.routing import build_message, routing_key
from tests.support.broker import Tap, body, delete_names, headers, rabbit_env, unique_names
from tests.support.tcp_proxy import TcpProxy
from tests.support.workers import publisher_of

OUTAGE_SECONDS = float(os.environ.get("SAV_TEST_OUTAGE_SECONDS", "3"))
ADMIN = Actor(user_id="admin-1", role="admin")


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    names = unique_names()
    yield names
    asyncio.run(delete_names(names))


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy().start()
    yield proxy
    proxy.stop()


@pytest.fixture
def settings_env(names: dict[str, str], proxy: TcpProxy) -> dict[str, str]:
    return {**rabbit_env(names, proxy.port), "SAV_WORKER_LEASE_TTL": "1.5"}


@pytest.fixture
async def tap(settings: Settings) -> AsyncIterator[Tap]:
    async with Tap(settings.rabbitmq_exchange) as tap:
        yield tap


class Running:
    """A publisher in a thread of this process, as `sav serve` runs it."""

    def __init__(self, services: Services, **options: Any) -> None:
        self.stop = threading.Event()
        self.publisher = publisher_of(services, **options)
        services.app.on_append(self.publisher.wake)
        self.thread = threading.Thread(target=self.publisher.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.fixture
def publisher(services: Services) -> Iterator[Running]:
    running = Running(services)
    yield running
    running.close()


def fill(app: SavApplication, tickets: int, updates: int = 4) -> int:
    """Store `tickets` * (1 + `updates`) events quickly (one transaction per ticket)."""
    for i in range(tickets):
        ticket = Ticket(id=uuid4(), ticket_number=f"FILL-{i}", subject="s", description="d",
                        priority="normal", category=None, source="web", user_id=f"u{i}",
                        contact_email=None, contact_name=None, tags=[], metadata={},
                        created_by="test", access_token_hash=None, origin=None)
        for j in range(updates):
            ticket.update({"subject": f"s{j}"}, by="test")
        app.record(ticket)
    return app.recorder.max_notification_id() or 0


def worker_process(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SAV_DATA_DIR": str(settings.data_dir),
           "DB_CONNECTION": settings.db_connection, "DB_HOST": settings.db_host,
           "DB_PORT": str(settings.db_port), "DB_DATABASE": settings.db_database,
           "DB_USERNAME": settings.db_username, "DB_PASSWORD": settings.db_password,
           "RABBITMQ_HOST": str(settings.rabbitmq_host),
           "RABBITMQ_PORT": str(settings.rabbitmq_port),
           "RABBITMQ_EXCHANGE": settings.rabbitmq_exchange,
           "RABBITMQ_QUEUE": settings.rabbitmq_queue,
           "SAV_WORKER_LEASE_TTL": str(settings.worker_lease_ttl)}
    return subprocess.Popen([sys.executable, "-m", "sav.cli", "worker", "publisher", *args],
                            env=env, cwd=Path(__file__).parents[2])


async def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


# -- the wire contract ---------------------------------------------------------------


def test_routing_keys_of_known_and_future_events() -> None:
    class PriorityBumped(Ticket.Event):
        pass

    PriorityBumped.__qualname__ = "Ticket.PriorityBumped"
    assert routing_key(Ticket.MessagePosted) == "ticket.message.new"
    assert routing_key(Ticket.MarkedWaitingOnCustomer) == "ticket.status_changed"
    assert routing_key(Ticket.SatisfactionRated) == "ticket.satisfaction.received"
    assert routing_key(PriorityBumped) == "ticket.priority_bumped"


def test_message_never_carries_the_access_token_hash() -> None:
    record = {"position": 7, "type": "Ticket.Created", "stream_id": "abc", "version": 1,
              "timestamp": "2024-01-15T10:30:00.000000Z",
              "data": {"ticket_number": "T-1", "access_token_hash": "secret", "subject": "s"}}
    message = build_message(Ticket.Created, record, {"ticket_number": "T-1"})
    assert b"secret" not in message.body and b"access_token_hash" not in message.body
    assert message.headers["x-sav-position"] == 7 and message.headers["x-sav-version"] == 1
    assert message.message_id == build_message(Ticket.Created, record, {}).message_id


async def test_each_event_is_published_with_key_body_and_headers(
        services: Services, tap: Tap, publisher: Running) -> None:
    app = services.app
    created = create_ticket(app, Actor(user_id=None, role="customer", email="a@example.com"),
                            CreateTicket(subject="Order not received", description="Late",
                                         priority="high", category="delivery"),
                            with_access_token=True)
    ticket_id = created.ticket_id
    assign_ticket(app, ADMIN, ticket_id, AssignTicket(agent_id="agent-1"))
    app.change_ticket(ticket_id, lambda t: t.post_message(
        "m-1", "agent-1", "agent", "Agent", None, "internal remark", True))
    app.change_ticket(ticket_id, lambda t: t.start(by="agent-1"))
    await tap.wait_for_positions(4)
    keys = [m.routing_key for m in tap.messages]
    assert keys == ["ticket.created", "ticket.assigned", "ticket.message.new",
                    "ticket.status_changed"]
    first = tap.messages[0]
    props = first.header.properties
    assert props.delivery_mode == 2 and props.content_type == "application/json"
    assert headers(first)["x-sav-position"] == 1 and headers(first)["x-sav-version"] == 1
    payload = body(first)
    assert set(payload) == {"event", "timestamp", "data"}
    assert payload["event"] == "ticket.created" and payload["timestamp"].endswith("Z")
    data = payload["data"]
    assert data["ticket_id"] == str(ticket_id) and data["priority"] == "high"
    assert data["ticket_number"] == created.ticket_number
    assert "access_token_hash" not in data
    internal = body(tap.messages[2])["data"]
    assert internal["is_internal"] is True
    assert internal["ticket_number"] == created.ticket_number
    assert body(tap.messages[3])["data"]["status"] == "in_progress"
    assert len({m.header.properties.message_id for m in tap.messages}) == 4
    await wait_until(lambda: tracked_position(services.engine) == 4)


# -- reliability -----------------------------------------------------------------------


async def test_broker_outage_loses_nothing_and_fails_no_command(
        services: Services, tap: Tap, proxy: TcpProxy, publisher: Running) -> None:
    errors: list[BaseException] = []
    writing = threading.Event()
    writing.set()

    def write() -> None:
        while writing.is_set():
            try:
                outcome = create_ticket(services.app, ADMIN, CreateTicket(
                    subject="s", description="d", user_id="u-1"))
                update_ticket(services.app, ADMIN, outcome.ticket_id, UpdateTicket(priority="high"))
            except BaseException as error:  # every failure counts
                errors.append(error)
            time.sleep(0.005)

    writer = threading.Thread(target=write)
    writer.start()
    await asyncio.sleep(0.5)
    with proxy.outage():
        stored_before = services.app.recorder.max_notification_id() or 0
        await asyncio.sleep(OUTAGE_SECONDS)
        during = len(tap.messages)
        await asyncio.sleep(0.3)
        assert len(tap.messages) == during, "nothing can be published while cut"
        assert (services.app.recorder.max_notification_id() or 0) > stored_before
    await asyncio.sleep(0.5)
    writing.clear()
    writer.join()
    assert errors == []
    head = services.app.recorder.max_notification_id() or 0
    await tap.wait_for_positions(head, timeout=30 + head / 200)
    assert tap.first_occurrences() == list(range(1, head + 1))
    ids: dict[int, str | None] = {}
    for message in tap.messages:
        position = headers(message)["x-sav-position"]
        assert ids.setdefault(position, message.header.properties.message_id) == \
            message.header.properties.message_id
    await wait_until(lambda: tracked_position(services.engine) == head)
    assert proxy.connections >= 2, "the publisher reconnected after the outage"


async def test_killed_publisher_resumes_from_its_position(
        services: Services, settings: Settings, tap: Tap) -> None:
    head = fill(services.app, 300)
    first = worker_process(settings)
    try:
        await wait_until(lambda: len(tap.messages) > 0, timeout=30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    killed_at = tracked_position(services.engine)
    assert killed_at < head, "killed before the end of the stream"
    second = worker_process(settings)
    try:
        await tap.wait_for_positions(head)
    finally:
        second.terminate()
        second.wait()
    assert tap.first_occurrences() == list(range(1, head + 1))
    # Only the unconfirmed tail of the killed run is sent twice.
    assert len(tap.messages) - head <= head - killed_at


async def test_one_publisher_active_and_standby_takes_over(
        services: Services, settings: Settings, tap: Tap) -> None:
    processes = {p.pid: p for p in (worker_process(settings), worker_process(settings))}
    lease = Lease(services.engine, LEASE_NAME)
    try:
        await wait_until(lambda: lease.holder() is not None, timeout=30)
        head = fill(services.app, 20)
        await tap.wait_for_positions(head)
        assert len(tap.messages) == head, "a single active publisher sends each event once"
        active = int(str(lease.holder()).split(":")[1])
        processes[active].send_signal(signal.SIGKILL)
        processes[active].wait()
        head = fill(services.app, 20)
        await tap.wait_for_positions(head, timeout=30)
        assert int(str(lease.holder()).split(":")[1]) != active
        assert tap.first_occurrences() == list(range(1, head + 1))
    finally:
        for process in processes.values():
            process.terminate()
            process.wait()


async def test_backlog_stored_without_broker_goes_out_from_position_zero(
        services: Services, tap: Tap) -> None:
    head = fill(services.app, 10)
    running = Running(services)
    try:
        await tap.wait_for_positions(head)
        assert tap.first_occurrences() == list(range(1, head + 1))
    finally:
        running.close()


async def test_from_position_publishes_only_later_events(
        services: Services, tap: Tap) -> None:
    head = fill(services.app, 10)
    set_position(services.engine, 30)
    running = Running(services)
    try:
        await tap.wait_for_count(head - 30)
        await asyncio.sleep(0.2)
        assert tap.positions() == list(range(31, head + 1))
    finally:
        running.close()


def test_cli_accepts_a_start_position() -> None:
    from sav.cli.main import build_parser

    args = build_parser().parse_args(["worker", "publisher", "--from", "42"])
    assert args.from_position == 42
