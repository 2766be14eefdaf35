"""`sav worker projections` and `sav replay`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sav.projections.runner import Projector, create_read_schema, drop_read_schema
from sav.runtime import Runtime
from sav.workers.lease import Lease

log = logging.getLogger("sav.projections")


def run(runtime: Runtime, stop: threading.Event) -> None:
    """Tail the event store into the read model. Several copies may run: the lease
    keeps one active (compare-and-set tracking would keep them correct regardless)."""
    lease = Lease(runtime.engine, "projector:read_model")
    projector = Projector(runtime.app.recorder, runtime.app.mapper, runtime.engine)
    renew_at = 0.0
    while not stop.is_set():
        try:
            if time.monotonic() >= renew_at:
                if not lease.acquire():
                    stop.wait(lease.ttl / 3)
                    continue
                renew_at = time.monotonic() + lease.ttl / 3
            projector.run_once()
        except Exception:
            # A transient database error must not end the worker (the process would
            # look alive with a frozen read model).
            log.exception("projection worker failed; retrying")
            renew_at = 0.0
            stop.wait(1.0)
            continue
        stop.wait(0.05)
    lease.release()


def replay(runtime: Runtime, progress: Callable[[int], object] | None = None) -> int:
    """Drop and rebuild every read table from position 0; returns events applied."""
    drop_read_schema(runtime.engine)
    create_read_schema(runtime.engine)
    projector = Projector(runtime.app.recorder, runtime.app.mapper, runtime.engine)
    if progress is not None:
        last = [0]

        def report(position: int) -> None:
            progress(position - last[0])
            last[0] = position

        projector.on_advance(report)
    return projector.run_once()
