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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import Column, Engine, Integer, MetaData, Table, Text, false, select

from sav.api.idempotency import prune_expired
from sav.commands import automations
from sav.commands.app import Outcome, SavApplication
from sav.config import Settings
from sav.events import clock
from sav.events.rules import DONE, Priority, Status
from sav.eventstore.db import schema_lock, write_transaction
from sav.eventstore.schema import Identifier
from sav.projections.agents import active_workloads, least_loaded
from sav.projections.metrics import aggregate_hours, has_hourly_rows
from sav.projections.position import ReadModelPosition
from sav.projections.schema import Timestamp, naive_utc
from sav.projections.tickets import support_tickets
from sav.sla import job as sla_job
from sav.webhooks import deliveries
from sav.workers.lease import Lease, default_owner, run_while_leader

log = logging.getLogger("sav.scheduler")

TICK_SECONDS = 10.0
# Per job, a lock rather than a leader lease (that one is SAV_WORKER_LEASE_TTL): long
# enough for a slow run; a crashed holder's job resumes after this many seconds.
JOB_LOCK_TTL = 300.0

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
class Jobs:
    """What the jobs use: the commands' application, the read model and the settings."""

    app: SavApplication
    engine: Engine
    read_model: ReadModelPosition
    settings: Settings

    def candidates(self, *where: Any, order: Any = None) -> list[UUID]:
        query = select(t.id).where(t.is_deleted == false(), *where)
        query = query.order_by(t.seq if order is None else order)
        with self.engine.connect() as conn:
            return [UUID(row.id) for row in conn.execute(query).all()]

    def run_each(self, ids: list[UUID], command: Callable[[UUID], Outcome | None]) -> int:
        """Run `command` per ticket, then let the read model show the effects before
        the next job reads it (bounded)."""
        done, position = 0, None
        for ticket_id in ids:
            outcome = command(ticket_id)
            if outcome is not None:
                done, position = done + 1, outcome.position
        self.read_model.wait_blocking(position)
        return done


@dataclass(frozen=True)
class Job:
    name: str
    interval: timedelta
    run: Callable[[Jobs, datetime, datetime | None], Summary]


def auto_close(jobs: Jobs, now: datetime, last: datetime | None) -> Summary:
    """Close resolved tickets idle (no event at all) for AUTO_CLOSE_RESOLVED_DAYS."""
    days = jobs.settings.auto_close_resolved_days
    idle_since = now - timedelta(days=days)
    ids = jobs.candidates(t.status == Status.RESOLVED, t.updated_at <= naive_utc(idle_since),
                      order=t.updated_at)
    closed = jobs.run_each(ids, lambda ticket_id: automations.auto_close_ticket(
        jobs.app, ticket_id, idle_since))
    return {"job": "auto-close", "closed": closed, "idle_days": days}


def escalate(jobs: Jobs, now: datetime, last: datetime | None) -> Summary:
    """Escalate urgent tickets with no first response ESCALATION_TIMEOUT_HOURS after creation."""
    hours = jobs.settings.escalation_timeout_hours
    created_before = now - timedelta(hours=hours)
    ids = jobs.candidates(t.priority == Priority.URGENT, t.first_response_at.is_(None),
                      t.escalated_at.is_(None), t.status.notin_(DONE),
                      t.created_at <= naive_utc(created_before))
    reason = f"no first response within {hours:g} hours"
    escalated = jobs.run_each(ids, lambda ticket_id: automations.escalate_ticket(
        jobs.app, ticket_id, created_before, reason))
    return {"job": "escalate", "escalated": escalated, "timeout_hours": hours}


