"""Benchmark of the scheduler's `sla` job over many open tickets (issue 23,
docs/decisions/0180-sla.md).

A store of --tickets open tickets, each matched to a policy (its `Ticket.SlaApplied`
recorded at creation, as the create command does), is built through the bulk path
(Ticket aggregates appended 500 per transaction by the real application, then folded
by `sav replay`'s bulk load). --due-every N gives one ticket in N the `urgent` policy
(a first response due after one minute); the others are due in ten hours. Then:

- the plan of the job's query (`sla_next_due_at <= now`): an index range, not a scan;
- a pass when nothing is due yet (the common case: a minute after the last one), and
  the rows the database reads for its query (MariaDB's `ANALYZE`; SQLite's plan);
- a pass two minutes later, when the urgent tickets are due: how long it takes, how
  many it read and broke (one `SlaBreached` each), and a second pass (nothing left).

Not a test: it prints figures.

    python scripts/bench/sla.py [--profile sqlite|mysql] [--tickets 100000] [--due-every 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay import START, mysql_env, raw_connection

from sav.bootstrap import Services, bootstrap
from sav.commands.actor import Actor
from sav.config import load_settings
from sav.events import clock
from sav.events.ticket import Ticket
from sav.projections.schema import naive_utc
from sav.sla import commands as sla_commands
from sav.sla.config import load_config
from sav.sla.rules import follow
from sav.workers.inprocess import project_inline
from sav.workers.projections import replay
from sav.workers.scheduler import Jobs, run_job

TICKETS_PER_SAVE = 500
ADMIN = Actor("bench-admin", "admin")


def policies(services: Services) -> None:
    sla_commands.put_policy(services.app, ADMIN, "urgent", sla_commands.PolicyBody(
        priority=["urgent"], first_response_minutes=1, resolution_minutes=600))
    sla_commands.put_policy(services.app, ADMIN, "standard", sla_commands.PolicyBody(
        position=1, first_response_minutes=600, resolution_minutes=2400))


def build(services: Services, count: int, due_every: int) -> int:
    """`count` open tickets created at START, matched as the create command does."""
    app = services.app
    clock.freeze(START)
    config = load_config(app)
    for start in range(0, count, TICKETS_PER_SAVE):
        tickets = []
        for index in range(start, min(count, start + TICKETS_PER_SAVE)):
            ticket = Ticket(id=uuid.uuid4(), ticket_number=f"SLA-{index:07d}",
                            subject=f"Order {index} not received", description="Parcel lost",
                            priority="urgent" if index % due_every == 0 else "normal",
                            category="delivery", source="web", user_id=f"cust-{index % 997}",
                            contact_email=None, contact_name=None, tags=[], metadata={},
                            created_by=None, access_token_hash=None, origin=None)
            follow(ticket, lambda: config, START, rematch=True)
            tickets.append(ticket)
        app.save(*tickets)
    clock.reset()
    return app.recorder.max_notification_id() or 0


def due_sql(now: Any) -> str:
    """The job's query (`sav.sla.job.due_query`) as text, for EXPLAIN and ANALYZE."""
    moment = naive_utc(now).isoformat(sep=" ")  # type: ignore[union-attr]
    return ("SELECT id FROM support_tickets WHERE sla_next_due_at <= '" + moment
            + "' AND is_deleted = 0 ORDER BY sla_next_due_at LIMIT 10000")


def plan(services: Services, now: Any) -> str:
    with services.engine.connect() as conn:
        prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
        rows = conn.exec_driver_sql(prefix + due_sql(now)).all()
    return "; ".join(" ".join(str(v) for v in row if v is not None) for row in rows)


def rows_read(services: Services, now: Any) -> int | None:
    """The rows MariaDB read to answer the job's query at `now` (`ANALYZE`: `r_rows`);
    None on SQLite (its plan says what it reads)."""
    if not services.settings.is_mysql:
        return None
    with services.engine.connect() as conn:
        result = conn.exec_driver_sql("ANALYZE " + due_sql(now))
        row = result.mappings().first()
    return None if row is None or row["r_rows"] is None else round(float(row["r_rows"]))


def timed_pass(services: Services, jobs: Jobs, minutes: float) -> tuple[dict[str, Any], float,
                                                                         int | None]:
    now = START + timedelta(minutes=minutes)
    read = rows_read(services, now)
    clock.freeze(now)
    started = time.perf_counter()
    summary = run_job(jobs, "sla", now)
    took = time.perf_counter() - started
    clock.reset()
    return summary, took, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="sqlite", choices=["sqlite", "mysql"])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--due-every", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sav-sla-") as tmp:
        env = {"SAV_DATA_DIR": str(Path(tmp) / "data"), "AUTH_JWT_SECRET": "bench-" + tmp}
        if args.profile == "mysql":
            env.update(mysql_env(), DB_CONNECTION="mysql",
                       DB_DATABASE=f"sav_bench_sla_{uuid.uuid4().hex[:8]}")
        services = bootstrap(load_settings(env))
        try:
            policies(services)
            started = time.perf_counter()
            head = build(services, args.tickets, args.due_every)
            built = time.perf_counter() - started
            started = time.perf_counter()
            replay(services.app, services.engine)
            folded = time.perf_counter() - started
            print(f"[{args.profile}] {args.tickets:,} open tickets, {head:,} events: built in "
                  f"{built:.0f} s, folded in {folded:.0f} s", file=sys.stderr)
            project_inline(services)  # the job's appends are projected as `sav serve` does
            jobs = Jobs(services.app, services.engine, services.read_model, services.settings)
            print(f"## sla job, {args.profile}, {args.tickets:,} open tickets with a policy, "
                  f"one in {args.due_every} due after a minute")
            print(f"plan of the due query: {plan(services, START + timedelta(minutes=2))}")
            timed_pass(services, jobs, 0.1)  # warm-up: connections, the job's lock and row
            print("| pass | due | breached | seconds | rows the query reads (MariaDB) |")
            print("|---|---|---|---|---|")
            for label, minutes in (("nothing due yet (+30 s)", 0.5),
                                   ("urgent ones due (+2 min)", 2.0),
                                   ("again (+3 min)", 3.0)):
                summary, took, read = timed_pass(services, jobs, minutes)
                print(f"| {label} | {summary['due']:,} | {summary['breached']:,} | "
                      f"{took:.3f} | {'-' if read is None else f'{read:,}'} |")
        finally:
            services.close()
            if args.profile == "mysql":
                with raw_connection(services) as conn:
                    conn.cursor().execute(f"DROP DATABASE IF EXISTS `{env['DB_DATABASE']}`")


if __name__ == "__main__":
    main()
