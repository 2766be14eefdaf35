"""Projection in the command's transaction (issue 21) on both profiles: the rows and the
tracking position are those the asynchronous projector makes, each event is applied
once, also when the projector is behind or another process projects at the same time."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import text

from sav.api.app import started_services
from sav.bootstrap import Services, bootstrap
from sav.commands import tickets as commands
from sav.config import Settings
from sav.eventstore.recorder import SqlApplicationRecorder
from sav.eventstore.tracking import read_position
from sav.projections.position import READ_MODEL
from sav.projections.runner import InlineProjection, Projector
from sav.workers import projections as projection_worker
from tests.integration.test_projections import AGENT, CUSTOMER, make_history, snapshot
from tests.support.settings import drop_mysql_database, make_settings


def inline_on(services: Services) -> InlineProjection:
    inline = InlineProjection(services.app.mapper)
    recorder = services.app.recorder
    assert isinstance(recorder, SqlApplicationRecorder)
    recorder.project_inline(inline)
    return inline


def head(services: Services) -> int:
    return services.app.recorder.max_notification_id() or 0


def replayed(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """The tables the asynchronous projector makes from position 0 (`sav replay`)."""
    assert projection_worker.replay(services.app, services.engine) == head(services)
    return snapshot(services.engine)


def test_every_command_projects_its_own_events(settings: Settings) -> None:
    """No projector runs: the read model and its position keep up with every command
    alone, and equal what the projector makes of the same events."""
    services = bootstrap(settings)
    try:
        inline = inline_on(services)
        heard: list[tuple[int, int]] = []
        inline.on_projected(lambda first, last, _streams: heard.append((first, last)))
        make_history(services, tickets=4)
        assert read_position(services.engine, READ_MODEL) == head(services)
        assert heard[0][0] == 1 and heard[-1][1] == head(services)
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(heard))
        projector = Projector(services.app.recorder, services.app.mapper, services.engine)
        assert projector.run_once() == 0  # nothing left to the projector
        inline_rows = snapshot(services.engine)
        assert inline_rows["support_tickets"]
        assert replayed(services) == inline_rows
    finally:
        services.close()


def test_a_projector_behind_gets_the_events_in_order(settings: Settings) -> None:
    """While the row is behind an append, the append leaves its events to the projector
    (the row never jumps over a position); once it caught up, commands project again."""
    services = bootstrap(settings)
    try:
        make_history(services, tickets=2)  # inline off: nothing projected
        inline_on(services)
        before = head(services)
        commands.create_ticket(services.app, CUSTOMER, commands.CreateTicket(
            subject="Behind", description="the projector"))
        assert read_position(services.engine, READ_MODEL) == 0
        projector = Projector(services.app.recorder, services.app.mapper, services.engine)
        assert projector.run_once() == head(services) > before
        make_history(services, tickets=2)
        assert read_position(services.engine, READ_MODEL) == head(services)
        assert projector.run_once() == 0
        assert replayed(services) == snapshot(services.engine)
    finally:
        services.close()


def test_a_failing_handler_leaves_the_event_to_the_projector(settings: Settings) -> None:
    """A read-model error never fails the command: its savepoint is rolled back (rows
    and position), and the projector applies the event."""
    services = bootstrap(settings)
    try:
        inline_on(services)
        make_history(services, tickets=1)
        with services.engine.begin() as conn:
            conn.execute(text("DROP TABLE ticket_stats_totals"))
        # Tags are staff-only at creation (issue 19): an agent opens it for the customer.
        created = commands.create_ticket(services.app, AGENT, commands.CreateTicket(
            subject="Stored", description="anyway", tags=["x"], user_id=CUSTOMER.user_id))
        assert created.position == head(services)
        assert read_position(services.engine, READ_MODEL) == created.position - 1
    finally:
        services.close()


def _project_in_another_process(url_settings: Settings, until: int, done: Any) -> None:
    worker = bootstrap(url_settings)
    try:
        projector = Projector(worker.app.recorder, worker.app.mapper, worker.engine,
                              batch_size=3)
        while projector.position < until:
            projector.run_once()
            threading.Event().wait(0.005)
        done.put(projector.position)
    finally:
        worker.close()


def test_with_another_process_projecting_each_event_applies_once(settings: Settings) -> None:
    """Commands on four threads with inline projection, a second process tailing with
    its projector meanwhile (starting behind): same rows and position as a replay."""
    services = bootstrap(settings)
    try:
        make_history(services, tickets=2)  # the other process starts behind
        inline_on(services)
        start = head(services)
        creates_per_thread, threads = 6, 4
        # Each create appends one event (AUTO_ASSIGN is off).
        until = start + creates_per_thread * threads
        context = multiprocessing.get_context("spawn")
        done = context.Queue()
        other = context.Process(target=_project_in_another_process,
                                args=(settings, until, done))
        other.start()
        errors: list[BaseException] = []

        def create(n: int) -> None:
            try:
                for i in range(creates_per_thread):
                    commands.create_ticket(services.app, AGENT, commands.CreateTicket(
                        subject=f"T{n}-{i}", description="concurrent", tags=[f"t{i}"],
                        user_id=CUSTOMER.user_id))  # tags: staff-only at creation
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        workers = [threading.Thread(target=create, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        assert head(services) == until
        assert done.get(timeout=120) == until
        other.join(timeout=30)
        assert read_position(services.engine, READ_MODEL) == until
        together = snapshot(services.engine)
        assert replayed(services) == together
    finally:
        services.close()


def test_an_api_process_without_workers_still_projects_its_commands(
        profile: str, tmp_path: Path) -> None:
    """`SAV_INPROCESS_WORKERS=false` (the workers run in their own pods): the API
    process's commands still project themselves, so their answers need no projector."""
    settings = make_settings(profile, tmp_path, SAV_INPROCESS_WORKERS="false")
    services = started_services(settings)
    try:
        assert services.background.threads == []
        created = commands.create_ticket(services.app, CUSTOMER, commands.CreateTicket(
            subject="API pod", description="no workers here"))
        assert read_position(services.engine, READ_MODEL) == created.position
    finally:
        services.close()
        if settings.is_mysql:
            drop_mysql_database(settings.db_database)
