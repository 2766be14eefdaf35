"""Engines for the event store and read models, per dialect.

SQLite runs in WAL mode; write transactions start with BEGIN IMMEDIATE so two
writers never deadlock on a lock upgrade. MySQL/MariaDB runs InnoDB in READ
COMMITTED so a polling reader always sees the latest committed appends.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from pymysql.constants import CLIENT
from sqlalchemy import Connection, Engine, Executable, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from sav.eventstore import prepared
from sav.eventstore.schema import event_sequence, metadata

_IMMEDIATE = "sav_immediate"
MAX_PACKET = 64 * 1024 * 1024
# An unreachable MySQL host answers in seconds (PyMySQL waits 10 s, aiomysql 60).
CONNECT_TIMEOUT_SECONDS = 5
# A pooled MySQL connection idle for longer is pinged before it is used again.
IDLE_PING_SECONDS = 1.0
_IDLE_SINCE = "sav_idle_since"
# Up to this many rows go in one round trip of statements (`execute_together`); more
# (the projector's batches) go as one multi-row executemany per statement instead.
MAX_TOGETHER = 16
Work = Sequence[tuple[Executable, Sequence[dict[str, Any]]]]


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def build_engine(url: str, pool_size: int = 10, reads_only: bool = False) -> Engine:
    """A sync engine for `url`; creates the SQLite file's folder or the MySQL database.

    `reads_only` (MySQL): autocommit, so a connection never holds a transaction (nor
    the table metadata locks that would block DDL) and needs no ROLLBACK when it is
    closed — one round trip less per use. SQLite reads share the one engine."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=pool_size,
            hide_parameters=True,  # SQL errors are logged: parameters hold customer data
            max_overflow=pool_size,
        )
        _configure_sqlite(engine)
        return engine
    if not reads_only:
        _create_mysql_database(url)
    return ping_when_idle(create_engine(
        url,
        # Events up to (at least) 16 MiB: the client's default packet cap is exactly 16 MiB.
        # The server needs max_allowed_packet >= 64M as well (docker/ and .ci/run set it).
        connect_args={"max_allowed_packet": MAX_PACKET,
                      "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                      # Writers may send several statements in one query: a command's
                      # statistics rows go in one round trip (projections.batch). Every
                      # value is escaped by the driver; matched rows count as changed,
                      # as SQLAlchemy's own flags have it.
                      **({} if reads_only else {
                          "client_flag": CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS})},
        pool_size=pool_size,
        max_overflow=pool_size,
        hide_parameters=True,
        pool_recycle=3600,
        isolation_level="AUTOCOMMIT" if reads_only else "READ COMMITTED",
        # No reset when a connection goes back to the pool: a `Connection` that closes
        # with its transaction open rolls it back itself, and one that committed has
        # nothing to undo (the pool's ROLLBACK was a round trip after every COMMIT).
        pool_reset_on_return=None,
        # Closing a connection still "rolls back" its autobegun transaction: in autocommit
        # that is a ROLLBACK round trip after every read (and every idle poll).
        skip_autocommit_rollback=reads_only,
    ))


