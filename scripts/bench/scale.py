"""Benchmark at scale: how the costs grow with the store (issue 22,
docs/decisions/0170-scale.md).

A store of --tickets tickets (about 4.6 events each) is built through the bulk path:
Ticket aggregates and their lifecycles appended 500 per transaction by the real
application (mapper, cipher, recorder: the events `sav` itself writes), then folded by
`sav replay`'s bulk load. A real `sav serve` is then measured with wrk: searches (a word
in every ticket, in one ticket of a thousand, in none), lists (admin, an agent's queue,
a customer with half the tickets, one with a hundredth; first page and a deep cursor),
the statistics, and sequential subject edits (each a new text: the full-text row is
replaced). With --double the store then grows to twice its size, is folded again and
measured again, and the ratios of the two are printed: a cost that does not grow with
the store stays near 1. Not a test: it prints figures.

    python scripts/bench/scale.py [--profile sqlite|mysql] [--tickets 100000] [--double]
        [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay import AGENTS, START, lifecycle, mysql_env, raw_connection
from sav_process import SavServer, Store, issue_token
from wrk_client import Wrk

from sav.bootstrap import Services, bootstrap
from sav.config import load_settings
from sav.events import clock
from sav.events.agent import Agent
from sav.events.ticket import Ticket
from sav.projections.cursors import encode_cursor
from sav.workers.projections import replay

TICKETS_PER_SAVE = 500
BIG, SMALL = "cust-big", "cust-small"  # half of the tickets; one in a hundred
RARE_EVERY = 1000  # one ticket in a thousand has the rare word


def owner(index: int) -> str:
    if index % 2 == 0:
        return BIG
    return SMALL if index % 100 == 1 else f"cust-{index % 997}"


def build(services: Services, first: int, count: int) -> int:
    """Append tickets `first` .. `first + count - 1` (with the agents on the first call);
    returns the head position. (Appending from several processes was slower on the
    shared 2-core machine: the work is the CPU's, docs/decisions/0170-scale.md.)"""
    if first == 0:
        for i, agent_id in enumerate(AGENTS):
            services.app.save(Agent(agent_id=agent_id, name=f"Agent {i}", email=None,
                                    active=True))
    append(services.app, first, count)
    return services.app.recorder.max_notification_id() or 0


def append(app: Any, first: int, count: int) -> None:
    """Tickets `first` .. `first + count - 1` with their lifecycles, made by the Ticket
    aggregate (its rules), sealed by the application's mapper and appended
    TICKETS_PER_SAVE at a time, each batch one transaction (its key rows and events)."""
    clock.freeze(START + timedelta(hours=first // 2000))
    for start in range(first, first + count, TICKETS_PER_SAVE):
        tickets = []
        for index in range(start, min(first + count, start + TICKETS_PER_SAVE)):
            rare = " zeppelin" if index % RARE_EVERY == 0 else ""
            ticket = Ticket(id=uuid.uuid4(), ticket_number=f"BENCH-{index:07d}",
                            subject=f"Order {index} not received{rare}",
                            description="Parcel lost", priority=("low", "normal", "high")[
                                index % 3], category="delivery", source="web",
                            user_id=owner(index), contact_email=None, contact_name=None,
                            tags=["bench"], metadata={"i": index}, created_by=None,
                            access_token_hash=None, origin=None)
            lifecycle(ticket, index)
            tickets.append(ticket)
        with app.recorder.transaction():  # the batch's key rows and events: one commit
            app.save(*tickets)
        clock.freeze(START + timedelta(hours=(start + TICKETS_PER_SAVE) // 2000))
    clock.reset()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def deep_cursor(services: Services) -> str:
    """A cursor a tenth of the way up the store: nine tenths of it newer."""
    with raw_connection(services) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT MIN(seq), MAX(seq) FROM support_tickets")
        low, high = cursor.fetchone()
        return encode_cursor(low + (high - low) // 10)


def call(base: str, path: str, headers: dict[str, str], method: str = "GET",
         body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        **headers, "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def edit_times(base: str, admin: dict[str, str], edits: int) -> list[float]:
    """Milliseconds of `edits` sequential subject changes, each a new text, on the
    newest tickets."""
    ids = []
    cursor = None
    while len(ids) < edits:  # closed tickets are read-only: open ones only
        page = call(base, "/tickets?limit=100&status=open,in_progress" + (
            f"&cursor={cursor}" if cursor else ""), admin)
        ids += [t["id"] for t in page["data"]]
        cursor = page["pagination"]["next_cursor"]
    times = []
    for i, ticket_id in enumerate(ids[:edits]):
        started = time.perf_counter()
        call(base, f"/tickets/{ticket_id}", admin, "PUT", {"subject": f"Renamed {i} parcel"})
        times.append((time.perf_counter() - started) * 1000)
    return times


def measure(profile: str, tmp: Path, env: dict[str, str], services: Services,
            seconds: float) -> dict[str, tuple[float, float, float]]:
    """name -> (req/s, p50 ms, p99 ms)."""
    deep = deep_cursor(services)
    store = Store(profile, tmp, env)
    tokens = {who: {"Authorization": f"Bearer {issue_token(env, who, role)}"}
              for who, role in (("admin-1", "admin"), (AGENTS[0], "agent"), (BIG, "customer"),
                                (SMALL, "customer"))}
    admin, agent, big, small = tokens.values()
    cases = [
        ("list, admin, first page", "/tickets?limit=20", admin),
        ("list, admin, deep cursor", f"/tickets?limit=20&cursor={deep}", admin),
        ("list, agent queue, first page", "/tickets?limit=20", agent),
        ("list, agent queue, deep cursor", f"/tickets?limit=20&cursor={deep}", agent),
        ("list, customer (1/2), first page", "/tickets?limit=20", big),
        ("list, customer (1/2), deep cursor", f"/tickets?limit=20&cursor={deep}", big),
        ("list, customer (1/100), first page", "/tickets?limit=20", small),
        ("list, admin, status=closed", "/tickets?limit=20&status=closed", admin),
        ("statistics, admin", "/tickets/statistics", admin),
        ("search, word in every ticket", "/tickets?q=parcel&limit=20", admin),
        ("search, word in every ticket, deep", f"/tickets?q=parcel&limit=20&cursor={deep}",
         admin),
        ("search, word in 1/1000", "/tickets?q=zeppelin&limit=20", admin),
        ("search, absent word", "/tickets?q=nowhere&limit=20", admin),
        ("search, every ticket, customer (1/100)", "/tickets?q=parcel&limit=20", small),
        ("search, every ticket, customer (1/2)", "/tickets?q=parcel&limit=20", big),
        ("search, two words in every ticket", "/tickets?q=parcel%20lost&limit=20", admin),
        ("search, a word in every ticket and one in 1/1000",
         "/tickets?q=parcel%20zeppelin&limit=20", admin),
    ]
    figures: dict[str, tuple[float, float, float]] = {}
    print(f"  load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    wrk = Wrk()
    with SavServer(store) as server:
        for name, path, headers in cases:
            result = wrk.run(server.base + path, connections=4, seconds=seconds,
                             headers=headers)
            failed = sum(result.other_codes.values())
            if failed:
                print(f"  {name}: {failed} non-2xx", file=sys.stderr)
            figures[name] = (result.rate, result.p50_ms, result.p99_ms)
            print(f"  {name}: {result.rate:,.0f} req/s p50 {result.p50_ms:.1f} p99 "
                  f"{result.p99_ms:.1f}", file=sys.stderr)
        times = sorted(edit_times(server.base, admin, 200))
        figures["subject edit (sequential)"] = (
            1000 / statistics.mean(times), times[len(times) // 2], times[len(times) * 99 // 100])
        assert server.process is not None
        figures["server RSS MiB"] = (rss_mib(server.process.pid), 0.0, 0.0)
    figures["load average (1 min)"] = (os.getloadavg()[0], 0.0, 0.0)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="sqlite", choices=["sqlite", "mysql"])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--double", action="store_true",
                        help="measure again at twice the size, and print the ratios")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sav-scale-") as tmp:
        env = {"SAV_DATA_DIR": str(Path(tmp) / "data"), "AUTH_JWT_SECRET": "bench-" + tmp}
        if os.environ.get("PYTHONPATH"):  # the server runs the code that built the store
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        if args.profile == "mysql":
            env.update(mysql_env(), DB_CONNECTION="mysql",
                       DB_DATABASE=f"sav_bench_scale_{uuid.uuid4().hex[:8]}")
        runs: list[tuple[int, int, dict[str, tuple[float, float, float]]]] = []
        sizes = [args.tickets, args.tickets] if args.double else [args.tickets]
        made = 0
        for count in sizes:
            services = bootstrap(load_settings(env))
            started = time.perf_counter()
            head = build(services, made, count)
            made += count
            built = time.perf_counter() - started
            started = time.perf_counter()
            replay(services.app, services.engine)
            folded = time.perf_counter() - started
            print(f"[{args.profile}] {made:,} tickets, {head:,} events: +{count:,} built in "
                  f"{built:.0f} s ({count / built:,.0f} tickets/s), folded in {folded:.0f} s "
                  f"({head / folded:,.0f} events/s)", file=sys.stderr)
            runs.append((made, head, measure(args.profile, Path(tmp), env, services,
                                             args.seconds)))
            services.close()
        if args.profile == "mysql":
            with raw_connection(services) as conn:
                conn.cursor().execute(f"DROP DATABASE IF EXISTS `{env['DB_DATABASE']}`")
    print(f"## {args.profile}: " + " vs ".join(f"{n:,} tickets ({h:,} events)"
                                               for n, h, _ in runs))
    header = " | ".join(f"{n:,}: req/s, p50, p99 ms" for n, _, _ in runs)
    print(f"| measure | {header} |" + (" growth of p50 |" if len(runs) > 1 else ""))
    print("|---" * (len(runs) + 1 + (len(runs) > 1)) + "|")
    for name in runs[0][2]:
        cells = [runs_figures[name] for _, _, runs_figures in runs]
        row = " | ".join(f"{r:,.0f}, {p50:.1f}, {p99:.1f}" for r, p50, p99 in cells)
        growth = ""
        if len(cells) > 1:
            first, last = cells[0], cells[-1]
            ratio = last[0] / first[0] if name.startswith(("server", "load")) else (
                last[1] / first[1] if first[1] else 0.0)
            growth = f" x{ratio:.2f} |"
        print(f"| {name} | {row} |{growth}")


if __name__ == "__main__":
    main()
