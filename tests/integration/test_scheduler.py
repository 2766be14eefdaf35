"""Scheduled jobs on both profiles: each job, idempotence, the clock, several schedulers."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import event, select

from sav.bootstrap import Services
from sav.events import clock
from sav.projections.metrics import ticket_metrics_hourly
from sav.workers.lease import Lease
from sav.workers.scheduler import JOBS, Scheduler, run_job, scheduler_runs
from tests.support.http import ADMIN, AGENT, CUSTOMER, Client, create_ticket
from tests.support.workers import jobs_of

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def at(**delta: float) -> datetime:
    """Pin the clock at T0 + delta."""
    moment = T0 + timedelta(**delta)
    clock.freeze(moment)
    return moment


async def job(services: Services, name: str) -> dict[str, Any]:
    return await asyncio.to_thread(run_job, jobs_of(services), name)


def events_of(services: Services, ticket_id: str, name: str) -> list[Any]:
    return [e for e in services.app.events.get(UUID(ticket_id))
            if type(e).__qualname__ == f"Ticket.{name}"]


async def get(client: Client, ticket: dict[str, Any]) -> dict[str, Any]:
    return (await client.get(f"/tickets/{ticket['id']}", as_=ADMIN)).json  # type: ignore[no-any-return]


async def register(client: Client, agent_id: str, active: bool = True) -> None:
    response = await client.put(f"/agents/{agent_id}", as_=ADMIN,
                                json={"name": agent_id, "email": None, "active": active})
    assert response.status in (200, 201), response


# -- auto-close -----------------------------------------------------------------------


async def test_auto_close_closes_resolved_tickets_idle_for_the_configured_days(
        client: Client, services: Services) -> None:
    at()
    first, second = await create_ticket(client), await create_ticket(client)
    await client.post(f"/tickets/{first['id']}/resolve", as_=AGENT)
    at(days=3)
    await client.post(f"/tickets/{second['id']}/resolve", as_=AGENT)
    at(days=7, seconds=-1)
    assert (await job(services, "auto-close"))["closed"] == 0
    at(days=7)
    assert await job(services, "auto-close") == {"job": "auto-close", "closed": 1,
                                                 "idle_days": 7.0}
    closed = await get(client, first)
    assert closed["status"] == "closed"
    assert closed["closed_at"] == "2024-03-11T09:00:00.000000Z"
    assert [e.reason for e in events_of(services, first["id"], "Closed")] == ["auto_close"]
    assert (await get(client, second))["status"] == "resolved"
    assert (await job(services, "auto-close"))["closed"] == 0  # idempotent
    at(days=10)
    assert (await job(services, "auto-close"))["closed"] == 1
    assert len(events_of(services, first["id"], "Closed")) == 1


@pytest.mark.parametrize("settings_env", [{"AUTO_CLOSE_RESOLVED_DAYS": "0"}])
async def test_zero_days_closes_every_resolved_ticket_now(client: Client,
                                                          services: Services) -> None:
    at()
    tickets = [await create_ticket(client) for _ in range(3)]
    for ticket in tickets[:2]:
        await client.post(f"/tickets/{ticket['id']}/resolve", as_=AGENT)
    assert (await job(services, "auto-close"))["closed"] == 2
    assert [(await get(client, t))["status"] for t in tickets] == ["closed", "closed", "open"]


@pytest.mark.parametrize("settings_env", [{"AUTO_CLOSE_RESOLVED_DAYS": "0.5"}])
async def test_fractional_days_and_activity_restart_the_idle_time(client: Client,
                                                                   services: Services) -> None:
    at()
    ticket = await create_ticket(client)
    await client.post(f"/tickets/{ticket['id']}/resolve", as_=AGENT)
    at(hours=6)  # staff activity on the resolved ticket: idle again from here
    edit = await client.put(f"/tickets/{ticket['id']}", as_=ADMIN, json={"tags": ["refund"]})
    assert edit.status == 200, edit
    at(hours=17)
    assert (await job(services, "auto-close"))["closed"] == 0
    at(hours=18)
    assert (await job(services, "auto-close"))["closed"] == 1


# -- escalate -------------------------------------------------------------------------


async def test_escalate_urgent_tickets_without_first_response_once(client: Client,
                                                                   services: Services) -> None:
    at()
    silent = await create_ticket(client, priority="urgent")
    answered = await create_ticket(client, priority="urgent")
    normal = await create_ticket(client, priority="normal")
    at(hours=1)
    reply = await client.post(f"/tickets/{answered['id']}/messages", as_=ADMIN,
                              json={"content": "On it"})
    assert reply.status == 201, reply
    at(hours=2, seconds=-1)
    assert (await job(services, "escalate"))["escalated"] == 0
    at(hours=2)
    assert await job(services, "escalate") == {"job": "escalate", "escalated": 1,
                                               "timeout_hours": 2.0}
    assert (await get(client, silent))["escalated_at"] == "2024-03-04T11:00:00.000000Z"
    assert (await get(client, answered))["escalated_at"] is None
    assert (await get(client, normal))["escalated_at"] is None
    at(hours=5)
    assert (await job(services, "escalate"))["escalated"] == 0
    assert len(events_of(services, silent["id"], "Escalated")) == 1


@pytest.mark.parametrize("settings_env", [{"ESCALATION_TIMEOUT_HOURS": "0.5"}])
async def test_escalation_timeout_accepts_fractions(client: Client, services: Services) -> None:
    at()
    ticket = await create_ticket(client, priority="urgent")
    at(minutes=29)
    assert (await job(services, "escalate"))["escalated"] == 0
    at(minutes=30)
    assert (await job(services, "escalate"))["escalated"] == 1
    assert (await get(client, ticket))["escalated_at"] is not None


# -- auto-assign ----------------------------------------------------------------------


async def test_auto_assign_gives_each_open_ticket_to_the_least_loaded_agent(
        client: Client, services: Services) -> None:
    for agent_id, active in (("agent-1", True), ("agent-2", True), ("agent-3", False)):
        await register(client, agent_id, active)
    busy = await create_ticket(client)
    await client.post(f"/tickets/{busy['id']}/assign", as_=ADMIN, json={"agent_id": "agent-1"})
    waiting = [await create_ticket(client) for _ in range(3)]
    assert await job(services, "auto-assign") == {
        "job": "auto-assign", "assigned": 3, "unassigned": 0, "active_agents": 2}
    after = [await get(client, t) for t in waiting]
    assert [t["assigned_to"] for t in after] == ["agent-2", "agent-1", "agent-2"]
    assert {t["status"] for t in after} == {"assigned"}
    assert (await job(services, "auto-assign"))["assigned"] == 0  # idempotent
    by = [e.by for t in waiting for e in events_of(services, t["id"], "Assigned")]
    assert by == ["system"] * 3


async def test_auto_assign_without_active_agents_leaves_tickets_open(
        client: Client, services: Services) -> None:
    await register(client, "agent-1", active=False)
    ticket = await create_ticket(client)
    assert (await job(services, "auto-assign"))["unassigned"] == 1
    assert (await get(client, ticket))["status"] == "open"


@pytest.mark.parametrize("settings_env", [{"AUTO_ASSIGN": "true"}])
async def test_auto_assign_on_creation(client: Client, services: Services) -> None:
    unassigned = await create_ticket(client)  # nobody on the roster yet
    assert unassigned["status"] == "open" and unassigned["assigned_to"] is None
    await register(client, "agent-1")
    await register(client, "agent-2")
    first, second = await create_ticket(client), await create_ticket(client)
    assert (first["status"], first["assigned_to"]) == ("assigned", "agent-1")
    assert second["assigned_to"] == "agent-2"
    assert first["version"] == 2  # created and assigned in one append


# -- survey ---------------------------------------------------------------------------


async def test_survey_requested_once_after_closure(client: Client, services: Services) -> None:
    closed = await create_ticket(client, as_=("cust-9", "customer"),
                                 contact_email="ana@example.com", contact_name="Ana")
    rated = await create_ticket(client)
    still_open = await create_ticket(client)
    for ticket in (closed, rated):
        await client.post(f"/tickets/{ticket['id']}/close", as_=AGENT)
    rating = await client.post(f"/tickets/{rated['id']}/satisfaction", as_=CUSTOMER,
                               json={"rating": 5})
    assert rating.status in (200, 201), rating
    assert await job(services, "survey") == {"job": "survey", "requested": 1}
    [requested] = events_of(services, closed["id"], "SurveyRequested")
    assert (requested.user_id, requested.email, requested.name) == (
        "cust-9", "ana@example.com", "Ana")
    assert (await job(services, "survey"))["requested"] == 0
    assert events_of(services, still_open["id"], "SurveyRequested") == []


# -- metrics --------------------------------------------------------------------------


async def test_metrics_job_aggregates_hourly_buckets(client: Client, services: Services) -> None:
    at()
    first = await create_ticket(client)
    at(minutes=20)
    await create_ticket(client)
    at(hours=1, minutes=30)
    await client.post(f"/tickets/{first['id']}/messages", as_=ADMIN, json={"content": "Hi"})
    at(hours=2)
    await client.post(f"/tickets/{first['id']}/resolve", as_=ADMIN)
    at(hours=3)
    assert await job(services, "metrics") == {"job": "metrics", "hours": 3}
    assert await job(services, "metrics") == {"job": "metrics", "hours": 3}  # idempotent
    with services.engine.connect() as conn:
        rows = conn.execute(select(ticket_metrics_hourly).order_by("hour")).all()
    assert [(r.hour.hour, r.created, r.first_responses, r.resolved) for r in rows] == [
        (9, 2, 0, 0), (10, 0, 1, 0), (11, 0, 0, 1)]
    assert rows[1].avg_first_response_seconds == 5400.0
    assert rows[2].avg_resolution_seconds == 7200.0


# -- several schedulers, restarts -----------------------------------------------------


def runs(services: Services) -> dict[str, int]:
    with services.engine.connect() as conn:
        rows = conn.execute(select(scheduler_runs.c.job, scheduler_runs.c.runs)).all()
    return {row.job: row.runs for row in rows}


@pytest.mark.parametrize("settings_env", [{"AUTO_ASSIGN": "true"}])  # every job scheduled
async def test_two_schedulers_run_each_due_job_once(services: Services) -> None:
    at()
    schedulers = [Scheduler(jobs_of(services), owner=f"scheduler-{i}") for i in range(2)]
    barrier = threading.Barrier(2)

    def tick(scheduler: Scheduler) -> None:
        barrier.wait()
        scheduler.tick()

    await asyncio.gather(*(asyncio.to_thread(tick, s) for s in schedulers))
    assert runs(services) == dict.fromkeys(JOBS, 1)
    assert await asyncio.to_thread(schedulers[1].tick) == []  # nothing due yet


async def test_a_held_lease_keeps_other_schedulers_off_that_job(services: Services) -> None:
    at()
    other = Scheduler(jobs_of(services), owner="b")
    holder = Lease(services.engine, "scheduler:escalate", owner="a", ttl=300)
    assert holder.acquire()
    assert other.run_job("escalate") == {"job": "escalate",
                                         "skipped": "running in another scheduler"}
    holder.release()
    assert other.run_job("escalate")["escalated"] == 0


@pytest.mark.parametrize("settings_env", [{"AUTO_ASSIGN": "true"}])
async def test_intervals_survive_a_restart(services: Services) -> None:
    at()
    Scheduler(jobs_of(services), owner="before-restart").tick()
    restarted = Scheduler(jobs_of(services), owner="after-restart")
    at(minutes=10)
    assert sorted(r["job"] for r in restarted.tick()) == ["auto-assign", "sla", "survey"]
    at(minutes=30)
    assert sorted(r["job"] for r in restarted.tick()) == ["auto-assign", "escalate", "sla",
                                                          "survey"]
    at(hours=1)
    assert "metrics" in [r["job"] for r in restarted.tick()]
    at(days=1)
    assert "auto-close" in [r["job"] for r in restarted.tick()]


async def test_a_scheduler_reads_nothing_until_a_job_is_due(services: Services) -> None:
    """Idle, a tick costs no query before the earliest job is due (issue 21)."""
    at()
    scheduler = Scheduler(jobs_of(services), owner="idle")
    await asyncio.to_thread(scheduler.tick)
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(services.engine, "before_cursor_execute", count)
    try:
        at(seconds=59)
        assert await asyncio.to_thread(scheduler.tick) == []
        assert sent == []
        at(minutes=1)
        ran = [r["job"] for r in await asyncio.to_thread(scheduler.tick)]
        assert "sla" in ran and "survey" not in ran
    finally:
        event.remove(services.engine, "before_cursor_execute", count)


async def test_auto_assign_false_turns_the_scheduled_job_off(
        client: Client, services: Services) -> None:
    """AUTO_ASSIGN=false (the default): no assignment on creation and no every-minute
    job either; `sav jobs run auto-assign` still runs it when asked."""
    at()
    await register(client, "agent-1")
    ticket = await create_ticket(client)
    scheduler = Scheduler(jobs_of(services), owner="s")
    for minutes in (0, 2, 4):
        at(minutes=minutes)
        assert "auto-assign" not in [r["job"] for r in scheduler.tick()]
    assert "auto-assign" not in runs(services)
    assert (await get(client, ticket))["status"] == "open"
    assert (await job(services, "auto-assign"))["assigned"] == 1


async def test_unknown_job_is_refused(services: Services) -> None:
    with pytest.raises(ValueError, match="unknown job"):
        run_job(jobs_of(services), "reindex")
