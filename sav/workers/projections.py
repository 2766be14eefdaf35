"""`sav worker projections` and `sav replay`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from sav.commands.app import SavApplication
from sav.projections.runner import Projector
from sav.replay import rebuild
from sav.replay.rebuild import Phase, Progress
from sav.workers.head import TAILER_IDLE_S, watch_store
from sav.workers.lease import Lease, run_while_leader

log = logging.getLogger("sav.workers")

PROJECTOR_LEASE = "projector:read_model"
REPLAY_LEASE = "replay"
REPLAY_LEASE_TTL = 30.0


def run(app: SavApplication, engine: Engine, lease_ttl: float, stop: threading.Event) -> None:
    """Tail the event store into the read model. Several copies may run: the lease
    keeps one active (compare-and-set tracking would keep them correct regardless)."""
    projector = Projector(app.recorder, app.mapper, engine)
    app.on_append(projector.wake)
    watch_store(app, stop, projector.wake)
    run_while_leader(engine, PROJECTOR_LEASE, lease_ttl, stop, projector.run_once,
                     idle=TAILER_IDLE_S, wake=projector.wakeup)


def replay(app: SavApplication, engine: Engine, progress: Progress | None = None,
           phase: Phase | None = None) -> int:
    """Rebuild every read table from position 0 into shadow tables and switch them in,
    while the live ones keep serving; returns the position the new tables start from."""
    projector = Lease(engine, PROJECTOR_LEASE)
    with replay_lock(engine):
        return rebuild.rebuild(app.recorder, app.mapper, engine, progress, phase,
                               projected=lambda: projector.holder() is not None)


def check(app: SavApplication, engine: Engine, progress: Progress | None = None,
          phase: Phase | None = None) -> rebuild.Comparison:
    """Rebuild into the shadow and compare it with the live tables, switching nothing."""
    with replay_lock(engine):
        return rebuild.check(app.recorder, app.mapper, engine, progress, phase)


class ReplayRunningError(Exception):
    """Another `sav replay` holds the lock (both would build the same shadow)."""


@contextmanager
def replay_lock(engine: Engine, ttl: float = REPLAY_LEASE_TTL) -> Iterator[None]:
    """Hold the `replay` lease for the whole rebuild, renewed every ttl/3: a replay
    that dies lets the next one start after `ttl` seconds."""
    lease = Lease(engine, REPLAY_LEASE, ttl=ttl)
    if not lease.acquire():
        raise ReplayRunningError(
            f"another `sav replay` is running (held by {lease.holder()}); "
            "try again once it has finished")
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl / 3):
            try:
                if not lease.acquire():
                    log.error("lost the replay lock to %s", lease.holder())
            except Exception:
                log.warning("could not renew the replay lock", exc_info=True)

    renewer = threading.Thread(target=renew, name="sav-replay-lock", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        lease.release()