def auto_assign(jobs: Jobs, now: datetime, last: datetime | None) -> Summary:
    """Give each unassigned open ticket (oldest first) to the least loaded active agent."""
    ids = jobs.candidates(t.status == Status.OPEN, t.assigned_to.is_(None))
    with jobs.engine.connect() as conn:
        workloads = active_workloads(conn)

    def assign(ticket_id: UUID) -> Outcome | None:
        agent_id = least_loaded(workloads)
        if agent_id is None:
            return None
        outcome = automations.auto_assign_ticket(jobs.app, ticket_id, agent_id)
        if outcome is not None:
            workloads[agent_id] += 1  # The read model has not seen it yet.
        return outcome

    assigned = jobs.run_each(ids, assign)
    return {"job": "auto-assign", "assigned": assigned, "unassigned": len(ids) - assigned,
            "active_agents": len(workloads)}


def survey(jobs: Jobs, now: datetime, last: datetime | None) -> Summary:
    """Request a satisfaction survey once for each closed, unrated ticket with a contact."""
    ids = jobs.candidates(t.status == Status.CLOSED, t.survey_requested_at.is_(None),
                      t.satisfaction_rating.is_(None),
                      t.contact_email.is_not(None) | t.user_id.is_not(None))
    requested = jobs.run_each(ids, lambda ticket_id: automations.request_survey(
        jobs.app, ticket_id))
    return {"job": "survey", "requested": requested}


def metrics(jobs: Jobs, now: datetime, last: datetime | None) -> Summary:
    """Recompute `ticket_metrics_hourly` from 24 hours before the last run (or all)."""
    since = None
    if last is not None and has_hourly_rows(jobs.engine):
        since = min(last, now) - timedelta(hours=24)
    hours = aggregate_hours(jobs.engine, now, since)
    return {"job": "metrics", "hours": hours}


def sla(jobs: Jobs, now: datetime, last: datetime | None) -> Summary:
    """Record a breach for each metric whose due time has passed (sav.sla.job)."""
    with jobs.engine.connect() as conn:
        ids = [UUID(row.id) for row in conn.execute(sla_job.due_query(now))]
    breached = jobs.run_each(ids, lambda ticket_id: sla_job.check_ticket(
        jobs.app, ticket_id, now))
    return {"job": "sla", "due": len(ids), "breached": breached}


def idempotency_keys(jobs: Jobs, now: datetime, last: datetime | None) -> Summary:
    """Delete the Idempotency-Key answers older than SAV_IDEMPOTENCY_TTL_HOURS (already
    ignored by the API: this keeps the table small)."""
    hours = jobs.settings.idempotency_ttl_hours
    oldest = naive_utc(now - timedelta(hours=hours))
    assert oldest is not None
    return {"job": "idempotency-keys", "deleted": prune_expired(jobs.engine, oldest),
            "ttl_hours": hours}


def webhook_deliveries(jobs: Jobs, now: datetime, last: datetime | None) -> Summary:
    """Delete the delivered and failed webhook deliveries older than
    SAV_WEBHOOK_DELIVERY_RETENTION_DAYS (0: keep them)."""
    days = jobs.settings.webhook_delivery_retention_days
    deleted = deliveries.prune(jobs.engine, (now - timedelta(days=days)).timestamp()
                               ) if days > 0 else 0
    return {"job": "webhook-deliveries", "deleted": deleted, "retention_days": days}


JOBS: dict[str, Job] = {job.name: job for job in (
    Job("auto-close", timedelta(days=1), auto_close),
    Job("escalate", timedelta(minutes=30), escalate),
    Job("auto-assign", timedelta(minutes=1), auto_assign),
    Job("survey", timedelta(minutes=5), survey),
    Job("metrics", timedelta(hours=1), metrics),
    Job("sla", timedelta(minutes=1), sla),
    Job("idempotency-keys", timedelta(hours=1), idempotency_keys),
    Job("webhook-deliveries", timedelta(hours=1), webhook_deliveries),
)}


def scheduled_jobs(settings: Settings) -> list[str]:
    """The jobs the scheduler runs on their intervals: `auto-assign` only with
    AUTO_ASSIGN=true (the setting turns off assignment on creation and the job alike;
    `sav jobs run auto-assign` still runs it once when asked)."""
    return [name for name in JOBS if name != "auto-assign" or settings.auto_assign]


