"""Service levels (issue 23) over HTTP on both profiles: the calendar and policies,
the staff-only `sla` object, met by a public reply (not a note), breached once by the
`sla` job (event, history, feed), paused and resumed, business hours across a holiday
in another time zone, re-matching on a priority change, the lists and the statistics
(equal to a recount). The clock is pinned: targets are seconds, nothing sleeps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sav.bootstrap import Services
from sav.events import clock
from sav.projections import sla_stats
from sav.replay.rebuild import check as replay_check
from sav.workers.scheduler import run_job
from tests.support.http import ADMIN, AGENT, ANALYST, CUSTOMER, Client, create_ticket
from tests.support.workers import jobs_of

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday
SLA_KEYS = ["policy", "first_response_due_at", "next_response_due_at", "resolution_due_at",
            "breaches", "paused"]


def at(**delta: float) -> datetime:
    moment = T0 + timedelta(**delta)
    clock.freeze(moment)
    return moment


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


async def put_policy(client: Client, name: str = "fast", status: int | None = None,
                     **values: Any) -> dict[str, Any]:
    body = {"first_response_minutes": 0.5, "resolution_minutes": 2, **values}
    response = await client.put(f"/sla/policies/{name}", as_=ADMIN, json=body)
    assert response.status == (status or response.status) and response.status in (200, 201), (
        response.status, response.json)
    return response.json  # type: ignore[no-any-return]


async def staff_view(client: Client, ticket: dict[str, Any]) -> dict[str, Any]:
    response = await client.get(f"/tickets/{ticket['id']}", as_=ADMIN)
    return response.json  # type: ignore[no-any-return]


async def sla_job(services: Services) -> dict[str, Any]:
    return await asyncio.to_thread(run_job, jobs_of(services), "sla")


async def reply(client: Client, ticket: dict[str, Any], as_: tuple[str, str] = AGENT,
                internal: bool = False) -> None:
    response = await client.post(f"/tickets/{ticket['id']}/messages", as_=as_,
                                 json={"content": "Hello", "is_internal": internal})
    assert response.status == 201, response.json


async def test_the_calendar_and_policies(client: Client) -> None:
    default = await client.get("/sla/calendar", as_=AGENT)
    assert default.status == 200
    assert default.json["timezone"] == "UTC" and default.json["holidays"] == []
    assert default.json["hours"]["sun"] == [["00:00", "24:00"]]
    calendar = {"timezone": "Europe/Paris", "holidays": ["2026-12-25"],
                "hours": {"mon": [["09:00", "18:00"]], "sun": []}}
    assert (await client.put("/sla/calendar", as_=AGENT, json=calendar)).status == 403
    assert (await client.put("/sla/calendar", as_=ANALYST, json=calendar)).status == 403
    bad = await client.put("/sla/calendar", as_=ADMIN, json={**calendar, "timezone": "Mars/Base"})
    assert bad.status == 422 and bad.json["error"]["details"][0]["field"] == "timezone"
    for hours in ({"mon": [["18:00", "09:00"]]}, {"monday": []}, {"mon": [["9h", "18h"]]}):
        assert (await client.put("/sla/calendar", as_=ADMIN,
                                 json={**calendar, "hours": hours})).status == 422
    changed = await client.put("/sla/calendar", as_=ADMIN, json=calendar)
    assert changed.status == 200 and changed.json["hours"]["tue"] == []
    assert (await client.get("/sla/calendar", as_=AGENT)).json == changed.json
    assert (await client.get("/sla/calendar", as_=CUSTOMER)).status == 403

    created = await client.put("/sla/policies/vip", as_=ADMIN, json={
        "priority": ["urgent"], "category": ["billing"], "position": 5,
        "first_response_minutes": 15, "resolution_minutes": 240.5})
    assert created.status == 201 and created.headers["location"] == "/sla/policies/vip"
    assert created.json == {"name": "vip", "priority": ["urgent"], "category": ["billing"],
                            "position": 5, "first_response_minutes": 15,
                            "next_response_minutes": None, "resolution_minutes": 240.5,
                            "business_hours": False}
    await put_policy(client, "first", status=201, position=1)
    replaced = await client.put("/sla/policies/vip", as_=ADMIN, json={
        "position": 0, "first_response_minutes": 10, "resolution_minutes": 60})
    assert replaced.status == 200 and replaced.json["priority"] is None
    listed = await client.get("/sla/policies", as_=AGENT)
    assert [p["name"] for p in listed.json["data"]] == ["vip", "first"]
    assert (await client.get("/sla/policies/vip", as_=ANALYST)).json == replaced.json
    assert (await client.get("/sla/policies", as_=CUSTOMER)).status == 403
    for body in ({"first_response_minutes": 0, "resolution_minutes": 1},
                 {"first_response_minutes": 1, "resolution_minutes": 600_000},
                 {"first_response_minutes": 1}, {"first_response_minutes": 1,
                  "resolution_minutes": 1, "priority": ["asap"]},
                 {"first_response_minutes": 1, "resolution_minutes": 1, "colour": "red"}):
        assert (await client.put("/sla/policies/x", as_=ADMIN, json=body)).status == 422
    assert (await client.put("/sla/policies/x", as_=AGENT, json={
        "first_response_minutes": 1, "resolution_minutes": 1})).status == 403
    assert (await client.delete("/sla/policies/vip", as_=AGENT)).status == 403
    assert (await client.delete("/sla/policies/vip", as_=ADMIN)).status == 200
    assert (await client.delete("/sla/policies/vip", as_=ADMIN)).status == 404
    assert (await client.get("/sla/policies/vip", as_=ADMIN)).status == 404
    assert [p["name"] for p in (await client.get("/sla/policies", as_=ADMIN)).json["data"]
            ] == ["first"]


async def test_staff_only_and_met_by_a_public_reply_not_a_note(
        client: Client, services: Services) -> None:
    at()
    await put_policy(client, first_response_minutes=0.5, resolution_minutes=10)
    ticket = await create_ticket(client)
    shown = (await staff_view(client, ticket))["sla"]
    assert list(shown) == SLA_KEYS
    assert shown == {"policy": "fast", "first_response_due_at": iso(T0 + timedelta(seconds=30)),
                     "next_response_due_at": None,
                     "resolution_due_at": iso(T0 + timedelta(minutes=10)),
                     "breaches": [], "paused": False}
    assert (await client.get(f"/tickets/{ticket['id']}", as_=ANALYST)).json["sla"] == shown
    mine = await client.get(f"/tickets/{ticket['id']}", as_=CUSTOMER)
    assert "sla" not in mine.json and "sla_state" not in mine.json
    assert not {"sla_state", "sla_next_due_at", "sla_breached"} & set(
        await staff_view(client, ticket))
    at(seconds=10)
    await reply(client, ticket, internal=True)
    at(seconds=20)
    await reply(client, ticket)
    at(seconds=40)
    assert (await sla_job(services))["breached"] == 0
    history = await client.get(f"/tickets/{ticket['id']}/history", as_=ADMIN)
    assert "ticket.sla.met" in [entry["type"] for entry in history.json["data"]]
    customer_history = await client.get(f"/tickets/{ticket['id']}/history", as_=CUSTOMER)
    assert not [e for e in customer_history.json["data"] if e["type"].startswith("ticket.sla")]
    figures = (await client.get("/tickets/statistics", as_=ADMIN)).json["sla"]
    assert figures["first_response"] == {"met": 1, "breached": 0, "compliance": 1.0}
    assert "sla" not in (await client.get("/tickets/statistics", as_=CUSTOMER)).json


async def test_a_breach_is_recorded_once_published_and_in_history(
        client: Client, services: Services) -> None:
    at()
    await put_policy(client, first_response_minutes=0.5, resolution_minutes=1)
    late, other = await create_ticket(client), await create_ticket(client)
    await reply(client, other)
    at(seconds=29)
    assert await sla_job(services) == {"job": "sla", "due": 0, "breached": 0}
    at(seconds=45)
    # Only the due ticket is read: the other one's next due time is a minute away.
    assert await sla_job(services) == {"job": "sla", "due": 1, "breached": 1}
    assert await sla_job(services) == {"job": "sla", "due": 0, "breached": 0}
    shown = await staff_view(client, late)
    assert shown["sla"]["breaches"] == ["first_response"], shown
    at(seconds=70)
    assert await sla_job(services) == {"job": "sla", "due": 2, "breached": 2}
    assert (await staff_view(client, late))["sla"]["breaches"] == [
        "first_response", "resolution"]
    assert await sla_job(services) == {"job": "sla", "due": 0, "breached": 0}
    breaches = [e for e in services.app.events.get(UUID(late["id"]))
                if type(e).__qualname__ == "Ticket.SlaBreached"]
    assert [b.metric for b in breaches] == ["first_response", "resolution"]
    feed = await client.get("/events?type=ticket.sla.breached", as_=ADMIN)
    first = feed.json["data"][0]
    assert first["event"] == "ticket.sla.breached"
    assert {k: first["data"][k] for k in ("ticket_id", "ticket_number", "metric", "due_at",
                                          "policy")} == {
        "ticket_id": late["id"], "ticket_number": late["ticket_number"],
        "metric": "first_response", "due_at": iso(T0 + timedelta(seconds=30)),
        "policy": "fast"}
    history = await client.get(f"/tickets/{late['id']}/history", as_=AGENT)
    assert [e["type"] for e in history.json["data"]].count("ticket.sla.breached") == 2
    # Time travel: the ticket before its breaches (version 2: matched), and at creation.
    before = await client.get(f"/tickets/{late['id']}?version=2", as_=ADMIN)
    assert before.json["sla"]["breaches"] == [] and before.json["sla"]["policy"] == "fast"
    assert (await client.get(f"/tickets/{late['id']}?version=1", as_=ADMIN)).json["sla"] is None
    figures = (await client.get("/tickets/statistics", as_=ADMIN)).json["sla"]
    assert figures == {"first_response": {"met": 1, "breached": 1, "compliance": 0.5},
                       "resolution": {"met": 0, "breached": 2, "compliance": 0.0}}
    with services.engine.connect() as conn:
        recounted = sla_stats.recount(conn)
        stored = {(r.metric, r.outcome): r.tickets for r in conn.execute(
            sla_stats.sla_counts.select())}
    assert recounted == stored == {("first_response", "met"): 1,
                                   ("first_response", "breached"): 1,
                                   ("resolution", "breached"): 2}


async def test_resolution_pauses_while_waiting_on_the_customer(
        client: Client, services: Services) -> None:
    at()
    await put_policy(client, first_response_minutes=100, resolution_minutes=1)
    ticket = await create_ticket(client)
    await client.post(f"/tickets/{ticket['id']}/assign", as_=AGENT, json={"agent_id": "agent-1"})
    at(seconds=20)
    assert (await client.post(f"/tickets/{ticket['id']}/wait", as_=AGENT)).status == 200
    assert (await staff_view(client, ticket))["sla"]["paused"] is True
    at(minutes=5)
    assert (await sla_job(services))["breached"] == 0
    await reply(client, ticket, as_=CUSTOMER)  # back in progress: the clock runs again
    shown = (await staff_view(client, ticket))["sla"]
    assert shown["paused"] is False and shown["breaches"] == []
    assert shown["resolution_due_at"] == iso(T0 + timedelta(minutes=5, seconds=40))
    at(minutes=5, seconds=41)
    assert (await sla_job(services))["breached"] == 1
    assert (await staff_view(client, ticket))["sla"]["breaches"] == ["resolution"]


async def test_business_hours_across_a_holiday_in_another_time_zone(client: Client) -> None:
    at()  # Monday 09:00 UTC = 18:00 in Tokyo: closing time there
    week = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    response = await client.put("/sla/calendar", as_=ADMIN, json={
        "timezone": "Asia/Tokyo", "hours": week, "holidays": ["2026-12-08"]})
    assert response.status == 200
    await put_policy(client, business_hours=True, first_response_minutes=60,
                     resolution_minutes=600)
    ticket = await create_ticket(client)
    shown = (await staff_view(client, ticket))["sla"]
    # Tuesday the 8th is a holiday: Wednesday 10:00 Tokyo (01:00 UTC) is one open hour on.
    assert shown["first_response_due_at"] == iso(datetime(2026, 12, 9, 1, 0, tzinfo=UTC))
    # Nine hours on Wednesday, one on Thursday: Thursday 10:00 Tokyo.
    assert shown["resolution_due_at"] == iso(datetime(2026, 12, 10, 1, 0, tzinfo=UTC))


async def test_a_priority_change_matches_again_and_lists_follow(
        client: Client, services: Services) -> None:
    at()
    await put_policy(client, "urgent", priority=["urgent"], first_response_minutes=0.25)
    await put_policy(client, "normal", priority=["normal"], position=1,
                     first_response_minutes=90, resolution_minutes=120)
    ticket, calm, bare = (await create_ticket(client), await create_ticket(client),
                          await create_ticket(client, priority="low"))
    assert (await staff_view(client, ticket))["sla"]["policy"] == "normal"
    assert (await staff_view(client, bare))["sla"] is None
    changed = await client.put(f"/tickets/{ticket['id']}", as_=AGENT, json={"priority": "urgent"})
    assert changed.status == 200
    shown = (await staff_view(client, ticket))["sla"]
    assert shown["policy"] == "urgent"
    assert shown["first_response_due_at"] == iso(T0 + timedelta(seconds=15))

    async def listed(query: str, as_: tuple[str, str] = ADMIN) -> list[str]:
        response = await client.get(f"/tickets?{query}", as_=as_)
        assert response.status == 200, response.json
        return [row["id"] for row in response.json["data"]]

    assert await listed("sort=sla_due") == [ticket["id"], calm["id"], bare["id"]]
    assert await listed("sort=sla_due&limit=1") == [ticket["id"]]
    page = await client.get("/tickets?sort=sla_due&limit=2", as_=ADMIN)
    cursor = page.json["pagination"]["next_cursor"]
    assert await listed(f"sort=sla_due&limit=2&cursor={cursor}") == [bare["id"]]
    assert await listed("sla=at_risk") == [ticket["id"]]
    assert await listed("sla=breached") == []
    at(seconds=20)
    await sla_job(services)
    assert await listed("sla=breached", as_=AGENT) == [ticket["id"]]
    assert (await client.get("/tickets?sla=breached", as_=CUSTOMER)).status == 403
    assert (await client.get("/tickets?sort=sla_due", as_=CUSTOMER)).status == 403
    assert (await client.get("/tickets?sla=late", as_=ADMIN)).status == 422
    assert (await client.get("/tickets?sort=due", as_=ADMIN)).status == 422


async def test_replay_rebuilds_the_service_levels_as_projected(
        client: Client, services: Services) -> None:
    """`sav replay --check`: the bulk fold of every SLA event gives the live rows and
    counters (due times, pause, breaches, next due time, met and breached counts)."""
    at()
    await put_policy(client, first_response_minutes=0.5, next_response_minutes=0.5,
                     resolution_minutes=3)
    first, second = await create_ticket(client), await create_ticket(client, priority="high")
    await client.post(f"/tickets/{second['id']}/assign", as_=AGENT, json={"agent_id": "agent-1"})
    await reply(client, second)
    await client.post(f"/tickets/{second['id']}/wait", as_=AGENT)
    at(seconds=40)
    await sla_job(services)
    await reply(client, second, as_=CUSTOMER)
    await client.put(f"/tickets/{first['id']}", as_=AGENT, json={"priority": "low"})
    comparison = await asyncio.to_thread(
        replay_check, services.app.recorder, services.app.mapper, services.engine)
    assert comparison.differences == []
