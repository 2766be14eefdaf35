"""Benchmark: the cost of encrypting personal data (issue 12), on vs off in the same run.

Per profile and per mode (encryption on, then off — a switch that exists for this
benchmark only, `PrivacyMapper.encrypting`), a throwaway store is filled through the
create-ticket command handler (what the API, the public form and the consumers call:
one transaction with the ticket number, the append), each ticket by a new customer (a
new data key each: the worst case) plus two messages, then `sav replay` rebuilds the
read model from it. Printed: create-ticket commands/s, message commands/s, replay
events/s, and the ratio off/on. Not a test: it prints figures.

    python scripts/bench/privacy.py [--profiles sqlite,mysql] [--tickets 1000] [--rounds 3]
                                    [--customers N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sav.bootstrap import Services, bootstrap
from sav.commands.actor import Actor
from sav.commands.messages import PostMessage, post_message
from sav.commands.tickets import CreateTicket, create_ticket
from sav.config import load_settings
from sav.workers.projections import replay
from tests.support.settings import drop_mysql_database, mysql_env


@contextmanager
def store(profile: str) -> Iterator[Services]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"SAV_DATA_DIR": tmp, "AUTH_JWT_SECRET": "bench-" + "x" * 40}
        if profile == "mysql":
            env.update(mysql_env(), DB_CONNECTION="mysql",
                       DB_DATABASE=f"sav_bench_{uuid.uuid4().hex[:10]}")
        settings = load_settings(env)
        services = bootstrap(settings)
        try:
            yield services
        finally:
            services.close()
            if settings.is_mysql:
                drop_mysql_database(settings.db_database)


def run(profile: str, tickets: int, customers: int, encrypting: bool) -> dict[str, float]:
    with store(profile) as services:
        app: Any = services.app
        app.mapper.encrypting = encrypting
        started = time.perf_counter()
        ids = []
        for i in range(tickets):
            who = i % customers
            customer = Actor(f"bench-{who}", "customer", f"c{who}@example.com", f"Customer {who}")
            cmd = CreateTicket(subject=f"Parcel {i} lost", priority="normal",
                               description=f"Call me on 06{i:08d}, I live at {i} rue de la Paix")
            ids.append((customer, create_ticket(app, customer, cmd).ticket_id))
        creates = tickets / (time.perf_counter() - started)
        started = time.perf_counter()
        for customer, ticket_id in ids:
            for n in range(2):
                post_message(app, customer, ticket_id, PostMessage(content=f"any news? {n}"))
        messages = 2 * tickets / (time.perf_counter() - started)
        events = app.recorder.max_notification_id() or 0
        started = time.perf_counter()
        replay(app, services.engine)
        replayed = events / (time.perf_counter() - started)
        return {"create/s": creates, "message/s": messages, "replay events/s": replayed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="sqlite")
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--customers", type=int, default=0,
                        help="distinct customers (default: one per ticket, a new key each)")
    args = parser.parse_args()
    customers = args.customers or args.tickets
    for profile in args.profiles.split(","):
        figures: dict[bool, list[dict[str, float]]] = {True: [], False: []}
        for _ in range(args.rounds):  # alternate, so both modes see the same box
            for encrypting in (True, False):
                figures[encrypting].append(run(profile, args.tickets, customers, encrypting))
        print(f"\n{profile}: {args.tickets} tickets by {customers} customers + 2 messages "
              f"each, median of {args.rounds}")
        print(f"{'':18}{'encryption on':>15}{'off':>12}{'on/off':>9}")
        for name in figures[True][0]:
            on = statistics.median(f[name] for f in figures[True])
            off = statistics.median(f[name] for f in figures[False])
            print(f"{name:18}{on:15.0f}{off:12.0f}{on / off:9.2f}")


if __name__ == "__main__":
    main()
