"""Benchmark: deliveries/s of `sav worker webhooks` to a local receiver, next to the
publisher's events/s to RabbitMQ on the same store in the same run.

A fresh store (SQLite or MariaDB) is filled with N events and one subscription to every
event (`["*"]`) pointing at a small aiohttp receiver in its own process (it answers 200
at once). The sender runs from the subscription's start until every event is delivered
(each one read from the store, signed, POSTed, its row recorded); then the publisher
relays the same N events to a durable exchange and queue with publisher confirms
(scripts/bench/publish.py alone). The ceiling, in the same run: the same HTTP client
posting as many bodies of the same size to the same receiver, with nothing else to do.
Not a test: it prints figures.

    python scripts/bench/webhooks.py [--profile sqlite|mysql] [--events 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sav.bootstrap import Services
from sav.commands.actor import Actor
from sav.projections.runner import Projector
from sav.webhooks import subscriptions
from sav.webhooks.commands import CreateWebhook, TargetRules, create_webhook
from sav.webhooks.deliveries import DELIVERED, d
from sav.webhooks.sender import WebhookSender
from scripts.bench.ceilings import free_port
from scripts.bench.publish import bench_store, declare, fill, run_publisher

RECEIVER = """
import sys
from aiohttp import web

async def hook(request):
    await request.read()
    return web.Response(text="ok")

app = web.Application()
app.router.add_post("/hook", hook)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def start_receiver() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    url = f"http://127.0.0.1:{port}/hook"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.post(url, content=b"{}", timeout=1)
            return process, url
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def delivered(runtime: Services) -> int:
    with runtime.engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(d.status == DELIVERED)).scalar_one())


def run_sender(runtime: Services, count: int, concurrency: int) -> float:
    stop = threading.Event()
    sender = WebhookSender(runtime.app, runtime.engine, runtime.settings,
                           concurrency=concurrency, poll_interval=0.02)
    thread = threading.Thread(target=sender.run, args=(stop,), daemon=True)
    started = time.perf_counter()
    thread.start()
    while delivered(runtime) < count:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join(timeout=30)
    return elapsed


async def bare_posts(url: str, count: int, concurrency: int, body: bytes) -> float:
    """The ceiling: the same client posting the same bodies, no store, no signing."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=10,
                                 limits=limits) as client:
        gate = asyncio.Semaphore(concurrency)

        async def post() -> None:
            async with gate:
                (await client.post(url, content=body)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(post() for _ in range(count)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    receiver, url = start_receiver()
    try:
        with bench_store(args.profile, SAV_WEBHOOK_ALLOW_PRIVATE="true") as bench:
            runtime = bench.runtime
            admin = Actor("bench-admin", "admin")
            create_webhook(runtime.app, admin, CreateWebhook(url=url, events=["*"]),
                           TargetRules(allow_private=True, https_only=False))
            head = fill(runtime, args.events)
            # Only the subscriptions' read model: the sender reads nothing else.
            Projector(runtime.app.recorder, runtime.app.mapper, runtime.engine,
                      handlers=[subscriptions.HANDLERS]).run_once()
            count = head - 1  # every event after the subscription's own
            print(f"store: {args.profile}, {head} events")
            sent = run_sender(runtime, count, args.concurrency)
            body = runtime.app.recorder.select_notifications(head, 1)[0].state
            bare = asyncio.run(bare_posts(url, count, args.concurrency, body))
            asyncio.run(declare(bench.settings, bench.tap))
            published = run_publisher(runtime, head, 500)
            print(f"sav worker webhooks (signed POST, {args.concurrency} at a time, row "
                  f"per delivery): {count / sent:8.0f} deliveries/s ({sent:.2f}s)")
            print(f"bare httpx POSTs, same receiver, {args.concurrency} at a time "
                  f"(ceiling):     {count / bare:8.0f} requests/s   ({bare:.2f}s)")
            print(f"sav worker publisher (RabbitMQ, window 500, confirms):           "
                  f"{head / published:8.0f} events/s     ({published:.2f}s)")
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


if __name__ == "__main__":
    main()
