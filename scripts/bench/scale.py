"""Benchmark at scale: a store of --tickets tickets (default 1,000,000; about 5 events
each) built through the bulk path (Ticket aggregates appended many per transaction, no
HTTP), projected by `sav replay`, then served by a real `sav serve` and measured with
wrk: p50/p99 of a ticket, a page of the admin list and of a customer's list, a full-text
search, and the admin statistics; the replay time next to a raw scan of the events table;
the server's resident memory. Not a test: it prints figures.

    python scripts/bench/scale.py [--profile sqlite|mysql] [--tickets 1000000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay import build, mysql_env, scan_rate
from sav_process import SavServer, Store, issue_token
from wrk_client import Wrk

from sav.bootstrap import bootstrap
from sav.config import load_settings
from sav.workers.projections import replay

EVENTS_PER_TICKET = 4.6  # the replay benchmark's ticket shapes, on average


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="sqlite", choices=["sqlite", "mysql"])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sav-scale-") as tmp:
        env = {"SAV_DATA_DIR": str(Path(tmp) / "data"), "AUTH_JWT_SECRET": "bench-" + tmp}
        if args.profile == "mysql":
            env.update(mysql_env(), DB_CONNECTION="mysql",
                       DB_DATABASE=f"sav_bench_scale_{uuid.uuid4().hex[:8]}")
        services = bootstrap(load_settings(env))
        started = time.perf_counter()
        head = build(services, int(args.tickets * EVENTS_PER_TICKET))
        print(f"built {head:,} events in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        scan = scan_rate(services)
        started = time.perf_counter()
        replay(services.app, services.engine)
        replay_s = time.perf_counter() - started
        services.close()
        rows = [f"| replay | {head / replay_s:,.0f} events/s ({replay_s:.0f} s) | raw scan "
                f"{scan:,.0f} rows/s | ratio {head / replay_s / scan:.3f} |"]
        store = Store(args.profile, Path(tmp), env)
        admin = {"Authorization": f"Bearer {issue_token(env, 'admin-1', 'admin')}"}
        customer = {"Authorization": f"Bearer {issue_token(env, 'cust-7', 'customer')}"}
        wrk = Wrk()
        with SavServer(store) as server:
            request = urllib.request.Request(f"{server.base}/tickets?limit=1", headers=admin)
            with urllib.request.urlopen(request) as response:
                ticket_id = json.loads(response.read())["data"][0]["id"]
            cases = [
                ("GET /tickets/{id} (admin)", f"/tickets/{ticket_id}", admin),
                ("list, admin, first page", "/tickets?limit=20", admin),
                ("list, a customer's", "/tickets?limit=20", customer),
                ("statistics, admin", "/tickets/statistics", admin),
                # Last: requests wrk gave up on keep the server busy after the run.
                ("full-text search", "/tickets?q=order%20parcel&limit=20", admin),
            ]
            for name, path, headers in cases:
                result = wrk.run(server.base + path, connections=8, seconds=args.seconds,
                                 headers=headers)
                failed = sum(result.other_codes.values())
                rows.append(f"| {name} | {result.rate:,.0f} req/s | p50 {result.p50_ms:.1f} ms "
                            f"| p99 {result.p99_ms:.1f} ms | non-2xx {failed} |")
            assert server.process is not None
            rows.append(f"| server RSS | {rss_mib(server.process.pid):,.0f} MiB | | | |")
        print(f"## {args.profile}, {args.tickets:,} tickets, {head:,} events")
        print("| measure | rate | | | |\n|---|---|---|---|---|")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
