"""`sav replay` rebuilds beside the live tables and switches atomically, on both profiles:
clients polling meanwhile never see an error, an empty list or a missing ticket; events
appended meanwhile are in the result; `--check` finds what drifted; one replay at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, text, update

from sav.api.tables import idempotency_keys
from sav.bootstrap import Services, bootstrap
from sav.cli.main import EXIT_TRY_AGAIN, cmd_replay
from sav.commands import tickets as commands
from sav.config import Settings
from sav.eventstore.db import write_transaction
from sav.eventstore.tracking import read_position
from sav.projections.agents import support_agents
from sav.projections.messages import ticket_messages
from sav.projections.metrics import aggregate_hours, ticket_metrics_hourly
from sav.projections.position import READ_MODEL
from sav.projections.runner import Projector
from sav.projections.tickets import support_tickets
from sav.workers import projections as projection_worker
from sav.workers.lease import leases
from sav.workers.scheduler import scheduler_metadata, scheduler_runs
from tests.integration.test_projections import CUSTOMER, make_history, snapshot, wait_projected
from tests.support.http import ADMIN, Client, create_ticket


def run_cli(settings: Settings, *, check: bool) -> int:
    return cmd_replay(settings, argparse.Namespace(check=check))


async def test_clients_polling_during_a_rebuild_see_no_error_and_no_gap(
    services: Services, client: Client,
) -> None:
    known = {str(ticket_id) for ticket_id in make_history(services, tickets=10)}
    wait_projected(services)
    switching, polled, rebuilt = threading.Event(), threading.Event(), threading.Event()
    problems: list[str] = []
    polls = {"before switching": 0, "switching": 0, "after": 0}

    def hold_the_switch_for_polls(phase: str) -> None:
        if phase == "switching":  # let the clients poll right up to the switch
            switching.set()
            polled.wait(timeout=30)

    def rebuild() -> int:
        try:
            return projection_worker.replay(services.app, services.engine,
                                            phase=hold_the_switch_for_polls)
        finally:
            rebuilt.set()

    async def poll(round_: int) -> None:
        listed = await client.get("/tickets?limit=100", as_=ADMIN)
        ids = {t["id"] for t in listed.json["data"]} if listed.status == 200 else set()
        if listed.status != 200 or not ids:
            problems.append(f"list: {listed}")
        elif known - ids:
            problems.append(f"list lacks {sorted(known - ids)}")
        ticket_id = sorted(known)[round_ % len(known)]
        detail = await client.get(f"/tickets/{ticket_id}", as_=ADMIN)
        if detail.status != 200:
            problems.append(f"detail of {ticket_id}: {detail}")
        expected = len(known)
        stats = await client.get("/tickets/statistics", as_=ADMIN)
        if stats.status != 200 or stats.json["total"] < expected:
            problems.append(f"statistics: {stats}")

    replaying = asyncio.get_running_loop().run_in_executor(None, rebuild)
    round_ = 0
    while polls["after"] < 5:
        moment = "after" if rebuilt.is_set() else (
            "switching" if switching.is_set() else "before switching")
        polls[moment] += 1
        if polls["switching"] >= 5:
            polled.set()
        await poll(round_)
        if round_ % 10 == 0:  # appends during the rebuild, read back at once
            known.add((await create_ticket(client, subject=f"during {round_}"))["id"])
        round_ += 1
    position = await replaying
    assert problems == []
    assert polls["switching"] >= 5 and position > 0 and len(known) > 10
    wait_projected(services)
    assert projection_worker.check(services.app, services.engine).differences == []


async def test_events_appended_during_the_rebuild_are_in_the_result(
    services: Services,
) -> None:
    make_history(services, tickets=3)
    wait_projected(services)
    appended = []

    def append_meanwhile(phase: str) -> None:
        if phase in ("indexing", "catching up", "switching"):
            appended.append(commands.create_ticket(services.app, CUSTOMER, commands.CreateTicket(
                subject=f"while {phase}", description="d")).ticket_id)

    projection_worker.replay(services.app, services.engine, phase=append_meanwhile)
    wait_projected(services)
    with services.engine.connect() as conn:
        subjects = set(conn.execute(select(support_tickets.c.subject)).scalars())
    assert {"while indexing", "while catching up", "while switching"} <= subjects
    assert len(appended) == 3
    assert projection_worker.check(services.app, services.engine).differences == []


def test_a_read_model_nobody_projects_is_rebuilt_up_to_the_head(settings: Settings) -> None:
    """No projector runs: the position moves with the switched tables, which hold
    exactly what projecting live gives."""
    services = bootstrap(settings)
    try:
        make_history(services, tickets=4)
        head = services.app.recorder.max_notification_id()
        assert read_position(services.engine, READ_MODEL) == 0
        assert projection_worker.replay(services.app, services.engine) == head
        assert read_position(services.engine, READ_MODEL) == head
        rebuilt = snapshot(services.engine)
        Projector(services.app.recorder, services.app.mapper, services.engine).run_once()
        assert snapshot(services.engine) == rebuilt, "nothing left to project"
        projection_worker.replay(services.app, services.engine)
        assert snapshot(services.engine) == rebuilt
    finally:
        services.close()


def test_a_live_projector_overtaken_by_the_switch_is_told(settings: Settings) -> None:
    """The position jumped with the switched tables: a projector behind it (and the
    API's rendered views it keeps) learns that rows changed without it."""
    services = bootstrap(settings)
    try:
        make_history(services, tickets=1)
        live = Projector(services.app.recorder, services.app.mapper, services.engine)
        live.run_once()
        commands.create_ticket(services.app, CUSTOMER, commands.CreateTicket(
            subject="after", description="d"))
        heard: list[int] = []
        live.on_overtaken(heard.append)
        head = projection_worker.replay(services.app, services.engine)
        assert live.run_once() == 0 and heard == [head] and live.position == head
    finally:
        services.close()


async def test_check_reports_a_tampered_row_and_replay_repairs_it(
    services: Services, settings: Settings, capsys: pytest.CaptureFixture[str],
) -> None:
    ids = make_history(services, tickets=3)
    wait_projected(services)
    assert run_cli(settings, check=True) == 0
    assert "0 difference(s)" in capsys.readouterr().out
    with write_transaction(services.engine) as conn:  # behind the projector's back
        conn.execute(update(support_tickets).where(support_tickets.c.id == str(ids[1]))
                     .values(subject="tampered"))
        conn.execute(ticket_messages.delete().where(
            ticket_messages.c.seq == select(func.min(ticket_messages.c.seq)).scalar_subquery()))
    assert run_cli(settings, check=True) == 1
    out = capsys.readouterr().out
    assert f"support_tickets [id={ids[1]}]: subject: live 'tampered', rebuilt 'Ticket 1'" in out
    assert "ticket_messages [id=" in out and "missing from the live table" in out
    assert "2 difference(s)" in out
    assert run_cli(settings, check=False) == 0
    assert run_cli(settings, check=True) == 0


async def test_a_second_replay_is_refused_while_one_runs(
    services: Services, settings: Settings, capsys: pytest.CaptureFixture[str],
) -> None:
    await asyncio.to_thread(make_history, services, 1)
    with projection_worker.replay_lock(services.engine):
        with pytest.raises(projection_worker.ReplayRunningError, match="another `sav replay`"):
            projection_worker.replay(services.app, services.engine)
        assert run_cli(settings, check=True) == EXIT_TRY_AGAIN
        assert "another `sav replay` is running" in capsys.readouterr().err
    assert run_cli(settings, check=False) == 0  # the lock is free again


async def test_replay_gives_the_live_tables_this_versions_definitions(
    services: Services,
) -> None:
    """As when read tables were dropped and rebuilt in place: a replay deploys a
    changed read-model schema."""
    make_history(services, tickets=1)
    wait_projected(services)
    with write_transaction(services.engine) as conn:
        conn.execute(text("ALTER TABLE support_agents ADD COLUMN legacy INTEGER"))
    projection_worker.replay(services.app, services.engine)
    columns = {c["name"] for c in inspect(services.engine).get_columns("support_agents")}
    assert columns == {c.name for c in support_agents.columns}
    assert snapshot(services.engine)["support_agents"], "and its rows are back"


async def test_replay_keeps_what_is_not_a_projection(services: Services) -> None:
    """Leases, idempotency keys, scheduler runs and the hourly rollup (recomputed by
    the scheduler from the tickets) survive a rebuild untouched."""
    make_history(services, tickets=2)
    wait_projected(services)
    now = datetime.now(UTC).replace(tzinfo=None)
    aggregate_hours(services.engine, now, None)
    scheduler_metadata.create_all(services.engine)
    with write_transaction(services.engine) as conn:
        conn.execute(scheduler_runs.insert().values(
            job="metrics", last_run_at=now, finished_at=now, runs=3, owner="me",
            last_result="{}"))
        conn.execute(idempotency_keys.insert().values(
            scope="cust-1", key="k", status=201, request_hash="h", body="{}", created_at=now))
    kept = kept_rows(services)
    assert kept["ticket_metrics_hourly"] and kept["worker_leases"]
    projection_worker.replay(services.app, services.engine)
    assert kept_rows(services) == kept


def kept_rows(services: Services) -> dict[str, Any]:
    with services.engine.connect() as conn:
        return {table.name: sorted(map(tuple, conn.execute(select(table)).all()), key=repr)
                for table in (ticket_metrics_hourly, scheduler_runs, idempotency_keys)} | {
            "worker_leases": sorted(conn.execute(select(leases.c.name)).scalars())}
