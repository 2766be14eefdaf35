"""`sav worker projections` and `sav replay`."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Engine

from sav.commands.app import SavApplication
from sav.projections.runner import Projector, create_read_schema, drop_read_schema
from sav.workers.lease import run_while_leader

PROJECTOR_LEASE = "projector:read_model"


def run(app: SavApplication, engine: Engine, lease_ttl: float, stop: threading.Event) -> None:
    """Tail the event store into the read model. Several copies may run: the lease
    keeps one active (compare-and-set tracking would keep them correct regardless)."""
    projector = Projector(app.recorder, app.mapper, engine)
    run_while_leader(engine, PROJECTOR_LEASE, lease_ttl, stop, projector.run_once)


def replay(app: SavApplication, engine: Engine,
           progress: Callable[[int], object] | None = None) -> int:
    """Drop and rebuild every read table from position 0; returns events applied."""
    drop_read_schema(engine)
    create_read_schema(engine)
    projector = Projector(app.recorder, app.mapper, engine)
    if progress is not None:
        last = [0]

        def report(position: int) -> None:
            progress(position - last[0])
            last[0] = position

        projector.on_advance(report)
    return projector.run_once()
