"""Benchmark: `sav replay` next to a raw scan of the events table, in the same run.

Per profile, a throwaway store of --events events (default 105,000) is appended through
the event store directly (Ticket aggregates, many tickets per save: no HTTP), then:

- the ceiling: `SELECT notification_id, originator_id, originator_version, topic, state
  FROM stored_events` fetched with the bare DB-API driver (rows/s);
- (c) of issue 21: every stored event read and decoded through SAV's mapper, nothing
  else (`library.py scan`, in a process of its own, events/s);
- the replay: `sav.workers.projections.replay`, what `sav replay` runs (events/s);

alternating per round, medians over --rounds. Not a test: it prints figures. With
--verify it also projects the store live first and checks the replay gave the same rows.

    python scripts/bench/replay.py [--profiles sqlite,mysql] [--events 105000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import inspect
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import select

from sav.bootstrap import Services, bootstrap
from sav.config import load_settings
from sav.events import clock
from sav.events.agent import Agent
from sav.events.ticket import Ticket
from sav.projections.runner import Projector
from sav.projections.schema import read_metadata
from sav.projections.ticket_stats import CELL_TABLES
from sav.workers.projections import replay

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from library import scan_rate as decode_rate

SCAN = ("SELECT notification_id, originator_id, originator_version, topic, state "
        "FROM stored_events")
AGENTS = [f"agent-{i}" for i in range(8)]
TICKETS_PER_SAVE = 500
START = datetime(2026, 1, 5, 8, tzinfo=UTC)


def mysql_env() -> dict[str, str]:
    return {"DB_HOST": os.environ.get("DB_HOST", "127.0.0.1"),
            "DB_PORT": os.environ.get("DB_PORT", "3306"),
            "DB_USERNAME": os.environ.get("DB_USERNAME", "root"),
            "DB_PASSWORD": os.environ.get("DB_PASSWORD", "")}


@contextmanager
def store(profile: str) -> Iterator[Services]:
    with store_and_env(profile) as (services, _env):
        yield services


@contextmanager
def store_and_env(profile: str) -> Iterator[tuple[Services, dict[str, str]]]:
    """A throwaway store, and the environment a `sav` process would open it with."""
    with tempfile.TemporaryDirectory(prefix=f"sav-replay-{profile}-") as tmp:
        env = {"SAV_DATA_DIR": tmp, "AUTH_JWT_SECRET": "bench-" + uuid.uuid4().hex}
        if profile == "mysql":
            env.update(mysql_env(), DB_CONNECTION="mysql",
                       DB_DATABASE=f"sav_bench_replay_{uuid.uuid4().hex[:8]}")
        services = bootstrap(load_settings(env))
        try:
            yield services, env
        finally:
            services.close()
            if profile == "mysql":
                with raw_connection(services) as conn:
                    cursor = conn.cursor()
                    for suffix in ("", "_rebuild"):
                        cursor.execute(f"DROP DATABASE IF EXISTS `{env['DB_DATABASE']}{suffix}`")


@contextmanager
def raw_connection(services: Services) -> Iterator[Any]:
    settings = services.settings
    if not settings.is_mysql:
        conn = sqlite3.connect(settings.data_dir / "sav.sqlite3", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
    else:
        import pymysql

        conn = pymysql.connect(host=settings.db_host, port=settings.db_port,
                               user=settings.db_username, password=settings.db_password,
                               database=settings.db_database)
    try:
        yield conn
    finally:
        conn.close()


def lifecycle(ticket: Ticket, index: int) -> None:
    """Six shapes in turn, 1 to 9 events each (about 5 on average): messages, internal
    notes with attachments, read receipts, edits, removals, ratings, escalations."""
    agent, customer = AGENTS[index % len(AGENTS)], f"cust-{index % 997}"
    shape = index % 6
    if shape == 0:
        return
    ticket.assign(agent, by=agent)
    ticket.post_message(str(uuid.uuid4()), agent, "agent", "Ann", None,
                        "We are looking into your order right now.", False)
    if shape == 1:
        note = str(uuid.uuid4())
        ticket.post_message(note, agent, "agent", "Ann", None, "carrier says lost", True)
        ticket.add_attachment({
            "attachment_id": str(uuid.uuid4()), "message_id": note, "user_id": agent,
            "file_name": "label.pdf", "file_path": f"tickets/{ticket.id}/label.pdf",
            "file_type": "document", "file_size": 1234, "mime_type": "application/pdf"})
    elif shape == 2:
        ticket.post_message(str(uuid.uuid4()), customer, "customer", None, None,
                            "Still waiting for the parcel.", False)
        ticket.mark_read([m for m in ticket.messages], customer, "customer")
    elif shape == 3:
        ticket.resolve(resolution="refund issued", by=agent)
        ticket.rate(rating=1 + index % 5, comment="ok", by=customer)
        ticket.close(by=agent)
    elif shape == 4:
        ticket.update({"priority": "urgent", "internal_notes": "vip"}, by=agent)
        ticket.escalate("no answer")
    else:
        first = next(iter(ticket.messages))
        ticket.edit_message(first, "Edited answer.", by=agent)
        ticket.remove_message(first, by=agent)
        ticket.resolve(resolution=None, by=agent)


def build(services: Services, events: int) -> int:
    """Append tickets until the store holds `events` events; returns the head."""
    app = services.app
    clock.freeze(START)
    for i, agent_id in enumerate(AGENTS):
        app.save(Agent(agent_id=agent_id, name=f"Agent {i}", email=None, active=True))
    index = 0
    while (app.recorder.max_notification_id() or 0) < events:
        tickets = []
        for _ in range(TICKETS_PER_SAVE):
            ticket = Ticket(id=uuid.uuid4(), ticket_number=f"BENCH-{index:07d}",
                            subject=f"Order {index} not received", description="Parcel lost",
                            priority=("low", "normal", "high")[index % 3], category="delivery",
                            source="web", user_id=f"cust-{index % 997}", contact_email=None,
                            contact_name=None, tags=["bench"], metadata={"i": index},
                            created_by=None, access_token_hash=None, origin=None)
            lifecycle(ticket, index)
            tickets.append(ticket)
            index += 1
        app.save(*tickets)
        clock.freeze(START + timedelta(hours=index // 2000))  # spread over days
    clock.reset()
    return app.recorder.max_notification_id() or 0


def scan_rate(services: Services) -> float:
    with raw_connection(services) as conn:
        started = time.perf_counter()
        cursor = conn.cursor()
        cursor.execute(SCAN)
        rows = 0
        while batch := cursor.fetchmany(1000):
            rows += len(batch)
        return rows / (time.perf_counter() - started)


def timed_replay(services: Services) -> tuple[int, str]:
    """The replay and how long each of its phases took (when it reports phases)."""
    marks: list[tuple[str, float]] = [("setting up", time.perf_counter())]
    if "phase" not in inspect.signature(replay).parameters:  # an older sav
        return replay(services.app, services.engine), ""
    applied = replay(services.app, services.engine,
                     phase=lambda name: marks.append((name, time.perf_counter())))
    marks.append(("end", time.perf_counter()))
    return applied, ", ".join(f"{name} {end - start:.1f} s"
                              for (name, start), (_, end) in pairwise(marks))


def read_tables(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Every read row; statistics cells with no tickets count for nothing (live leaves
    the ones tickets moved out of, bulk replay makes none: see ticket_stats.py)."""
    with services.engine.connect() as conn:
        return {table.name: sorted((tuple(r) for r in conn.execute(select(table))
                                    if table not in CELL_TABLES or r.tickets), key=repr)
                for table in read_metadata.sorted_tables}


