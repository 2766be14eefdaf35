"""Database leases: among several worker processes, one is active per job.

A lease is a row (name, owner, expires_at). The holder renews it well before it
expires; when the holder dies, another process takes it over after `ttl` seconds.
Taking or renewing always writes the row, in the transaction that read it: on a Galera
cluster, where the row lock is the local node's only, the commit's certification
decides between processes on different nodes.

The leases a process holds on one database (with one ttl) are renewed together: one
UPDATE of every held row, every ttl/3, whichever of their loops comes first; the
others find theirs fresh and renew on the same beat (issue 21: an idle process's
queries were mostly six leases renewed apart). A standby likewise reads the whole
table once per ttl/3 and tries to take only a lease that looked free or expired.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, and_, or_, select
from sqlalchemy import exc as sa_exc

from sav.eventstore.db import is_sqlite, write_transaction
from sav.eventstore.errors import DEADLOCK, error_code
from sav.eventstore.schema import leases

log = logging.getLogger("sav.workers")



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
        # When this process last wrote the row's expiry (its `held.clock`), while held.
        self.renewed: float | None = None

    def acquire(self) -> bool:
        """Take or renew the lease; False while another live owner holds it. A lease
        renewed less than ttl/3 ago (with the others of this process) costs no query."""
        # Counted from before the round trip: the row's expiry is never earlier.
        started = self.held.clock()
        renewed = self.renewed
        if renewed is not None and (started - renewed < self.ttl / 3
                                    or _group(self).renew(self, started)):
            return True
        taken = _group(self).may_take(self, started) and self._acquire()
        if taken:
            self._renewed_at(started)
            _group(self).join(self)
        else:
            self._lost()
        return taken

    def standby_due(self) -> float:
        """When (`held.clock`) a standby next looks at this lease: on the beat of the
        process's one read of the lease table."""
        return _group(self).read_due(self)

    def renew_due(self) -> float:
        """When (`held.clock`) this lease is next to be renewed: ttl/3 after the last
        renewal, the same moment for every lease of its group."""
        return (self.renewed if self.renewed is not None else self.held.clock()) + self.ttl / 3

    def _renewed_at(self, started: float) -> None:
        self.renewed = started
        self.held.held(self.name, self.ttl - (self.held.clock() - started))

    def _lost(self) -> None:
        self.renewed = None
        _group(self).leave(self)
        self.held.lost(self.name)

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
        self._lost()
        # What this process read of the table no longer holds, for its leases of any ttl.
        with _groups_lock:
            groups = list(_groups.get(self.engine, {}).values())
        for group in groups:
            group.forget_rows()
        with write_transaction(self.engine) as conn:
            conn.execute(leases.delete().where(leases.c.name == self.name,
                                               leases.c.owner == self.owner))


def lease_wait(lease: Lease, leading: bool) -> float:
    """Seconds a lease loop waits before its next `acquire()`: until the renewal beat of
    this process's leases while it holds it, until its next read of the lease table
    (every ttl/3) while another process does."""
    due = lease.renew_due() if leading else lease.standby_due()
    return max(0.0, due - lease.held.clock())


class _Group:
    """The leases one process holds on one database with one ttl, renewed together."""

    def __init__(self) -> None:
        self.members: dict[int, Lease] = {}
        self.lock = threading.Lock()
        # The lease table as last read for the standbys (name -> owner, expiry), when.
        self.rows: dict[str, tuple[str, float]] | None = None
        self.read_at = 0.0

    def may_take(self, lease: Lease, started: float) -> bool:
        """Whether `lease` looked free or expired (or its own) at this beat's read of
        the lease table: one read for every standby lease of the process, each taking
        only a lease worth a try (the take itself decides, in its transaction)."""
        with self.lock:
            if self.rows is None or started - self.read_at >= lease.ttl / 3:
                with _reads(lease.engine) as conn:
                    self.rows = {row.name: (row.owner, row.expires_at) for row in
                                 conn.execute(select(leases.c.name, leases.c.owner,
                                                     leases.c.expires_at))}
                self.read_at = started
            row = self.rows.get(lease.name)
        return row is None or row[0] == lease.owner or row[1] <= time.time()

    def read_due(self, lease: Lease) -> float:
        with self.lock:
            if self.rows is None:
                return lease.held.clock()
            return self.read_at + lease.ttl / 3

    def forget_rows(self) -> None:
        with self.lock:
            self.rows = None

    def join(self, lease: Lease) -> None:
        with self.lock:
            self.members[id(lease)] = lease

    def leave(self, lease: Lease) -> None:
        with self.lock:
            self.members.pop(id(lease), None)

    def renew(self, lease: Lease, started: float) -> bool:
        """Renew every member in one statement; whether `lease` was among the renewed
        (False: another process took it, or the write failed certification)."""
        with self.lock:
            if lease.renewed is not None and started - lease.renewed < lease.ttl / 3:
                return True  # renewed by another member while this one waited
            members = [m for m in self.members.values() if m.renewed is not None]
            if lease not in members:
                return False
            clocks = {id(m): m.held.clock() for m in members}
            kept = _renew(lease.engine, members, lease.ttl)
            for member in members:
                if (member.name, member.owner) in kept:
                    member._renewed_at(clocks[id(member)])
                else:
                    member.renewed = None
                    self.members.pop(id(member), None)
                    member.held.lost(member.name)
            return (lease.name, lease.owner) in kept


