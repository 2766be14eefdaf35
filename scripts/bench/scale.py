"""Benchmark at scale: how the costs grow with the store (issue 22,
docs/decisions/0170-scale.md).

The stores are restored from one generated backup. Made once (and kept, `--backup`):
Ticket aggregates and their lifecycles (about 4.6 events a ticket) appended 500 per
transaction by the real application on SQLite (the aggregate's rules, mapper, AES-GCM
cipher, key store, recorder: the events `sav` itself writes), then written out by `sav
events export --format store`'s code. For each of `--sizes`, a fresh store (SQLite file
or MariaDB database) is built by the real `sav events import FILE --until POSITION` (the
log up to that size's last event: the load, then the folding replay), and timed: that is
the build figure. A real `sav serve` is then measured with wrk: searches (a word in every
ticket, in one ticket of a thousand, in none), lists (admin, an agent's queue, customers
with a half, a tenth, a hundredth and a thousandth of the tickets; first page and a deep
cursor), the statistics, sequential subject edits (each a new text: the full-text row is
replaced) and the server's memory. The last columns give each figure's growth (p50 and
p99) from every smaller size to the largest: a cost that does not grow with the store
stays near 1. Not a test: it prints figures.

    python scripts/bench/scale.py [--profile sqlite|mysql] [--sizes 10000,100000]
        [--backup FILE] [--seconds 10]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import statistics
import subprocess
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
from sav.eventstore.backup import export_backup
from sav.eventstore.db import engine_for
from sav.projections.cursors import encode_cursor

TICKETS_PER_SAVE = 500
BIG, SMALL = "cust-big", "cust-small"  # half of the tickets; one in a hundred
TENTH, THOUSANDTH = "cust-tenth", "cust-thousandth"  # one in ten; one in a thousand
RARE_EVERY = 1000  # one ticket in a thousand has the rare word


def owner(index: int) -> str:
    if index % 2 == 0:
        return BIG
    if index % 100 == 1:
        return SMALL
    if index % 10 == 3:
        return TENTH
    return THOUSANDTH if index % 1000 == 5 else f"cust-{index % 997}"


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
                                (SMALL, "customer"), (TENTH, "customer"),
                                (THOUSANDTH, "customer"))}
    admin, agent, big, small, tenth, thousandth = tokens.values()
    cases = [
        ("list, admin, first page", "/tickets?limit=20", admin),
        ("list, admin, deep cursor", f"/tickets?limit=20&cursor={deep}", admin),
        ("list, agent queue, first page", "/tickets?limit=20", agent),
        ("list, agent queue, deep cursor", f"/tickets?limit=20&cursor={deep}", agent),
        ("list, customer (1/2), first page", "/tickets?limit=20", big),
        ("list, customer (1/2), deep cursor", f"/tickets?limit=20&cursor={deep}", big),
        ("list, customer (1/10), first page", "/tickets?limit=20", tenth),
        ("list, customer (1/10), deep cursor", f"/tickets?limit=20&cursor={deep}", tenth),
        ("list, customer (1/100), first page", "/tickets?limit=20", small),
        ("list, customer (1/1000), first page", "/tickets?limit=20", thousandth),
        ("list, customer (1/1000), deep cursor", f"/tickets?limit=20&cursor={deep}",
         thousandth),
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


def generate(path: Path, sizes: list[int]) -> dict[str, Any]:
    """Append the largest size's tickets on a throwaway SQLite store (the heads at each
    size noted), write its backup to `path` and, next to it, what restoring it needs."""
    master_key = base64.b64encode(secrets.token_bytes(32)).decode()
    with tempfile.TemporaryDirectory(prefix="sav-scale-gen-") as tmp:
        env = {"SAV_DATA_DIR": str(Path(tmp) / "data"), "AUTH_JWT_SECRET": "gen-" + tmp,
               "SAV_MASTER_KEY": master_key}
        services = bootstrap(load_settings(env))
        heads: dict[str, int] = {}
        made, started = 0, time.perf_counter()
        for size in sizes:
            heads[str(size)] = build(services, made, size - made)
            made = size
            print(f"  generated {made:,} tickets, {heads[str(size)]:,} events "
                  f"({heads[str(size)] / (time.perf_counter() - started):,.0f} events/s)",
                  file=sys.stderr)
        written = path.with_suffix(".partial")
        with written.open("wb") as out:
            for chunk in export_backup(services.engine,
                                       engine_for(services.settings.keys_database_url)):
                out.write(chunk)
        services.close()
    written.rename(path)
    meta = {"master_key": master_key, "heads": heads}
    path.with_suffix(".json").write_text(json.dumps(meta))
    return meta


def backup_for(path: Path, sizes: list[int]) -> dict[str, Any]:
    """The backup at `path` if it holds every size, else a new one."""
    sidecar = path.with_suffix(".json")
    if path.exists() and sidecar.exists():
        meta: dict[str, Any] = json.loads(sidecar.read_text())
        if all(str(size) in meta["heads"] for size in sizes):
            return meta
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    meta = generate(path, sizes)
    print(f"backup {path} written in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return meta


def restore(env: dict[str, str], path: Path, until: int) -> tuple[float, str]:
    """`sav events import path --until until` into the empty store `env` names: seconds,
    and the command's own summary line."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sav", "events", "import", str(path),
                           "--until", str(until)], env={**os.environ, **env},
                          capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"sav events import failed: {done.stderr[-2000:]}")
    return took, done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="sqlite", choices=["sqlite", "mysql"])
    parser.add_argument("--sizes", default="10000,100000",
                        help="store sizes in tickets, comma-separated, ascending")
    parser.add_argument("--backup", type=Path, help="the generated backup (made if missing "
                        "or too small; default ~/.cache/sav-bench/scale-<largest>.jsonl)")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    sizes = sorted({int(size) for size in args.sizes.split(",")})
    path = args.backup or Path.home() / ".cache" / "sav-bench" / f"scale-{sizes[-1]}.jsonl"
    meta = backup_for(path, sizes)
    runs: list[tuple[int, int, dict[str, tuple[float, float, float]]]] = []
    for size in sizes:
        head = meta["heads"][str(size)]
        with tempfile.TemporaryDirectory(prefix="sav-scale-") as tmp:
            env = {"SAV_DATA_DIR": str(Path(tmp) / "data"), "AUTH_JWT_SECRET": "bench-" + tmp,
                   "SAV_MASTER_KEY": meta["master_key"]}
            if os.environ.get("PYTHONPATH"):  # the server runs the code that built the store
                env["PYTHONPATH"] = os.environ["PYTHONPATH"]
            if args.profile == "mysql":
                env.update(mysql_env(), DB_CONNECTION="mysql",
                           DB_DATABASE=f"sav_bench_scale_{uuid.uuid4().hex[:8]}")
            took, summary = restore(env, path, head)
            print(f"[{args.profile}] {size:,} tickets, {head:,} events: built by `sav events "
                  f"import --until {head}` in {took:.0f} s ({head / took:,.0f} events/s): "
                  f"{summary}", file=sys.stderr)
            services = bootstrap(load_settings(env))
            try:
                figures = measure(args.profile, Path(tmp), env, services, args.seconds)
                figures["build s (sav events import)"] = (took, 0.0, 0.0)
                runs.append((size, head, figures))
            finally:
                if args.profile == "mysql":
                    with raw_connection(services) as conn:
                        cursor = conn.cursor()
                        cursor.execute("SELECT @@innodb_buffer_pool_size, VERSION()")
                        pool, version = cursor.fetchone()
                        print(f"  MariaDB {version}, innodb_buffer_pool_size "
                              f"{int(pool) // 2**20} MiB", file=sys.stderr)
                        cursor.execute(f"DROP DATABASE IF EXISTS `{env['DB_DATABASE']}`")
                services.close()
    report(args.profile, runs)


