"""MariaDB Galera: recognising a node, its state, and a lock that holds cluster-wide.

On a Galera cluster `GET_LOCK` and `SELECT ... FOR UPDATE` lock on the node that takes
them only; what decides between nodes is certification: of two transactions that wrote
the same row, the one ordered second fails its commit (1213). So a cluster-wide lock is
a row written in a transaction of its own (`ClusterLock`): whoever commits the write
holds it, the other sees a held row or a failed commit and waits. Schema changes take
it (through `sav.eventstore.db.schema_lock`) as well as the node-local lock.

DDL replicates in total order (TOI): once a node's lock commit is through, every
write-set ordered before it, the previous holder's DDL included, is applied there.
See docs/decisions/0150-galera.md.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, TextClause, text
from sqlalchemy import exc as sa_exc

from sav.eventstore.errors import DEADLOCK, error_code

log = logging.getLogger("sav.galera")

SYNCED = 4  # wsrep_local_state: 1 Joining, 2 Donor/Desynced, 3 Joined, 4 Synced
LOCK_TABLE = "sav_cluster_locks"
# The holder renews its row every TTL/3; a holder that died frees it after the TTL.
LOCK_TTL_S = 30.0
LOCK_WAIT_S = 300.0
LOCK_POLL_S = 0.2
FREE_ATTEMPTS = 10

_CREATE = text(
    f"CREATE TABLE IF NOT EXISTS {LOCK_TABLE} (name VARCHAR(64) NOT NULL PRIMARY KEY, "
    "owner VARCHAR(128) NOT NULL, expires_at DOUBLE NOT NULL) ENGINE=InnoDB")
# Taking is one conditional write, judged on the row as this node has it; if another
# node's take of the same row is ordered first, certification fails this commit (1213).
# (A read, then a write in another transaction, would overwrite a take that arrived in
# between: that is how two `sav db upgrade` both got in.)
_TAKE_FREE = text(f"UPDATE {LOCK_TABLE} SET owner = :owner, expires_at = :until "
                  "WHERE name = :name AND (expires_at < :now OR owner = :owner)")
_EXISTS = text(f"SELECT 1 FROM {LOCK_TABLE} WHERE name = :name")
_INSERT = text(f"INSERT INTO {LOCK_TABLE} (name, owner, expires_at) "
               "VALUES (:name, :owner, :until)")
_RENEW = text(f"UPDATE {LOCK_TABLE} SET expires_at = :until WHERE name = :name "
              "AND owner = :owner")
_FREE = text(f"DELETE FROM {LOCK_TABLE} WHERE name = :name AND owner = :owner")


class ClusterLockTimeoutError(RuntimeError):
    """Another process held the lock for longer than the wait allows."""


def is_galera(conn: Connection) -> bool:
    """Whether this connection's server replicates with Galera (wsrep on)."""
    if conn.dialect.name != "mysql":
        return False
    row = conn.exec_driver_sql("SHOW VARIABLES LIKE 'wsrep_on'").first()
    return row is not None and str(row[1]).upper() == "ON"


def node_state(conn: Connection) -> int | None:
    """`wsrep_local_state` of the node (4: Synced), or None when it is no Galera node."""
    row = conn.exec_driver_sql("SHOW GLOBAL STATUS LIKE 'wsrep_local_state'").first()
    return None if row is None or row[1] in (None, "") else int(row[1])


def sync_wait_option(level: int) -> dict[str, str]:
    """The connect argument that gives every session `wsrep_sync_wait = level` (reads
    wait until the node has applied what the cluster committed before them)."""
    return {"init_command": f"SET SESSION wsrep_sync_wait = {int(level)}"} if level else {}


class ClusterLock:
    """A named lock row, taken by a committed conditional write (see the module
    docstring)."""

    def __init__(self, engine: Engine, name: str, ttl: float = LOCK_TTL_S) -> None:
        self.engine = engine
        self.name = name
        self.ttl = ttl
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def _write(self, statement: TextClause, until: float = 0.0) -> int:
        with self.engine.connect() as conn, conn.begin():
            result = conn.execute(statement, {"name": self.name, "owner": self.owner,
                                              "until": until})
            return int(result.rowcount)

    def _try_take(self) -> bool:
        now = time.time()
        values = {"name": self.name, "owner": self.owner, "now": now, "until": now + self.ttl}
        try:
            with self.engine.connect() as conn, conn.begin():  # the commit decides
                if conn.execute(_TAKE_FREE, values).rowcount == 1:
                    return True
                if conn.execute(_EXISTS, values).first() is not None:
                    return False  # held by a live owner
                conn.execute(_INSERT, values)
                return True
        except (sa_exc.OperationalError, sa_exc.IntegrityError) as error:
            # 1213: another node's take was certified first; 1062: it was applied here
            # before ours. Either way, someone else holds it now.
            log.info("cluster lock %s: another node took it first (%s)", self.name, error.orig)
            return False

    @contextmanager
    def held(self, wait: float = LOCK_WAIT_S) -> Iterator[None]:
        with self.engine.connect() as conn:
            conn.execute(_CREATE)
            conn.commit()
        deadline = time.monotonic() + wait
        while not self._try_take():
            if time.monotonic() > deadline:
                raise ClusterLockTimeoutError(
                    f"cluster lock {self.name!r} still held by another process after "
                    f"{wait:.0f} s (rows of {LOCK_TABLE} expire {self.ttl:.0f} s after "
                    "their holder stops renewing them)")
            time.sleep(LOCK_POLL_S)
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(stop,), daemon=True,
                                   name=f"sav-cluster-lock-{self.name}")
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            self._free()

    def _free(self) -> None:
        """Delete the row; a commit that lost a certification conflict (another node's
        take attempt touched the row) is tried again, else the lock waits out its TTL."""
        for attempt in range(FREE_ATTEMPTS):
            try:
                self._write(_FREE)
                return
            except sa_exc.OperationalError as error:
                if error_code(error) != DEADLOCK or attempt == FREE_ATTEMPTS - 1:
                    break
                time.sleep(LOCK_POLL_S / 4)
            except sa_exc.SQLAlchemyError:
                break
        log.warning("could not free cluster lock %s (it expires in %.0f s)", self.name,
                    self.ttl, exc_info=True)

    def _renew(self, stop: threading.Event) -> None:
        while not stop.wait(self.ttl / 3):
            try:
                self._write(_RENEW, time.time() + self.ttl)
            except sa_exc.SQLAlchemyError:
                log.warning("could not renew cluster lock %s", self.name, exc_info=True)


_galera_engines: WeakKeyDictionary[Engine, bool] = WeakKeyDictionary()
_held = threading.local()  # the names this thread holds: a nested take is a no-op


def engine_is_galera(engine: Engine, conn: Connection) -> bool:
    """`is_galera`, asked once per engine."""
    if engine not in _galera_engines:
        _galera_engines[engine] = is_galera(conn)
    return _galera_engines[engine]


@contextmanager
def cluster_lock(engine: Engine, conn: Connection, name: str) -> Iterator[None]:
    """`ClusterLock(name)` when `conn`'s server is a Galera node; nothing otherwise."""
    names: set[str] = _held.__dict__.setdefault("names", set())
    if name in names or not engine_is_galera(engine, conn):
        yield
        return
    with ClusterLock(engine, name).held():
        names.add(name)
        try:
            yield
        finally:
            names.discard(name)
