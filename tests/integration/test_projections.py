"""Projector invariants on both profiles: exactly-once, replay equals live, no lost update,
unique ticket numbers across processes, read-your-writes with a separate worker."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Engine, select

from sav.bootstrap import Services, bootstrap
from sav.commands import agents, automations, messages
from sav.commands import tickets as commands
from sav.commands.actor import SYSTEM, Actor
from sav.commands.numbers import SqlTicketNumbers
from sav.config import Settings
from sav.events.ticket import Ticket
from sav.eventstore.db import build_engine
from sav.eventstore.recorder import SqlApplicationRecorder
from sav.eventstore.tracking import tracked_position
from sav.projections.position import READ_MODEL
from sav.projections.runner import Projector
from sav.projections.schema import read_metadata
from sav.projections.ticket_stats import CELL_TABLES
from sav.workers import projections as projection_worker
from tests.support.http import Client

CUSTOMER = Actor("cust-1", "customer", "c@example.com")
AGENT = Actor("agent-1", "agent")


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every read table's rows, sorted, as plain tuples; statistics cells with no
    tickets count for nothing (live leaves the ones tickets moved out of, a bulk
    replay makes none: see ticket_stats.py)."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in read_metadata.sorted_tables:
            rows = conn.execute(select(table)).all()
            tables[table.name] = sorted((tuple(row) for row in rows
                                         if table not in CELL_TABLES or row.tickets), key=repr)
    return tables


def make_history(services: Services, tickets: int = 6) -> list[UUID]:
    app = services.app
    ids = []
    for i in range(tickets):
        ticket_id = commands.create_ticket(app, CUSTOMER, commands.CreateTicket(
            subject=f"Ticket {i}", description="desc", metadata={"n": i})).ticket_id
        ids.append(ticket_id)
        # Tags are staff-only, at creation too.
        commands.update_ticket(app, AGENT, ticket_id, commands.UpdateTicket(tags=[f"t{i}"]))
        commands.assign_ticket(app, AGENT, ticket_id, commands.AssignTicket(agent_id="agent-1"))
        if i % 2:
            commands.resolve_ticket(app, AGENT, ticket_id, commands.ResolveTicket(resolution="ok"))
        if i % 3 == 0:
            commands.update_ticket(app, AGENT, ticket_id, commands.UpdateTicket(
                internal_notes="note", priority="high"))
        converse(app, ticket_id, i)
    agents.upsert_agent(app, SYSTEM, "agent-1", agents.UpsertAgent(name="Ann", active=True))
    agents.upsert_agent(app, SYSTEM, "agent-1", agents.UpsertAgent(name="Ann B", active=False))
    return ids


def converse(app: Any, ticket_id: UUID, i: int) -> None:
    """Messages, read receipts, edits, deletions, ratings, escalation and surveys."""
    public = messages.post_message(app, AGENT, ticket_id, messages.PostMessage(
        content=f"Hello {i}")).message_id
    note = messages.post_message(app, AGENT, ticket_id, messages.PostMessage(
        content="internal", is_internal=True)).message_id
    messages.mark_all_read(app, CUSTOMER, ticket_id)
    messages.edit_message(app, AGENT, ticket_id, public, messages.EditMessage(content="Hi"))
    if i % 2:
        messages.remove_message(app, AGENT, ticket_id, note)
        messages.rate_ticket(app, CUSTOMER, ticket_id, messages.RateTicket(rating=4))
        commands.close_ticket(app, AGENT, ticket_id)
        automations.request_survey(app, ticket_id)
    else:
        app.change_ticket(ticket_id, lambda t: t.escalate("test"))


def wait_projected(services: Services) -> None:
    target = services.app.recorder.max_notification_id() or 0
    for _ in range(1000):
        if services.read_model.current() >= target:
            return
        threading.Event().wait(0.01)
    raise AssertionError("projector did not catch up")


def test_replay_equals_live(services: Services) -> None:
    make_history(services)
    wait_projected(services)
    live = snapshot(services.engine)
    services.background.stop.set()
    for thread in services.background.threads:
        thread.join(timeout=5)
    applied = projection_worker.replay(services.app, services.engine)
    assert applied == services.app.recorder.max_notification_id()
    assert snapshot(services.engine) == live
    assert live["support_tickets"], "the history produced rows"


class Crash(Exception):
    pass


def test_projector_killed_mid_batch_converges(settings: Settings) -> None:
    """Invariant 4: a failure half-way through a batch rolls back rows and tracking
    together; a restarted projector produces the same tables as an undisturbed one."""
    services = bootstrap(settings)  # no in-process projector
    try:
        make_history(services, tickets=4)
        calls = {"n": 0}

        def crash_on_fifth(conn: Any, event: Any, position: int) -> None:
            calls["n"] += 1
            if calls["n"] == 5:
                raise Crash

        from sav.projections import registry

        crashing = Projector(services.app.recorder, services.app.mapper, services.engine,
                             handlers=[*registry.handler_tables(),
                                       {Ticket.Assigned: crash_on_fifth,
                                        Ticket.Resolved: crash_on_fifth}],
                             batch_size=3)
        with pytest.raises(Crash):
            crashing.run_once()
        partial_position = crashing.read_position()
        assert partial_position < (services.app.recorder.max_notification_id() or 0)
        with services.engine.connect() as conn:
            assert tracked_position(conn, READ_MODEL) == partial_position
        restarted = Projector(services.app.recorder, services.app.mapper, services.engine)
        restarted.run_once()
        converged = snapshot(services.engine)
        projection_worker.replay(services.app, services.engine)
        assert snapshot(services.engine) == converged
    finally:
        services.close()


def test_two_projectors_at_once_write_each_event_once(settings: Settings) -> None:
    services = bootstrap(settings)
    try:
        make_history(services, tickets=8)
        projectors = [Projector(services.app.recorder, services.app.mapper, services.engine,
                                batch_size=4) for _ in range(2)]
        threads = [threading.Thread(target=p.run_once) for p in projectors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        together = snapshot(services.engine)
        projection_worker.replay(services.app, services.engine)
        assert snapshot(services.engine) == together
    finally:
        services.close()


def test_concurrent_commands_on_one_ticket_lose_nothing(services: Services) -> None:
    """Invariant 2: 12 concurrent assignments each land on the latest state."""
    app = services.app
    ticket_id = commands.create_ticket(app, CUSTOMER, commands.CreateTicket(
        subject="Hot", description="ticket")).ticket_id
    agents = [f"agent-{i}" for i in range(12)]
    errors: list[BaseException] = []

    def assign(agent: str) -> None:
        try:
            commands.assign_ticket(app, Actor(agent, "admin"), ticket_id,
                                   commands.AssignTicket(agent_id=agent))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=assign, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    events = list(app.events.get(ticket_id))
    assert len(events) == 1 + len(agents)
    assert sorted(e.agent_id for e in events[1:]) == sorted(agents)
    assert app.repository.get(ticket_id).version == 1 + len(agents)


def _allocate(url: str, count: int, queue: Any) -> None:
    engine = build_engine(url, pool_size=2)
    numbers = SqlTicketNumbers(SqlApplicationRecorder(engine))
    queue.put([numbers.next("20240115") for _ in range(count)])
    engine.dispose()


def test_ticket_numbers_are_unique_across_processes(services: Services) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_allocate, args=(services.settings.database_url, 25, queue))
                 for _ in range(3)]
    for process in processes:
        process.start()
    allocated = [n for _ in processes for n in queue.get(timeout=60)]
    for process in processes:
        process.join(timeout=30)
    assert sorted(allocated) == list(range(1, 76))


async def test_read_your_writes_with_a_separate_projection_worker(
    settings: Settings, client: Client, services: Services,
) -> None:
    """Production shape: the projector runs in `sav worker projections`, not the API."""
    services.background.stop.set()
    for thread in services.background.threads:
        thread.join(timeout=5)
    services.read_model.local = None  # the API now follows the worker's tracking row
    worker = bootstrap(settings)
    stop = threading.Event()
    thread = threading.Thread(target=projection_worker.run,
                              args=(worker.app, worker.engine, 1.0, stop))
    thread.start()
    try:
        for i in range(3):
            created = await client.post("/tickets", as_=("cust-1", "customer"),
                                        json={"subject": f"S{i}", "description": "d"})
            assert created.status == 201, created
            listed = await client.get("/tickets", as_=("cust-1", "customer"))
            assert created.json["id"] in [t["id"] for t in listed.json["data"]]
    finally:
        stop.set()
        thread.join(timeout=10)
        worker.close()


def test_projection_worker_survives_a_transient_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One failed batch (a dropped connection, say) must not end `sav worker projections`."""
    services = bootstrap(settings)
    failures = {"left": 1}
    real_run_once = Projector.run_once

    def flaky(self: Projector) -> int:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("connection dropped")
        return real_run_once(self)

    monkeypatch.setattr(Projector, "run_once", flaky)
    stop = threading.Event()
    worker = threading.Thread(target=projection_worker.run,
                              args=(services.app, services.engine, 1.0, stop))
    worker.start()
    try:
        make_history(services, tickets=1)
        target = services.app.recorder.max_notification_id() or 0
        for _ in range(500):
            with services.engine.connect() as conn:
                if tracked_position(conn, READ_MODEL) >= target:
                    break
            threading.Event().wait(0.02)
        assert worker.is_alive() and failures["left"] == 0
        with services.engine.connect() as conn:
            assert tracked_position(conn, READ_MODEL) == target
    finally:
        stop.set()
        worker.join(timeout=10)
        services.close()
