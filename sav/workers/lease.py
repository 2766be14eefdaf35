"""Database leases: among several worker processes, one is active per job.

A lease is a row (name, owner, expires_at). The holder renews it well before it
expires; when the holder dies, another process takes it over after `ttl` seconds.
Taking or renewing always writes the row, in the transaction that read it: on a Galera
cluster, where the row lock is the local node's only, the commit's certification
decides between processes on different nodes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from sqlalchemy import Column, Double, Engine, Table, select
from sqlalchemy import exc as sa_exc

from sav.eventstore.db import is_sqlite, write_transaction
from sav.eventstore.errors import DEADLOCK, error_code
from sav.eventstore.schema import Identifier, metadata

log = logging.getLogger("sav.workers")

# expires_at is a Double: a MySQL FLOAT keeps ~7 digits, so an epoch would round by hours.
leases = Table("worker_leases", metadata,
               Column("name", Identifier(64), primary_key=True),
               Column("owner", Identifier(128), nullable=False),
               Column("expires_at", Double, nullable=False), mysql_engine="InnoDB")


class HeldLeases:
    """What this process holds now, for the worker's `/status`: each lease until the
    moment it would expire unless renewed (a holder cut off from the database stops
    claiming it at the same time the others may take it over)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def held(self, name: str, ttl: float) -> None:
        with self._lock:
            self._until[name] = self.clock() + ttl

    def hold(self, name: str) -> None:
        """A job held without a lease (the consumer: the broker shares its queue out)."""
        self.held(name, float("inf"))

    def lost(self, name: str) -> None:
        with self._lock:
            self._until.pop(name, None)

    def names(self) -> list[str]:
        now = self.clock()
        with self._lock:
            return sorted(name for name, until in self._until.items() if until > now)


# One per process: every `Lease` reports to it unless given another.
HELD = HeldLeases()


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    def __init__(self, engine: Engine, name: str, owner: str | None = None,
                 ttl: float = 10.0, held: HeldLeases = HELD) -> None:
        self.engine = engine
        self.name = name
        self.owner = owner or default_owner()
        self.ttl = ttl
        self.held = held

    def acquire(self) -> bool:
        """Take or renew the lease; False while another live owner holds it."""
        # Counted from before the round trip: the row's expiry is never earlier.
        started = self.held.clock()
        taken = self._acquire()
        if taken:
            self.held.held(self.name, self.ttl - (self.held.clock() - started))
        else:
            self.held.lost(self.name)
        return taken

    def _acquire(self) -> bool:
        now = time.time()
        try:
            with write_transaction(self.engine) as conn:
                query = select(leases.c.owner, leases.c.expires_at).where(
                    leases.c.name == self.name)
                if not is_sqlite(self.engine):
                    query = query.with_for_update()
                row = conn.execute(query).first()
                if row is None:
                    conn.execute(leases.insert().values(
                        name=self.name, owner=self.owner, expires_at=now + self.ttl))
                    return True
                if row.owner != self.owner and row.expires_at > now:
                    return False
                conn.execute(leases.update().where(leases.c.name == self.name).values(
                    owner=self.owner, expires_at=now + self.ttl))
                return True
        except sa_exc.IntegrityError:
            return False  # Another process inserted the row first.
        except sa_exc.OperationalError as error:
            # On a Galera cluster FOR UPDATE locks on this node only: a process on
            # another node that wrote the row first makes this commit fail its
            # certification (1213), and certification is what decides who holds it.
            if error_code(error) == DEADLOCK:
                return False
            raise

    def holder(self) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(leases.c.owner, leases.c.expires_at).where(
                leases.c.name == self.name)).first()
        return row.owner if row is not None and row.expires_at > time.time() else None

    def release(self) -> None:
        self.held.lost(self.name)
        with write_transaction(self.engine) as conn:
            conn.execute(leases.delete().where(leases.c.name == self.name,
                                               leases.c.owner == self.owner))


def run_while_leader(engine: Engine, name: str, ttl: float, stop: threading.Event,
                     step: Callable[[], object], idle: float = 0.05,
                     wake: threading.Event | None = None,
                     on_change: Callable[[bool], None] | None = None) -> None:
    """Call `step()` every `idle` seconds (at once when `wake` is set) while this process
    holds lease `name`, renewing it every ttl/3; stand by while another live process
    holds it. `on_change(leading)` hears when this process gains or loses the lease.
    A failing step is logged and retried: a transient database error must not end the
    worker (the process would look alive with a frozen job)."""
    lease = Lease(engine, name, ttl=ttl)
    leading = False
    renew_at = next_step = 0.0

    def lead(now: bool) -> None:
        nonlocal leading
        if now != leading:
            leading = now
            if on_change is not None:
                on_change(now)

    while not stop.is_set():
        try:
            if time.monotonic() >= renew_at:
                if not lease.acquire():
                    lead(False)
                    stop.wait(ttl / 3)
                    continue
                lead(True)
                renew_at = time.monotonic() + ttl / 3
            if time.monotonic() >= next_step:
                step()
                next_step = time.monotonic() + idle
        except Exception:
            log.exception("%s failed; retrying", name)
            renew_at = next_step = 0.0
            stop.wait(1.0)
            continue
        timeout = max(0.0, min(renew_at, next_step) - time.monotonic())
        if wake is None:
            stop.wait(timeout)
        elif wake.wait(timeout):
            wake.clear()
            next_step = 0.0
    lead(False)
    try:
        lease.release()
    except Exception:
        log.warning("could not release lease %s", name, exc_info=True)
