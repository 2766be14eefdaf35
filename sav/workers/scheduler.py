"""The scheduler: automations on intervals (`sav worker scheduler`, `sav jobs run NAME`).

Each job reads its candidates from the read model and acts only through the
automation command handlers, which re-check the rule on the aggregate: running a job
twice, or in two processes at once, changes nothing twice. A lease per job keeps one
scheduler process running a given job at a time (to save work, not for correctness),
and `scheduler_runs` records each job's last run so intervals survive restarts.
Every job takes `now` (default `sav.events.clock.now()`): tests move the clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import Column, Engine, Integer, MetaData, Table, Text, false, select

from sav.commands import automations
from sav.commands.app import Outcome
from sav.events import clock
from sav.eventstore.db import schema_lock, write_transaction
from sav.eventstore.schema import Identifier
from sav.projections.agents import active_workloads, least_loaded
from sav.projections.metrics import aggregate_hours, has_hourly_rows
from sav.projections.runner import tracked_position
from sav.projections.schema import Timestamp, naive_utc
from sav.projections.tickets import support_tickets
from sav.runtime import Runtime
from sav.workers.lease import Lease, default_owner

log = logging.getLogger("sav.scheduler")

TICK_SECONDS = 10.0
# Long enough for a slow run; a crashed holder's job resumes after this many seconds.
LEASE_TTL = 300.0

# Kept apart from the read model so `sav replay` does not reset the intervals.
scheduler_metadata = MetaData()
scheduler_runs = Table(
    "scheduler_runs",
    scheduler_metadata,
    Column("job", Identifier(64), primary_key=True),
    Column("last_run_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp, nullable=False),
    Column("runs", Integer, nullable=False),
    Column("owner", Identifier(128), nullable=False),
    Column("last_result", Text, nullable=False),
    mysql_engine="InnoDB",
)

t = support_tickets.c
Summary = dict[str, Any]


@dataclass(frozen=True)
class Job:
    name: str
    interval: timedelta
    run: Callable[[Runtime, datetime, datetime | None], Summary]


def _candidates(runtime: Runtime, *where: Any, order: Any = None) -> list[UUID]:
    query = select(t.id).where(t.is_deleted == false(), *where)
    query = query.order_by(t.seq if order is None else order)
    with runtime.engine.connect() as conn:
        return [UUID(row.id) for row in conn.execute(query).all()]


def _wait_projected(runtime: Runtime, position: int | None) -> None:
    """Let the read model show a job's effects before the next job reads it (bounded)."""
    if position is None:
        return
    deadline = time.monotonic() + runtime.settings.read_your_writes_timeout
    while time.monotonic() < deadline:
        if runtime.projector is not None:
            reached = runtime.projector.position
        else:
            with runtime.engine.connect() as conn:
                reached = tracked_position(conn)
        if reached >= position:
            return
        time.sleep(0.01)
    log.warning("read model did not reach position %s after a scheduled job", position)


def _run_each(runtime: Runtime, ids: list[UUID], command: Callable[[UUID], Outcome | None]
              ) -> int:
    done, position = 0, None
    for ticket_id in ids:
        outcome = command(ticket_id)
        if outcome is not None:
            done, position = done + 1, outcome.position
    _wait_projected(runtime, position)
    return done


def auto_close(runtime: Runtime, now: datetime, last: datetime | None) -> Summary:
    """Close resolved tickets idle (no event at all) for AUTO_CLOSE_RESOLVED_DAYS."""
    days = runtime.settings.auto_close_resolved_days
    idle_since = now - timedelta(days=days)
    ids = _candidates(runtime, t.status == "resolved", t.updated_at <= naive_utc(idle_since),
                      order=t.updated_at)
    closed = _run_each(runtime, ids, lambda ticket_id: automations.auto_close_ticket(
        runtime.app, ticket_id, idle_since))
    return {"job": "auto-close", "closed": closed, "idle_days": days}


def escalate(runtime: Runtime, now: datetime, last: datetime | None) -> Summary:
    """Escalate urgent tickets with no first response ESCALATION_TIMEOUT_HOURS after creation."""
    hours = runtime.settings.escalation_timeout_hours
    created_before = now - timedelta(hours=hours)
    ids = _candidates(runtime, t.priority == "urgent", t.first_response_at.is_(None),
                      t.escalated_at.is_(None), t.status.notin_(("resolved", "closed")),
                      t.created_at <= naive_utc(created_before))
    reason = f"no first response within {hours:g} hours"
    escalated = _run_each(runtime, ids, lambda ticket_id: automations.escalate_ticket(
        runtime.app, ticket_id, created_before, reason))
    return {"job": "escalate", "escalated": escalated, "timeout_hours": hours}


def auto_assign(runtime: Runtime, now: datetime, last: datetime | None) -> Summary:
    """Give each unassigned open ticket (oldest first) to the least loaded active agent."""
    ids = _candidates(runtime, t.status == "open", t.assigned_to.is_(None))
    with runtime.engine.connect() as conn:
        workloads = active_workloads(conn)

    def assign(ticket_id: UUID) -> Outcome | None:
        agent_id = least_loaded(workloads)
        if agent_id is None:
            return None
        outcome = automations.auto_assign_ticket(runtime.app, ticket_id, agent_id)
        if outcome is not None:
            workloads[agent_id] += 1  # The read model has not seen it yet.
        return outcome

    assigned = _run_each(runtime, ids, assign)
    return {"job": "auto-assign", "assigned": assigned, "unassigned": len(ids) - assigned,
            "active_agents": len(workloads)}