def ensure_schema(engine: Engine) -> None:
    # Serialized with every other schema change: several processes start at once.
    with schema_lock(engine) as conn:
        scheduler_metadata.create_all(conn)


def last_run(engine: Engine, name: str) -> datetime | None:
    with engine.connect() as conn:
        value = conn.execute(select(scheduler_runs.c.last_run_at)
                             .where(scheduler_runs.c.job == name)).scalar()
    return None if value is None else value.replace(tzinfo=UTC)


def last_runs(engine: Engine) -> dict[str, datetime]:
    """Every job's last run, in one query."""
    with engine.connect() as conn:
        rows = conn.execute(select(scheduler_runs.c.job, scheduler_runs.c.last_run_at))
        return {row.job: row.last_run_at.replace(tzinfo=UTC) for row in rows}


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

    def __init__(self, jobs: Jobs, owner: str | None = None) -> None:
        self.jobs = jobs
        self.owner = owner or default_owner()
        # The earliest moment a job is due, as this scheduler last saw the runs: ticks
        # before it read nothing (the active scheduler runs the jobs: none gets due
        # sooner behind its back; `sav jobs run` only makes one due later).
        self.next_due: datetime | None = None
        ensure_schema(jobs.engine)

    def run_job(self, name: str, now: datetime | None = None, only_if_due: bool = False
                ) -> Summary:
        if name not in JOBS:
            raise ValueError(f"unknown job {name!r}; one of {', '.join(JOBS)}")
        job = JOBS[name]
        now = now or clock.now()
        engine = self.jobs.engine
        lease = Lease(engine, f"scheduler:{name}", self.owner, ttl=JOB_LOCK_TTL)
        if not lease.acquire():
            return {"job": name, "skipped": "running in another scheduler"}
        try:
            last = last_run(engine, name)
            if only_if_due and last is not None and now - last < job.interval:
                return {"job": name, "skipped": "not due"}
            result = job.run(self.jobs, now, last)
            record_run(engine, name, now, self.owner, result)
            log.info("scheduled job ran", extra={"sav": result})
            return result
        finally:
            lease.release()

    def tick(self, now: datetime | None = None) -> list[Summary]:
        """Run every due job once; returns what ran (skips are left out). One query
        finds the due jobs, and only once one may be due; only those take their lock
        (and check again under it)."""
        now = now or clock.now()
        if self.next_due is not None and now < self.next_due:
            return []
        ran = []
        lasts = last_runs(self.jobs.engine)
        retry = now + timedelta(seconds=TICK_SECONDS)
        due_at = []
        for name in scheduled_jobs(self.jobs.settings):
            last, interval = lasts.get(name), JOBS[name].interval
            if last is not None and now - last < interval:
                due_at.append(last + interval)
                continue
            try:
                result = self.run_job(name, now, only_if_due=True)
            except Exception:
                log.exception("scheduled job %s failed; retrying on the next tick", name)
                due_at.append(retry)
                continue
            if "skipped" in result:
                due_at.append(retry)
            else:
                ran.append(result)
                due_at.append(now + interval)
        self.next_due = min(due_at, default=None)
        return ran


def run(jobs: Jobs, stop: threading.Event) -> None:
    """`sav worker scheduler`: tick while this process is the active scheduler."""
    scheduler: Scheduler | None = None

    def tick() -> None:
        nonlocal scheduler
        scheduler = scheduler or Scheduler(jobs)
        scheduler.tick()

    run_while_leader(jobs.engine, "scheduler", jobs.settings.worker_lease_ttl, stop, tick,
                     idle=TICK_SECONDS)


def run_job(jobs: Jobs, name: str, now: datetime | None = None) -> Summary:
    """Run one job now (`sav jobs run NAME`), whatever its interval."""
    return Scheduler(jobs).run_job(name, now)