def _renew(engine: Engine, members: list[Lease], ttl: float) -> set[tuple[str, str]]:
    """Move the expiry of each (name, owner) row still owned; which ones were."""
    wanted = {(m.name, m.owner) for m in members}
    rows = or_(*(and_(leases.c.name == name, leases.c.owner == owner)
                 for name, owner in wanted))
    try:
        with _renewal(engine) as conn:
            moved = conn.execute(leases.update().where(rows).values(
                expires_at=time.time() + ttl)).rowcount
            if moved == len(wanted):
                return wanted
            # Some were taken over (they had expired): those rows name another owner.
            return {(row.name, row.owner) for row in conn.execute(
                select(leases.c.name, leases.c.owner).where(rows))}
    except sa_exc.OperationalError as error:
        # Galera: another node wrote one of the rows first; each is taken again alone.
        if error_code(error) == DEADLOCK:
            return set()
        raise


# A write engine -> an autocommit engine of the same database (the store's reader on
# MySQL): a renewal there is one statement, not an UPDATE and a COMMIT.
_autocommit: WeakKeyDictionary[Engine, Engine] = WeakKeyDictionary()


def renew_through(engine: Engine, autocommit: Engine) -> None:
    """Renew the leases held on `engine` by single autocommitted statements through
    `autocommit` (an engine of the same database in autocommit mode)."""
    if autocommit is not engine:
        _autocommit[engine] = autocommit


@contextmanager
def _renewal(engine: Engine) -> Iterator[Connection]:
    autocommit = _autocommit.get(engine)
    if autocommit is None:
        with write_transaction(engine) as conn:
            yield conn
    else:
        with autocommit.connect() as conn:
            yield conn


def _reads(engine: Engine) -> Connection:
    return _autocommit.get(engine, engine).connect()


_groups: WeakKeyDictionary[Engine, dict[float, _Group]] = WeakKeyDictionary()
_groups_lock = threading.Lock()


def _group(lease: Lease) -> _Group:
    with _groups_lock:
        return _groups.setdefault(lease.engine, {}).setdefault(lease.ttl, _Group())


def run_while_leader(engine: Engine, name: str, ttl: float, stop: threading.Event,
                     step: Callable[[], object], idle: float = 0.05,
                     wake: threading.Event | None = None,
                     on_change: Callable[[bool], None] | None = None,
                     settle: float = 0.0) -> None:
    """Call `step()` every `idle` seconds (`settle` seconds after `wake` is set: the
    appends of a burst handled by one step) while this process
    holds lease `name`, renewing it every ttl/3 (with the process's other leases); stand
    by while another live process holds it. `on_change(leading)` hears when this process
    gains or loses the lease. A failing step is logged and retried: a transient database
    error must not end the worker (the process would look alive with a frozen job)."""
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
                    stop.wait(lease_wait(lease, False))
                    continue
                lead(True)
                renew_at = lease.renew_due()  # on the beat of this process's other leases
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
            # Not later than `settle` after the first wake: more wakes meanwhile join it.
            next_step = min(next_step, time.monotonic() + settle)
    lead(False)
    try:
        lease.release()
    except Exception:
        log.warning("could not release lease %s", name, exc_info=True)