def survey(runtime: Runtime, now: datetime, last: datetime | None) -> Summary:
    """Request a satisfaction survey once for each closed, unrated ticket with a contact."""
    ids = _candidates(runtime, t.status == "closed", t.survey_requested_at.is_(None),
                      t.satisfaction_rating.is_(None),
                      t.contact_email.is_not(None) | t.user_id.is_not(None))
    requested = _run_each(runtime, ids, lambda ticket_id: automations.request_survey(
        runtime.app, ticket_id))
    return {"job": "survey", "requested": requested}


def metrics(runtime: Runtime, now: datetime, last: datetime | None) -> Summary:
    """Recompute `ticket_metrics_hourly` from 24 hours before the last run (or all)."""
    since = None
    if last is not None and has_hourly_rows(runtime.engine):
        since = min(last, now) - timedelta(hours=24)
    hours = aggregate_hours(runtime.engine, now, since)
    return {"job": "metrics", "hours": hours}


JOBS: dict[str, Job] = {job.name: job for job in (
    Job("auto-close", timedelta(days=1), auto_close),
    Job("escalate", timedelta(minutes=30), escalate),
    Job("auto-assign", timedelta(minutes=1), auto_assign),
    Job("survey", timedelta(minutes=5), survey),
    Job("metrics", timedelta(hours=1), metrics),
)}


def ensure_schema(engine: Engine) -> None:
    # Serialized with every other schema change: several processes start at once.
    with schema_lock(engine) as conn:
        scheduler_metadata.create_all(conn)


def last_run(engine: Engine, name: str) -> datetime | None:
    with engine.connect() as conn:
        value = conn.execute(select(scheduler_runs.c.last_run_at)
                             .where(scheduler_runs.c.job == name)).scalar()
    return None if value is None else value.replace(tzinfo=UTC)


def record_run(engine: Engine, name: str, now: datetime, owner: str, result: Summary) -> None:
    values = {"last_run_at": naive_utc(now), "finished_at": naive_utc(clock.now()),
              "owner": owner[:128], "last_result": orjson.dumps(result).decode()}
    runs = scheduler_runs.c
    with write_transaction(engine) as conn:
        moved = conn.execute(scheduler_runs.update().where(runs.job == name)
                             .values(runs=runs.runs + 1, **values))
        if moved.rowcount == 0:
            conn.execute(scheduler_runs.insert().values(job=name, runs=1, **values))


class Scheduler:
    """One scheduler process (its lease owner id): runs the jobs that are due."""

    def __init__(self, runtime: Runtime, owner: str | None = None) -> None:
        self.runtime = runtime
        self.owner = owner or default_owner()
        ensure_schema(runtime.engine)

    def run_job(self, name: str, now: datetime | None = None, only_if_due: bool = False
                ) -> Summary:
        if name not in JOBS:
            raise ValueError(f"unknown job {name!r}; one of {', '.join(JOBS)}")
        job = JOBS[name]
        now = now or clock.now()
        lease = Lease(self.runtime.engine, f"scheduler:{name}", self.owner, ttl=LEASE_TTL)
        if not lease.acquire():
            return {"job": name, "skipped": "running in another scheduler"}
        try:
            last = last_run(self.runtime.engine, name)
            if only_if_due and last is not None and now - last < job.interval:
                return {"job": name, "skipped": "not due"}
            result = job.run(self.runtime, now, last)
            record_run(self.runtime.engine, name, now, self.owner, result)
            log.info("scheduled job ran", extra={"sav": result})
            return result
        finally:
            lease.release()

    def tick(self, now: datetime | None = None) -> list[Summary]:
        """Run every due job once; returns what ran (skips are left out)."""
        ran = []
        for name in JOBS:
            try:
                result = self.run_job(name, now, only_if_due=True)
            except Exception:
                log.exception("scheduled job %s failed; retrying on the next tick", name)
                continue
            if "skipped" not in result:
                ran.append(result)
        return ran


def run_job(runtime: Runtime, name: str, now: datetime | None = None) -> Summary:
    """Run one job now (`sav jobs run NAME`), whatever its interval."""
    return Scheduler(runtime).run_job(name, now)


def run(runtime: Runtime, stop: threading.Event) -> None:
    """`sav worker scheduler`: tick until `stop`; also emits the structured event log."""
    from sav.logging import run_event_log

    emitter = threading.Thread(target=run_event_log, args=(runtime, stop),
                               name="sav-event-log", daemon=True)
    emitter.start()
    scheduler: Scheduler | None = None
    while not stop.is_set():
        try:
            scheduler = scheduler or Scheduler(runtime)
            scheduler.tick()
        except Exception:
            log.exception("scheduler tick failed; retrying")
        stop.wait(TICK_SECONDS)
    emitter.join(timeout=5)


def start_in_process(runtime: Runtime) -> None:
    """The embedded default: the scheduler (and the event log) in the API process."""
    runtime.spawn("sav-scheduler", lambda: run(runtime, runtime.stop))
