"""`GET /tickets/statistics` on a known data set, both profiles: exact numbers by role,
date ranges, day/week series and bad input."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sav.bootstrap import Services
from sav.events import clock
from sav.workers.scheduler import run_job
from tests.support.http import ADMIN, AGENT, CUSTOMER, OTHER_CUSTOMER, Client, create_ticket
from tests.support.workers import jobs_of

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)  # a Monday


def at(**delta: float) -> None:
    clock.freeze(T0 + timedelta(**delta))


async def ok(response: Any) -> Any:
    assert response.status in (200, 201), response
    return response.json


@pytest.fixture
async def data_set(client: Client, services: Services) -> dict[str, dict[str, Any]]:
    """A: urgent, answered after 1 h, resolved after 3 h, rated 4 (cust-1).
    B: normal, answered after 2 h, assigned to agent-1, still open (cust-1).
    C: urgent, never answered, escalated, resolved after 5 h, closed, rated 2 (cust-2).
    D: low, created a week later, untouched (cust-2)."""
    at()
    a = await create_ticket(client, priority="urgent")
    await ok(await client.post(f"/tickets/{a['id']}/assign", as_=ADMIN,
                               json={"agent_id": "agent-2"}))
    at(hours=1)
    b = await create_ticket(client, priority="normal")
    await ok(await client.post(f"/tickets/{a['id']}/messages", as_=ADMIN,
                               json={"content": "Looking"}))
    at(hours=3)
    await ok(await client.post(f"/tickets/{b['id']}/messages", as_=ADMIN,
                               json={"content": "Hello"}))
    await ok(await client.post(f"/tickets/{b['id']}/assign", as_=ADMIN,
                               json={"agent_id": "agent-1"}))
    await ok(await client.post(f"/tickets/{a['id']}/resolve", as_=ADMIN))
    await ok(await client.post(f"/tickets/{a['id']}/satisfaction", as_=CUSTOMER,
                               json={"rating": 4}))
    at(days=1)
    c = await create_ticket(client, as_=OTHER_CUSTOMER, priority="urgent")
    at(days=1, hours=2)
    assert (await asyncio.to_thread(run_job, jobs_of(services), "escalate"))["escalated"] == 1
    at(days=1, hours=5)
    await ok(await client.post(f"/tickets/{c['id']}/resolve", as_=ADMIN))
    await ok(await client.post(f"/tickets/{c['id']}/close", as_=OTHER_CUSTOMER))
    await ok(await client.post(f"/tickets/{c['id']}/satisfaction", as_=OTHER_CUSTOMER,
                               json={"rating": 2}))
    at(days=7)
    d = await create_ticket(client, as_=OTHER_CUSTOMER, priority="low")
    return {"a": a, "b": b, "c": c, "d": d}


async def stats(client: Client, query: str = "", as_: tuple[str, str] = ADMIN) -> Any:
    return await ok(await client.get(f"/tickets/statistics{query}", as_=as_))


async def test_admin_statistics_exact_numbers(client: Client, data_set: Any) -> None:
    assert await stats(client) == {
        "total": 4,
        "by_status": {"open": 1, "assigned": 1, "in_progress": 0, "waiting_customer": 0,
                      "resolved": 1, "closed": 1},
        "by_priority": {"low": 1, "normal": 1, "high": 0, "urgent": 2},
        "avg_first_response_seconds": 5400.0,
        "avg_resolution_seconds": 14400.0,
        "satisfaction": {"average": 3.0, "count": 2},
        "escalation_rate": 0.25,
        "agent_workload": [{"agent_id": "agent-1", "open": 1}],
        # Staff-only sections: no SLA policy and no macro in this data set.
        "sla": {"first_response": {"met": 0, "breached": 0, "compliance": None},
                "resolution": {"met": 0, "breached": 0, "compliance": None}},
        "macros": {"applied": 0, "by_macro": []},
    }


async def test_customer_statistics_cover_their_tickets_only(client: Client,
                                                            data_set: Any) -> None:
    mine = await stats(client, as_=CUSTOMER)
    assert mine["total"] == 2 and mine["by_priority"]["urgent"] == 1
    assert mine["avg_first_response_seconds"] == 5400.0
    assert mine["avg_resolution_seconds"] == 10800.0
    assert mine["satisfaction"] == {"average": 4.0, "count": 1}
    assert mine["escalation_rate"] == 0.0 and mine["agent_workload"] == []
    assert "sla" not in mine and "macros" not in mine  # staff-only sections
    theirs = await stats(client, as_=OTHER_CUSTOMER)
    assert theirs["total"] == 2 and theirs["escalation_rate"] == 0.5


async def test_agent_statistics_cover_assigned_and_unassigned_open(client: Client,
                                                                   data_set: Any) -> None:
    seen = await stats(client, as_=AGENT)  # B (assigned to agent-1) and D (open pool)
    assert seen["total"] == 2
    assert seen["by_status"]["assigned"] == 1 and seen["by_status"]["open"] == 1
    assert seen["agent_workload"] == [{"agent_id": "agent-1", "open": 1}]


async def test_roster_agents_without_tickets_show_zero_workload(client: Client,
                                                                data_set: Any) -> None:
    await ok(await client.put("/agents/agent-9", as_=ADMIN, json={"name": "Idle"}))
    assert (await stats(client))["agent_workload"] == [
        {"agent_id": "agent-1", "open": 1}, {"agent_id": "agent-9", "open": 0}]


async def test_from_and_to_select_by_creation_time(client: Client, data_set: Any) -> None:
    assert (await stats(client, "?from=2024-03-05&to=2024-03-05"))["total"] == 1
    assert (await stats(client, "?to=2024-03-04"))["total"] == 2
    assert (await stats(client, "?from=2024-03-04T10:00:00Z"))["total"] == 3
    assert (await stats(client, "?to=2024-03-04T09:00:00"))["total"] == 1
    ranged = await stats(client, "?from=2024-03-05&to=2024-03-10")
    assert ranged["avg_resolution_seconds"] == 18000.0 and ranged["escalation_rate"] == 1.0


async def test_group_by_day_and_week_add_a_series(client: Client, data_set: Any) -> None:
    by_day = await stats(client, "?group_by=day")
    assert [(p["period"], p["total"], p["resolved"], p["escalated"])
            for p in by_day["series"]] == [
        ("2024-03-04", 2, 1, 0), ("2024-03-05", 1, 1, 1), ("2024-03-11", 1, 0, 0)]
    assert by_day["series"][0]["avg_first_response_seconds"] == 5400.0
    by_week = await stats(client, "?group_by=week")
    assert [(p["period"], p["total"]) for p in by_week["series"]] == [
        ("2024-03-04", 3), ("2024-03-11", 1)]
    assert by_week["series"][0]["avg_resolution_seconds"] == 14400.0
    assert "series" not in await stats(client)


@pytest.mark.parametrize("query", [
    "?from=yesterday", "?to=2024-13-01", "?from=2024-03-05&to=2024-03-04",
    "?group_by=month", "?from=2024-03-04T25:00:00"])
async def test_bad_statistics_queries_are_422(client: Client, query: str) -> None:
    response = await client.get(f"/tickets/statistics{query}", as_=ADMIN)
    assert response.status == 422, response
    assert response.json["error"]["code"] == "validation_failed"