def report(profile: str, runs: list[tuple[int, int, dict[str, tuple[float, float, float]]]]
           ) -> None:
    """A Markdown table: each size's req/s, p50 and p99, then the largest size's p50 and
    p99 over each smaller size's (for the server's RSS and the build: the values' ratio)."""
    print(f"## {profile}: " + " vs ".join(f"{n:,} tickets ({h:,} events)" for n, h, _ in runs))
    sizes = " | ".join(f"{n:,}: req/s, p50, p99 ms" for n, _, _ in runs)
    growth = " | ".join(f"{runs[-1][0]:,} / {n:,}: p50, p99" for n, _, _ in runs[:-1])
    print(f"| measure | {sizes} |" + (f" {growth} |" if growth else ""))
    print("|---" * (2 * len(runs)) + "|")
    last = runs[-1][2]
    for name in last:
        cells = [figures.get(name, (0.0, 0.0, 0.0)) for _, _, figures in runs]
        row = " | ".join(f"{r:,.0f}, {p50:.1f}, {p99:.1f}" for r, p50, p99 in cells)
        ratios = []
        for earlier in cells[:-1]:
            if name.startswith(("server", "load", "build")):
                ratios.append(f"x{last[name][0] / earlier[0]:.2f}" if earlier[0] else "-")
            elif earlier[1] and earlier[2]:
                ratios.append(f"x{last[name][1] / earlier[1]:.2f}, "
                              f"x{last[name][2] / earlier[2]:.2f}")
            else:
                ratios.append("-")
        print(f"| {name} | {row} |" + "".join(f" {r} |" for r in ratios))


if __name__ == "__main__":
    main()