def ping_when_idle(engine: Any, idle_seconds: float = IDLE_PING_SECONDS) -> Any:
    """`pool_pre_ping`, only for a connection that sat in the pool `idle_seconds` or
    more (issue 21): the pre-ping was a round trip before every statement batch (a
    create checked out three connections). A connection in steady use needs none; one
    that went stale between uses fails its ping and is replaced, as with pre-ping; one
    that breaks while in use fails that use, which SQLAlchemy's disconnect handling
    turns into a fresh pool for the next. Works for sync and async engines."""
    pool = engine.pool
    dialect = engine.dialect

    @event.listens_for(pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < idle_seconds:
            return  # just connected, or in steady use
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception:
            alive = False
        if not alive:
            raise exc.DisconnectionError("the pooled connection did not answer a ping")

    return engine


# Per SQLite engine: the threads of a process queue here for the database's write lock.
_write_locks: WeakKeyDictionary[Engine, threading.RLock] = WeakKeyDictionary()


def _configure_sqlite(engine: Engine) -> None:
    _write_locks[engine] = threading.RLock()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Freed space is zeroed: an erased subject's text must not survive in free pages.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _create_mysql_database(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database
    server = create_engine(parsed.set(database=""), poolclass=NullPool,
                           connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    try:
        with server.connect() as conn:
            conn.execute(
                text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 "
                     "COLLATE utf8mb4_unicode_ci")
            )
    finally:
        server.dispose()


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that takes the write lock up front on SQLite.

    On SQLite the threads of this process first queue on a Python lock: a writer that
    finds the database locked is put to sleep by SQLite's busy handler for 1, 2, 5,
    10, 15, 20, 25... ms between tries, however soon the holder commits (a create's
    transaction takes well under a millisecond), and writers queued that way made
    concurrent creates wait hundreds of ms. Other processes still meet that handler."""
    lock = _write_locks.get(engine)
    with lock if lock is not None else nullcontext(), engine.connect() as conn:
        conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            yield conn


@contextmanager
def schema_lock(engine: Engine) -> Iterator[Connection]:
    """Serialize schema creation across processes (`sav serve --workers N` starts N at once):
    SQLite's write lock, or a MySQL named lock (DDL commits implicitly there); on a
    Galera cluster also a lock row, since a named lock holds on one node only."""
    if is_sqlite(engine):
        with write_transaction(engine) as conn:
            yield conn
        return
    from sav.eventstore.galera import cluster_lock

    name = {"name": schema_lock_name(engine)}
    with engine.connect() as conn:
        conn.execute(text("SELECT GET_LOCK(:name, 60)"), name)
        try:
            with cluster_lock(engine, conn, "sav_schema"):
                conn.commit()  # the lock's own queries left a transaction open
                yield conn
                conn.commit()
        finally:
            conn.execute(text("SELECT RELEASE_LOCK(:name)"), name)


def schema_lock_name(engine: Engine) -> str:
    """A MySQL named lock is server-wide: one per database, so that the databases of one
    server (several deployments, a test run's) do not wait for each other's schema."""
    name = f"sav_schema:{engine.url.database or ''}"
    if len(name) <= 64:  # MySQL's limit for a lock name
        return name
    return "sav_schema:" + hashlib.sha256(name.encode()).hexdigest()[:40]


def create_store_schema(engine: Engine) -> None:
    with schema_lock(engine) as conn:
        metadata.create_all(conn)
    with write_transaction(engine) as conn:
        exists = conn.execute(
            event_sequence.select().where(event_sequence.c.name == "events")
        ).first()
        if exists is None:
            conn.execute(event_sequence.insert().values(name="events", last_id=0))


_engines: dict[str, Engine] = {}
_readers: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """One shared engine per URL in a process (the API, its workers and the recorder)."""
    if url not in _engines:
        _engines[url] = build_engine(url)
    return _engines[url]


def reader_for(url: str) -> Engine:
    """The engine for plain reads (event store tailing, aggregate loads) of `url`."""
    engine = engine_for(url)
    if is_sqlite(engine):
        return engine
    if url not in _readers:
        _readers[url] = build_engine(url, reads_only=True)
    return _readers[url]


def dispose_engine(url: str) -> None:
    for engines in (_readers, _engines):
        engine = engines.pop(url, None)
        if engine is not None:
            engine.dispose()


def execute_together(conn: Connection, work: Work) -> None:
    """Each statement for each of its rows, in order. On a MySQL connection that allows
    several statements per query (`build_engine`), up to MAX_TOGETHER rows go in
    one round trip: each statement rendered with its values by the driver's own
    escaping, and every result read before returning (an error in any is raised as
    SQLAlchemy's, like `conn.execute`'s). Elsewhere each runs on the driver's cursor,
    compiled once (`sav.eventstore.prepared`)."""
    work = [(statement, rows) for statement, rows in work if rows]
    dbapi_connection = conn.connection.dbapi_connection
    together = (conn.dialect.name != "sqlite" and len(work) > 1
                and sum(len(rows) for _, rows in work) <= MAX_TOGETHER
                and getattr(dbapi_connection, "client_flag", 0) & CLIENT.MULTI_STATEMENTS)
    ready = [[(prepared.prepared(conn.dialect, statement, tuple(row)), row) for row in rows]
             for statement, rows in work] if together else []
    if not together or any(found is None for rows in ready for found, _ in rows):
        for statement, rows in work:
            prepared.execute(conn, statement, list(rows))
        return
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    sql = ""
    try:
        sql = ";\n".join(cursor.mogrify(found.sql, found.parameters(row))
                          for rows in ready for found, row in rows if found is not None)
        cursor.execute(sql)
        while cursor.nextset():
            pass
    except conn.dialect.loaded_dbapi.Error as error:
        raise prepared.translated(conn, sql, error, cursor) from error
    finally:
        cursor.close()
