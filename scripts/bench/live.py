"""Benchmark: how many live ticket streams one `sav serve` process holds, and how fast a
new message reaches all of them (issue 27).

A real `sav serve --workers 1` (one API process, its workers in-process) on a throwaway
store; streams are opened in steps (--levels) on --tickets tickets, each a raw socket
reading `GET /tickets/{id}/events` (Accept: text/event-stream) as the ticket's customer.
At each step an agent posts --messages public replies, one after another, to each
ticket; each stream notes when each entry arrives. The delivery latency of an entry
is its arrival time minus the event's own timestamp (`occurred_at`, the same machine's
clock): append, the tailer's wake-up, fan-out and the socket, all counted. Reported per
step: streams open, the server's resident memory, deliveries within 1 s, p50/p99/max.
The client runs on the same machine and shares its CPUs with the server.

    python scripts/bench/live.py [--profile sqlite|mysql] [--levels 250,500,1000,2000]
                                 [--tickets 1] [--messages 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sav_process import SavServer, issue_token, new_jwt_secret, open_store

OPENING_AT_ONCE = 50  # concurrent connects (the listen backlog is small)


@dataclass
class Stream:
    ticket_id: str
    arrivals: dict[int, float] = field(default_factory=dict)  # position -> latency (s)
    writer: asyncio.StreamWriter | None = None
    task: asyncio.Task[None] | None = None


def call(base: str, method: str, path: str, token: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


async def open_stream(port: int, token: str, stream: Stream) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
    writer.write((f"GET /tickets/{stream.ticket_id}/events HTTP/1.1\r\nHost: bench\r\n"
                  f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
                  ).encode())
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"stream refused: {status!r}")
    while await reader.readline() not in (b"\r\n", b""):
        pass  # the head
    while b"after now" not in await reader.readline():
        pass  # up to the greeting: from here the stream is followed
    stream.writer = writer
    stream.task = asyncio.get_running_loop().create_task(read_entries(reader, stream))


async def read_entries(reader: asyncio.StreamReader, stream: Stream) -> None:
    while line := await reader.readline():
        if line.startswith(b"data: "):
            now = time.time()
            entry = json.loads(line[6:])
            occurred = datetime.fromisoformat(entry["occurred_at"]).timestamp()
            stream.arrivals[entry["position"]] = now - occurred


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def step(server: SavServer, streams: list[Stream], tickets: list[str], agent: str,
               messages: int) -> list[float]:
    """Post `messages` replies per ticket; the latencies of every delivery (a missing one
    counts as infinite)."""
    positions: dict[str, list[int]] = {ticket: [] for ticket in tickets}
    loop = asyncio.get_running_loop()
    for n in range(messages):
        for ticket in tickets:
            await loop.run_in_executor(None, call, server.base, "POST",
                                       f"/tickets/{ticket}/messages", agent,
                                       {"content": f"reply {n}"})
            history = await loop.run_in_executor(
                None, call, server.base, "GET", f"/tickets/{ticket}/history?limit=100",
                agent)
            positions[ticket].append(history["data"][-1]["position"])
        await asyncio.sleep(0.3)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(
            all(p in s.arrivals for p in positions[s.ticket_id]) for s in streams):
        await asyncio.sleep(0.1)
    return [s.arrivals.get(p, float("inf")) for s in streams for p in positions[s.ticket_id]]


async def run(args: argparse.Namespace) -> None:
    secret = new_jwt_secret()
    with open_store(args.profile, secret) as store:
        store.env["SAV_MAX_CONNECTIONS_PER_CLIENT"] = "0"  # one client opens them all
        with SavServer(store, workers=1) as server:
            assert server.process is not None
            customer = issue_token(store.env, "cust-1", "customer")
            agent = issue_token(store.env, "agent-1", "agent")
            tickets = [call(server.base, "POST", "/tickets", customer,
                            {"subject": f"Live {i}", "description": "d"})["id"]
                       for i in range(args.tickets)]
            streams: list[Stream] = []
            print(f"profile={args.profile} tickets={args.tickets} "
                  f"messages/step={args.messages} (per ticket)")
            print(f"{'streams':>8} {'rss MiB':>8} {'<=1s':>7} {'p50 ms':>8} {'p99 ms':>8} "
                  f"{'max ms':>8}")
            for level in args.levels:
                gate = asyncio.Semaphore(OPENING_AT_ONCE)

                async def opened(stream: Stream, gate: asyncio.Semaphore = gate) -> None:
                    async with gate:
                        await open_stream(server.port, customer, stream)

                new = [Stream(tickets[i % len(tickets)]) for i in range(len(streams), level)]
                await asyncio.gather(*(opened(s) for s in new))
                streams.extend(new)
                latencies = sorted(await step(server, streams, tickets, agent, args.messages))
                within = sum(1 for x in latencies if x <= 1.0) / len(latencies)
                p50 = statistics.median(latencies)
                p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
                print(f"{len(streams):>8} {rss_mib(server.process.pid):>8.0f} "
                      f"{within:>7.1%} {p50 * 1000:>8.0f} {p99 * 1000:>8.0f} "
                      f"{latencies[-1] * 1000:>8.0f}", flush=True)
            for stream in streams:
                if stream.writer is not None:
                    stream.writer.close()
            errors = server.errors()
            print("server errors:", errors or "none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="sqlite", choices=["sqlite", "mysql"])
    parser.add_argument("--levels", default="250,500,1000,2000",
                        type=lambda v: [int(x) for x in v.split(",")])
    parser.add_argument("--tickets", type=int, default=1)
    parser.add_argument("--messages", type=int, default=5)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