def run_profile(profile: str, events: int, rounds: int, verify: bool) -> str:
    with store_and_env(profile) as (services, env):
        started = time.perf_counter()
        head = build(services, events)
        print(f"[{profile}] built {head:,} events in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
        live = None
        if verify:
            Projector(services.app.recorder, services.app.mapper, services.engine).run_once()
            live = read_tables(services)
        scans, decodes, replays = [], [], []
        for _ in range(rounds):
            scans.append(scan_rate(services))
            decodes.append(decode_rate({**os.environ, **env})[1])
            started = time.perf_counter()
            applied, phases = timed_replay(services)
            replays.append(applied / (time.perf_counter() - started))
            print(f"[{profile}] scan {scans[-1]:,.0f} rows/s, (c) {decodes[-1]:,.0f} "
                  f"events/s, replay {replays[-1]:,.0f} events/s ({phases}; load average "
                  f"{os.getloadavg()[0]:.1f})", file=sys.stderr)
        if live is not None:
            same = read_tables(services) == live
            print(f"[{profile}] replay equals live projection: {same}", file=sys.stderr)
            if not same:
                raise SystemExit(f"{profile}: replay differs from live projection")
        scan, rate = statistics.median(scans), statistics.median(replays)
        decode = statistics.median(decodes)
        return (f"| {profile} | {head:,} | {rate:,.0f} events/s ({head / rate:.1f} s) | "
                f"{decode:,.0f} events/s | {rate / decode:.3f} | {scan:,.0f} rows/s | "
                f"{rate / scan:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="sqlite,mysql")
    parser.add_argument("--events", type=int, default=105_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--verify", action="store_true",
                        help="project live first and check the replay gave the same rows")
    args = parser.parse_args()
    lines = [run_profile(p, args.events, args.rounds, args.verify)
             for p in args.profiles.split(",")]
    print("| profile | events | `sav replay` | (c) scan + mapper decode | ratio | "
          "raw SELECT + fetch of stored_events | ratio |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
