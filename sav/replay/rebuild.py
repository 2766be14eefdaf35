"""Rebuilding the read model from the event log while the live one keeps serving.

The read models' folds are the only definition of each table: a rebuild runs them
into shadow tables (shadow.py). In bulk first — thousands of events per transaction
folded in memory, each row written once with its final values (bulk.py), into a private
SQLite file with no journal, secondary indexes and full-text after the load, the
statistics computed set-based at its end (what their handlers would sum) — then
through the same `Projector`, event batch by batch, to catch up with the head, then
the switch: projectors held off, the shadow brought to exactly the live position,
tables swapped atomically. The tracking position therefore still matches the tables,
and the live projector carries on from it: the read model stays exactly-once.

`check` builds the same shadow, up to the live position, and compares the two at one
moment instead of switching (compare.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from eventsourcing.persistence import ApplicationRecorder, Mapper
from sqlalchemy import Connection, Engine

from sav.eventstore.db import is_sqlite, write_transaction
from sav.eventstore.tracking import read_position, tracked_position
from sav.projections import registry, ticket_stats
from sav.projections.position import READ_MODEL
from sav.projections.runner import Projector
from sav.replay.bulk import fold_in_bulk
from sav.replay.compare import Difference, compare
from sav.replay.shadow import RebuildError, Shadow, open_shadow

log = logging.getLogger("sav.replay.rebuild")

BULK_BATCH = 10_000  # events per transaction into the staging file
CATCH_UP_BATCH = 1_000
LIVE_WAIT_S = 10.0  # for a running projector to reach the shadow before the switch
CHECK_ATTEMPTS = 20

# The bulk load leaves the statistics out and computes them once at the end, from the
# loaded tickets, in a few set-based statements: the same rows as live projection (cells
# emptied by moves aside, which count for nothing, see ticket_stats.py). The catch-up
# after it runs every handler.
BULK_MODELS = [m for m in registry.READ_MODELS if m is not ticket_stats]

Progress = Callable[[int], object]  # events applied since the last call
Phase = Callable[[str], object]  # what the rebuild is doing now


@dataclass(frozen=True)
class Comparison:
    position: int
    differences: list[Difference] = field(default_factory=list)


def rebuild(recorder: ApplicationRecorder, mapper: Mapper, live: Engine,
            progress: Progress | None = None, phase: Phase | None = None,
            projected: Callable[[], bool] = lambda: False) -> int:
    """Rebuild every read table and switch it in; returns the position it starts from.
    `projected()` tells whether a projector is running on the live tables."""
    shadow = open_shadow(live)
    try:
        catch_up = build(shadow, recorder, mapper, None, progress, phase)
        _say(phase, "catching up")
        catch_up.run_once()
        wait_for_live(live, catch_up.position, projected)
        _say(phase, "switching")
        with shadow.switching() as switch:
            catch_up.run_once(stop=switch.live_position)
            switch.swap(catch_up.position)
        log.info("read model rebuilt and switched in at position %s", catch_up.position)
        return catch_up.position
    finally:
        shadow.drop()


def check(recorder: ApplicationRecorder, mapper: Mapper, live: Engine,
          progress: Progress | None = None, phase: Phase | None = None) -> Comparison:
    """Rebuild into the shadow up to the live position and compare, without switching."""
    shadow = open_shadow(live)
    try:
        catch_up = build(shadow, recorder, mapper, read_position(live, READ_MODEL),
                         progress, phase)
        _say(phase, "comparing")
        for _ in range(CHECK_ATTEMPTS):
            catch_up.run_once(stop=read_position(live, READ_MODEL))
            with live_snapshot(live) as conn, shadow.engine.connect() as rebuilt:
                if tracked_position(conn, READ_MODEL) == catch_up.position:
                    return Comparison(catch_up.position, compare(conn, rebuilt))
        raise RebuildError("the live read model kept moving: found no moment to compare it")
    finally:
        shadow.drop()


def build(shadow: Shadow, recorder: ApplicationRecorder, mapper: Mapper, stop: int | None,
          progress: Progress | None, phase: Phase | None) -> Projector:
    """Bulk-load the shadow up to `stop` (None: the head); returns the projector that
    catches it up from there, event batch by event batch."""
    def project(engine: Engine) -> None:
        reached = [read_position(engine, READ_MODEL)]

        def advanced(position: int) -> None:
            if progress is not None:
                progress(position - reached[0])
            reached[0] = position

        # Full-text rows: from the loaded tickets, by the shadow (one statement).
        fold_in_bulk(recorder, mapper, engine, BULK_MODELS, stop, BULK_BATCH, advanced,
                     full_text=False)
        _say(phase, "statistics")
        with write_transaction(engine) as conn:
            ticket_stats.rebuild(conn)  # set-based, from the loaded tickets
        _say(phase, "indexing")

    _say(phase, "projecting")
    shadow.bulk_load(project)
    catch_up = Projector(recorder, mapper, shadow.engine, batch_size=CATCH_UP_BATCH)
    _report(catch_up, progress)
    return catch_up


def wait_for_live(live: Engine, position: int, projected: Callable[[], bool]) -> None:
    """Give a running projector a moment to reach the shadow's position (it is usually
    a batch away), so the switch keeps the live position. Otherwise the position moves
    with the switched tables; a live projector hears of it (`Projector.on_overtaken`)."""
    deadline = time.monotonic() + LIVE_WAIT_S
    while (read_position(live, READ_MODEL) < position and projected()
           and time.monotonic() < deadline):
        time.sleep(0.05)


@contextmanager
def live_snapshot(engine: Engine) -> Iterator[Connection]:
    """One consistent read of every live table (MySQL: REPEATABLE READ; SQLite: a read
    transaction over WAL), whatever the projector commits meanwhile."""
    with engine.connect() as conn:
        if not is_sqlite(engine):
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def _report(projector: Projector, progress: Progress | None) -> None:
    if progress is None:
        return
    last = [projector.position]

    def advanced(position: int) -> None:
        progress(position - last[0])
        last[0] = position

    projector.on_advance(advanced)


def _say(phase: Phase | None, name: str) -> None:
    log.info("rebuild: %s", name)
    if phase is not None:
        phase(name)
