"""Statistics from the incrementally kept counters equal a recount, both profiles.

A seeded random history of commands (creates, assigns, starts, waits, resolves,
reopens, closes, deletes, replies, notes, ratings, escalations, priority changes,
links to a user) is recounted here in plain Python from the `support_tickets` rows
under `can_see`; `ticket_statistics` must give exactly those figures for an admin,
agents and customers, with and without `from`/`to` and `group_by`. The counter tables
must equal their set-based rebuild, and replay must give them back unchanged.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Engine, select

from sav.bootstrap import Services
from sav.commands import agents, messages
from sav.commands import tickets as commands
from sav.commands.actor import SYSTEM, Actor
from sav.commands.policy import AGENT_POOL_EXCLUDES, can_see
from sav.events import clock
from sav.events.errors import DomainError
from sav.events.rules import Priority, Status
from sav.eventstore.db import write_transaction
from sav.projections import sla_stats, ticket_stats
from sav.projections.agents import support_agents
from sav.projections.runner import Projector
from sav.projections.schema import read_metadata
from sav.projections.search import support_tickets_fts
from sav.projections.statistics import ticket_statistics
from sav.projections.tickets import support_tickets
from sav.replay.shadow import move_position
from sav.sla import commands as sla_commands
from sav.workers import projections as projection_worker

T0 = datetime(2024, 2, 26, 8, 0, tzinfo=UTC)  # a Monday
ADMIN = Actor("admin-1", "admin")
ANALYST = Actor("analyst-1", "analyst")
AGENTS = [Actor(f"agent-{n}", "agent") for n in (1, 2, 3)]
CUSTOMERS = [Actor(f"cust-{n}", "customer", f"c{n}@example.com") for n in (1, 2)]
LINKED = Actor("cust-3", "customer")  # owns only tickets linked to it after creation
VIEWERS = [ADMIN, ANALYST, AGENTS[0], AGENTS[1], CUSTOMERS[0], CUSTOMERS[1], LINKED]
D1, D2 = "2024-03-04", "2024-03-20"
QUERIES: list[dict[str, str]] = [
    {}, {"group_by": "day"}, {"group_by": "week"}, {"from": D1}, {"to": D2},
    {"from": D1, "to": D2, "group_by": "week"}, {"from": f"{D1}T10:30:00Z"},
    {"to": f"{D2}T12:00:00", "group_by": "day"}, {"from": D1, "to": f"{D2}T23:00:00+02:00"},
]
STATS_TABLES = (ticket_stats.contributions, *ticket_stats.CELL_TABLES, sla_stats.sla_counts)

Action = Callable[[Any, random.Random, UUID, Actor | None], object]


def _staff(rng: random.Random) -> Actor:
    return rng.choice([ADMIN, ADMIN, *AGENTS])  # agents may not see it: a 404, skipped


ACTIONS: list[tuple[Action, int]] = [
    (lambda app, rng, i, owner: commands.assign_ticket(app, ADMIN, i, commands.AssignTicket(
        agent_id=rng.choice(AGENTS).user_id or "")), 6),
    (lambda app, rng, i, owner: commands.start_ticket(app, _staff(rng), i), 3),
    (lambda app, rng, i, owner: commands.wait_on_customer(app, _staff(rng), i), 2),
    (lambda app, rng, i, owner: commands.resolve_ticket(
        app, _staff(rng), i, commands.ResolveTicket()), 5),
    (lambda app, rng, i, owner: commands.reopen_ticket(app, ADMIN, i), 2),
    (lambda app, rng, i, owner: commands.close_ticket(app, ADMIN, i), 3),
    (lambda app, rng, i, owner: commands.delete_ticket(app, ADMIN, i), 1),
    (lambda app, rng, i, owner: messages.post_message(
        app, _staff(rng), i, messages.PostMessage(content="On it")), 5),
    (lambda app, rng, i, owner: messages.post_message(
        app, ADMIN, i, messages.PostMessage(content="note", is_internal=True)), 2),
    (lambda app, rng, i, owner: owner and messages.post_message(
        app, owner, i, messages.PostMessage(content="Any news?")), 2),
    (lambda app, rng, i, owner: owner and messages.rate_ticket(
        app, owner, i, messages.RateTicket(rating=rng.randint(1, 5))), 8),
    (lambda app, rng, i, owner: app.change_ticket(i, lambda t: t.escalate("late")), 2),
    (lambda app, rng, i, owner: commands.update_ticket(app, ADMIN, i, commands.UpdateTicket(
        priority=rng.choice(list(Priority)))), 2),
    (lambda app, rng, i, owner: owner is None and app.change_ticket(
        i, lambda t: t.link_user(LINKED.user_id, None)), 3),
    # What the scheduler's `sla` job does for a ticket: record the breaches due by now.
    (lambda app, rng, i, owner: app.change_ticket(i, lambda t: None), 4),
]


def sla_policies(app: Any) -> None:
    """Service levels over the history: met, breached, paused, re-matched."""
    sla_commands.put_calendar(app, ADMIN, {"timezone": "Europe/Paris", "holidays": [
        "2024-03-01"], "hours": {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed")}})
    sla_commands.put_policy(app, ADMIN, "hot", sla_commands.PolicyBody(
        priority=["urgent", "high"], first_response_minutes=1440, resolution_minutes=2880))
    sla_commands.put_policy(app, ADMIN, "rest", sla_commands.PolicyBody(
        position=1, first_response_minutes=2400, next_response_minutes=120,
        resolution_minutes=6000, business_hours=True))


def make_history(services: Services, seed: int, steps: int = 240) -> None:
    app, rng, now = services.app, random.Random(seed), T0
    agents.upsert_agent(app, SYSTEM, "agent-3", agents.UpsertAgent(name="Cy"))
    agents.upsert_agent(app, SYSTEM, "agent-4", agents.UpsertAgent(name="Idle"))
    agents.upsert_agent(app, SYSTEM, "agent-5", agents.UpsertAgent(name="Gone", active=False))
    sla_policies(app)
    tickets: list[tuple[UUID, Actor | None]] = []
    for _ in range(steps):
        micros = timedelta(microseconds=rng.randrange(1, 10**6))
        now += rng.choice([micros, micros + timedelta(seconds=rng.randrange(7200)),
                           micros + timedelta(hours=rng.randrange(1, 30))])
        clock.freeze(now)
        if len(tickets) < 3 or rng.random() < 0.15:
            owner = [None, *CUSTOMERS][len(tickets)] if len(tickets) < 3 else rng.choice(
                [*CUSTOMERS, None])
            cmd = commands.CreateTicket(subject="Parcel", description="Never arrived",
                                        priority=rng.choice(list(Priority)),
                                        contact_email=None if owner else "walk-in@example.com")
            created = commands.create_ticket(app, owner or ADMIN, cmd)
            tickets.append((created.ticket_id, owner))
            continue
        ticket_id, owner = rng.choice(tickets)
        action = rng.choices([a for a, _ in ACTIONS], [w for _, w in ACTIONS])[0]
        # Not allowed now (lifecycle, visibility, rated twice): the history goes on.
        with contextlib.suppress(DomainError):
            action(app, rng, ticket_id, owner)
    for ticket_id, owner in tickets:  # at least one walk-in ticket linked, whatever the dice
        with contextlib.suppress(DomainError):  # deleted ones are not found
            if owner is None:
                app.change_ticket(ticket_id, lambda t: t.link_user(LINKED.user_id, None))
                break
    clock.freeze(None)
    assert services.read_model.wait_blocking(app.recorder.max_notification_id(), timeout=30)


# -- the recount: plain Python over the tickets' rows ------------------------------------


def _bound(raw: str | None, end: bool) -> Callable[[datetime], bool]:
    if raw is None:
        return lambda at: True
    if len(raw) == 10:
        edge = datetime.fromisoformat(raw) + timedelta(days=1 if end else 0)
        return (lambda at: at < edge) if end else (lambda at: at >= edge)
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
    moment = moment.replace(tzinfo=None)
    return (lambda at: at <= moment) if end else (lambda at: at >= moment)


def _average(values: list[int], unit: int = 1) -> float | None:
    return round(sum(values) / (len(values) * unit), 3) if values else None


def _figures(rows: list[Any]) -> dict[str, Any]:
    def micros(column: str) -> list[int]:
        return [(getattr(r, column) - r.created_at) // timedelta(microseconds=1)
                for r in rows if getattr(r, column) is not None]

    return {"total": len(rows),
            "avg_first_response_seconds": _average(micros("first_response_at"), 10**6),
            "avg_resolution_seconds": _average(micros("resolved_at"), 10**6)}


def recount(rows: list[Any], roster: list[str], actor: Actor, args: dict[str, str]
            ) -> dict[str, Any]:
    after, before = _bound(args.get("from"), False), _bound(args.get("to"), True)
    seen = [r for r in rows if not r.is_deleted and after(r.created_at)
            and before(r.created_at) and can_see(actor, r.user_id, r.assigned_to, r.status)]
    ratings = [r.satisfaction_rating for r in seen if r.satisfaction_rating is not None]
    escalated = sum(r.escalated_at is not None for r in seen)
    workload: dict[str, int] = dict.fromkeys(roster, 0) if actor.sees_every_ticket else {}
    for r in seen:
        if actor.sees_internal and r.assigned_to and r.status not in AGENT_POOL_EXCLUDES:
            workload[r.assigned_to] = workload.get(r.assigned_to, 0) + 1
    result = {
        **_figures(seen),
        "by_status": {s.value: sum(r.status == s for r in seen) for s in Status},
        "by_priority": {p.value: sum(r.priority == p for r in seen) for p in Priority},
        "satisfaction": {"average": _average(ratings), "count": len(ratings)},
        "escalation_rate": round(escalated / len(seen), 4) if seen else 0.0,
        "agent_workload": [{"agent_id": a, "open": n} for a, n in sorted(workload.items())],
    }
    if actor.sees_internal:  # service levels: staff only, every ticket's decided metrics
        result["sla"] = sla_stats.section(sla_stats.tally_states(r.sla_state for r in rows))
        # This history applies no macro (tests/integration/test_macros.py counts uses).
        result["macros"] = {"applied": 0, "by_macro": []}
    if "group_by" in args:
        result["group_by"] = args["group_by"]
        result["series"] = _series(seen, args["group_by"])
    return result


def _series(rows: list[Any], grouping: str) -> list[dict[str, Any]]:
    buckets: dict[date, list[Any]] = {}
    for r in rows:
        day = r.created_at.date()
        buckets.setdefault(day - timedelta(days=day.weekday() if grouping == "week" else 0),
                           []).append(r)
    return [{"period": period.isoformat(), **_figures(bucket),
             "resolved": sum(r.resolved_at is not None for r in bucket),
             "escalated": sum(r.escalated_at is not None for r in bucket)}
            for period, bucket in sorted(buckets.items())]


def recount_all(engine: Engine) -> dict[tuple[str | None, int], dict[str, Any]]:
    with engine.connect() as conn:
        rows = list(conn.execute(select(support_tickets)).all())
        roster = list(conn.execute(select(support_agents.c.agent_id)
                                   .where(support_agents.c.active.is_(True))).scalars())
    return {(actor.user_id, n): recount(rows, roster, actor, args)
            for actor in VIEWERS for n, args in enumerate(QUERIES)}


async def served_all(services: Services) -> dict[tuple[str | None, int], dict[str, Any]]:
    async with services.read_engine.connect() as conn:
        return {(actor.user_id, n): await ticket_statistics(conn, actor, args)
                for actor in VIEWERS for n, args in enumerate(QUERIES)}


def counters(engine: Engine, empty: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    """Every statistics row; `empty=False` leaves out the cells tickets moved out of."""
    with engine.connect() as conn:
        return {table.name: sorted(tuple(row) for row in conn.execute(select(table))
                                   if empty or table is ticket_stats.contributions
                                   or row.tickets)
                for table in STATS_TABLES}


# -- tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [7, 2024])
async def test_statistics_equal_a_recount_of_the_tickets(services: Services, seed: int) -> None:
    make_history(services, seed)
    expected, served = recount_all(services.engine), await served_all(services)
    for key, figures in expected.items():
        assert served[key] == figures, (key, QUERIES[key[1]])
    admin = expected[(ADMIN.user_id, 0)]
    assert admin["total"] > 20 and admin["satisfaction"]["count"] > 0, "a rich history"
    assert admin["avg_first_response_seconds"] and admin["escalation_rate"] > 0
    assert expected[(LINKED.user_id, 0)]["total"] > 0, "some tickets were linked"
    levels = admin["sla"]
    assert all(levels[metric][outcome] > 0 for metric in ("first_response", "resolution")
               for outcome in ("met", "breached")), levels


async def test_counters_equal_their_rebuild_from_the_tickets(services: Services) -> None:
    make_history(services, seed=11)
    live = counters(services.engine, empty=False)
    with write_transaction(services.engine) as conn:
        ticket_stats.rebuild(conn)
    assert counters(services.engine) == live


async def test_replay_rebuilds_the_statistics(services: Services) -> None:
    make_history(services, seed=3)
    before, tables = await served_all(services), counters(services.engine, empty=False)
    services.background.stop.set()
    for thread in services.background.threads:
        thread.join(timeout=5)
    projection_worker.replay(services.app, services.engine)
    # Bulk replay computes the cells set-based: none of the empty ones live leaves behind.
    assert counters(services.engine) == tables
    assert await served_all(services) == before


async def test_the_counters_do_not_depend_on_how_events_are_batched(services: Services) -> None:
    """The handlers defer their writes to the end of the projector's batch: one event
    per batch and the whole history in one batch give the same rows as live."""
    make_history(services, seed=5)
    live = counters(services.engine, empty=False)
    services.background.stop.set()
    for thread in services.background.threads:
        thread.join(timeout=5)
    for size in (1, 100_000):
        with write_transaction(services.engine) as conn:
            for table in reversed(read_metadata.sorted_tables):
                conn.execute(table.delete())
            if conn.dialect.name == "sqlite":  # the full-text rows live beside the tables
                conn.execute(support_tickets_fts.delete())
            move_position(conn, 0)
        Projector(services.app.recorder, services.app.mapper, services.engine,
                  batch_size=size).run_once()
        assert counters(services.engine, empty=False) == live, size
