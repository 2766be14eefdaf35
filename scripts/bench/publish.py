"""Benchmark: events/s the publisher relays to RabbitMQ with publisher confirms.

A fresh store (SQLite or MariaDB) is filled with N events; our publisher relays them
from position 0 to a durable topic exchange with a durable queue bound (so the broker
persists every message). In the same run, on the same broker, exchange and queue:
a bare aiormq loop publishing N messages of the same size with the same pipelined
confirms (the ceiling), and the same loop awaiting each confirm (what pipelining buys).
Not a test: it prints figures.

    python scripts/bench/publish.py [--profile sqlite|mysql] [--events 20000] [--window 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import aiormq
from aiormq.abc import AbstractChannel
from pamqp import commands as spec
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sav.bootstrap import Services, bootstrap
from sav.config import Settings, load_settings
from sav.events.ticket import Ticket
from sav.eventstore.db import build_engine
from sav.workers.amqp import amqp_url
from sav.workers.publisher import Publisher, tracked_position


def make_settings(profile: str, data_dir: str, names: dict[str, str]) -> Settings:
    env = {"SAV_DATA_DIR": data_dir, "AUTH_JWT_SECRET": "bench", "RABBITMQ_HOST": "127.0.0.1",
           **names}
    if profile == "mysql":
        env.update(DB_CONNECTION="mysql", DB_HOST=os.environ.get("DB_HOST", "127.0.0.1"),
                   DB_USERNAME=os.environ.get("DB_USERNAME", "root"),
                   DB_PASSWORD=os.environ.get("DB_PASSWORD", ""),
                   DB_DATABASE=f"sav_bench_{uuid.uuid4().hex[:10]}")
    return load_settings(env)


def fill(runtime: Services, events: int, per_ticket: int = 10) -> int:
    for i in range(events // per_ticket):
        ticket = Ticket(id=uuid4(), ticket_number=f"BENCH-{i}", subject="Order not received",
                        description="The parcel never arrived " * 4, priority="normal",
                        category="delivery", source="web", user_id=f"user-{i}",
                        contact_email=None, contact_name=None, tags=["bench"],
                        metadata={"order_id": i}, created_by="bench", access_token_hash=None,
                        origin=None)
        for j in range(per_ticket - 1):
            ticket.update({"subject": f"Order not received ({j})"}, by="agent-1")
        runtime.app.record(ticket)
    return runtime.app.recorder.max_notification_id() or 0


def run_publisher(runtime: Services, head: int, window: int) -> float:
    stop = threading.Event()
    publisher = Publisher(runtime.app, runtime.engine, runtime.settings, window=window)
    thread = threading.Thread(target=publisher.run, args=(stop,), daemon=True)
    started = time.perf_counter()
    thread.start()
    while tracked_position(runtime.engine) < head:
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join(timeout=10)
    return elapsed


async def bare_loop(channel: AbstractChannel, exchange: str, count: int, window: int,
                    body: bytes) -> float:
    properties = spec.Basic.Properties(delivery_mode=2, content_type="application/json",
                                       headers={"x-sav-position": 1, "x-sav-version": 1})
    started = time.perf_counter()
    for first in range(0, count, window):
        confirms = await asyncio.gather(*(
            channel.basic_publish(body, exchange=exchange, routing_key="ticket.updated",
                                  properties=properties)
            for _ in range(min(window, count - first))))
        assert all(isinstance(c, spec.Basic.Ack) for c in confirms)
    return time.perf_counter() - started


async def bare(settings: Settings, count: int, window: int, body: bytes,
               queue: str) -> tuple[float, float, int]:
    async with aiormq.connect(amqp_url(settings)) as connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.queue_purge(queue)
        pipelined = await bare_loop(channel, settings.rabbitmq_exchange, count, window, body)
        sequential_count = min(count, 2000)
        sequential = await bare_loop(channel, settings.rabbitmq_exchange, sequential_count, 1,
                                     body)
        return pipelined, sequential, sequential_count


async def declare(settings: Settings, queue: str) -> None:
    async with aiormq.connect(amqp_url(settings)) as connection:
        channel = await connection.channel()
        await channel.exchange_declare(settings.rabbitmq_exchange, exchange_type="topic",
                                       durable=True)
        await channel.queue_declare(queue, durable=True)
        await channel.queue_bind(queue, settings.rabbitmq_exchange, routing_key="#")


async def cleanup(settings: Settings, queue: str) -> None:
    async with aiormq.connect(amqp_url(settings)) as connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.exchange_delete(settings.rabbitmq_exchange)


@dataclass
class Bench:
    """A throwaway store and the broker names of one run (exchange, queue, tap queue)."""

    runtime: Services
    tap: str

    @property
    def settings(self) -> Settings:
        return self.runtime.settings


@contextmanager
def bench_store(profile: str, **env: str) -> Iterator[Bench]:
    """A fresh SQLite file or MariaDB database with an exchange, a queue and a tap queue
    of its own (`env`: more settings); the broker's and the database's leftovers are
    removed at the end."""
    suffix = uuid.uuid4().hex[:8]
    names = {"RABBITMQ_EXCHANGE": f"sav-bench-{suffix}",
             "RABBITMQ_QUEUE": f"sav-bench-{suffix}", **env}
    with tempfile.TemporaryDirectory() as data_dir:
        settings = make_settings(profile, data_dir, names)
        runtime = bootstrap(settings)
        bench = Bench(runtime, f"sav-bench-tap-{suffix}")
        try:
            yield bench
        finally:
            asyncio.run(cleanup(settings, bench.tap))
            runtime.close()
            if settings.is_mysql:
                server = build_engine(settings.database_url)
                with server.connect() as conn:
                    conn.execute(text(f"DROP DATABASE `{settings.db_database}`"))
                server.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=500)
    args = parser.parse_args()
    with bench_store(args.profile) as bench:
        runtime, settings = bench.runtime, bench.settings
        started = time.perf_counter()
        head = fill(runtime, args.events)
        print(f"store: {args.profile}, {head} events filled in "
              f"{time.perf_counter() - started:.1f}s")
        asyncio.run(declare(settings, bench.tap))
        elapsed = run_publisher(runtime, head, args.window)
        body = runtime.app.recorder.select_notifications(2, 1)[0].state
        pipelined, sequential, seq_count = asyncio.run(
            bare(settings, head, args.window, body, bench.tap))
        print(f"sav publisher (window {args.window}, confirms, DB read + CAS): "
              f"{head / elapsed:10.0f} events/s  ({elapsed:.2f}s)")
        print(f"bare aiormq, pipelined confirms (window {args.window}):      "
              f"{head / pipelined:10.0f} msgs/s    ({pipelined:.2f}s)")
        print(f"bare aiormq, one confirm awaited per message:         "
              f"{seq_count / sequential:10.0f} msgs/s    ({seq_count} msgs)")


if __name__ == "__main__":
    main()
