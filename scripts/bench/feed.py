"""Benchmark: the event feed read over HTTP next to a raw scan of the events table.

Per profile, a throwaway store of --events events (tickets of 1 to 6 events, appended
through the event store, many tickets per save) is served by a real `sav serve`
(`SAV_INPROCESS_WORKERS=false`: nothing else runs in it), then, alternating per round:

- the ceiling: `SELECT * FROM stored_events` fetched with the bare DB-API driver,
  1,000 rows at a time (rows/s);
- the feed: `GET /events?after=…&limit=1000` pages read back-to-back by one client on
  one keep-alive connection, each page decoded to follow `next_after` (events/s);
- the export: `GET /events/export` (JSON lines) read to the end (events/s).

Medians over --rounds. Not a test: it prints figures.

    python scripts/bench/feed.py [--profiles sqlite,mysql] [--events 50000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sav_process import SavServer, Store, issue_token, new_jwt_secret, open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sav.commands.app import SavApplication
from sav.config import load_settings
from sav.events import clock
from sav.events.ticket import Ticket

TICKETS_PER_SAVE = 500
START = datetime(2026, 1, 5, 8, tzinfo=UTC)


def seed(store: Store, events: int) -> int:
    """Append tickets until the store holds `events` events; returns the head."""
    settings = load_settings(store.env)
    app = SavApplication(settings.database_url, settings.ticket_number_prefix)
    from sav.privacy.setup import install, open_key_store
    install(app, open_key_store(settings))  # issue 12: encrypted personal fields
    try:
        index = 0
        while (app.recorder.max_notification_id() or 0) < events:
            clock.freeze(START + timedelta(hours=index // 500))
            tickets = [new_ticket(i) for i in range(index, index + TICKETS_PER_SAVE)]
            index += TICKETS_PER_SAVE
            app.save(*tickets)
        return app.recorder.max_notification_id() or 0
    finally:
        clock.reset()
        app.close()


def new_ticket(index: int) -> Ticket:
    agent, customer = f"agent-{index % 8}", f"cust-{index % 997}"
    ticket = Ticket(id=uuid.uuid4(), ticket_number=f"BENCH-{index:07d}",
                    subject=f"Order {index} not received", description="The parcel is late",
                    priority=("low", "normal", "high", "urgent")[index % 4],
                    category="delivery", source="web", user_id=customer, contact_email=None,
                    contact_name=None, tags=["bench"], metadata={"order": index},
                    created_by=customer, access_token_hash=None, origin=None)
    if index % 3:
        ticket.assign(agent, by=agent)
        ticket.post_message(str(uuid.uuid4()), agent, "agent", "Ann", None,
                            "We are looking into your order right now.", False)
    if index % 3 == 2:
        ticket.post_message(str(uuid.uuid4()), customer, "customer", None, None,
                            "Thank you, still waiting.", False)
        ticket.resolve(resolution="refund issued", by=agent)
        ticket.close(by=agent)
    return ticket


def read_feed(server: SavServer, token: str) -> tuple[int, float]:
    """(events, events/s) of the whole feed, 1,000 per page, one connection."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    headers = {"Authorization": f"Bearer {token}"}
    after, read = 0, 0
    started = time.perf_counter()
    while True:
        conn.request("GET", f"/events?after={after}&limit=1000", headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET /events: {response.status} {body[:300]!r}")
        page = json.loads(body)
        if not page["data"]:
            break
        read += len(page["data"])
        after = page["pagination"]["next_after"]
    elapsed = time.perf_counter() - started
    conn.close()
    return read, read / elapsed


def read_export(server: SavServer, token: str) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    started = time.perf_counter()
    conn.request("GET", "/events/export", headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    lines = 0
    while chunk := response.read(1 << 16):
        lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    conn.close()
    return lines, lines / elapsed


def run_profile(profile: str, events: int, rounds: int) -> str:
    with open_store(profile, new_jwt_secret()) as store:
        started = time.perf_counter()
        head = seed(store, events)
        print(f"[{profile}] seeded {head:,} events in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
        store.env["SAV_INPROCESS_WORKERS"] = "false"
        token = issue_token(store.env, "bench-admin", "admin")
        scans, feeds, exports = [], [], []
        with SavServer(store) as server:
            read_feed(server, token)  # warm up: caches, connections
            for _ in range(rounds):
                rows, scan = store.raw.fetch_rate("stored_events")
                read, feed = read_feed(server, token)
                lines, export = read_export(server, token)
                if not rows == read == lines == head:
                    raise SystemExit(f"{profile}: scanned {rows}, feed {read}, export "
                                     f"{lines}, head {head}")
                scans.append(scan)
                feeds.append(feed)
                exports.append(export)
                print(f"[{profile}] scan {scan:,.0f} rows/s, feed {feed:,.0f} events/s, "
                      f"export {export:,.0f} events/s", file=sys.stderr)
            errors = server.errors()
        if errors:
            print(f"[{profile}] server errors: {errors}", file=sys.stderr)
        scan, feed, export = (statistics.median(x) for x in (scans, feeds, exports))
        return (f"| {profile} | {head:,} | {feed:,.0f} events/s | {export:,.0f} events/s | "
                f"{scan:,.0f} rows/s | {feed / scan:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="sqlite,mysql")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lines = [run_profile(p, args.events, args.rounds) for p in args.profiles.split(",")]
    print("| profile | events | `GET /events` pages of 1,000 | `GET /events/export` | "
          "raw SELECT + fetch of stored_events | feed / raw |")
    print("|---|---|---|---|---|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
