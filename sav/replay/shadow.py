"""Shadow read tables for `sav replay`: built beside the live ones, then switched in.

A shadow is a database of its own, so the live handlers write into it unchanged
(unqualified table names, their raw SQL included): on MySQL the sibling database
`<db>_rebuild`, on SQLite the file `<db file>.rebuild`. Tables are created without
their secondary indexes, which are built after the bulk load.

The switch holds projectors off by locking the read model's tracking row (a projector
takes that row first in each batch, before touching a read table) and swaps the tables:
MySQL renames every pair in one `RENAME TABLE`; SQLite recreates the live tables and
copies the shadow's rows in, in one transaction. Either way the live tables take this
version's definitions, as when they were dropped and rebuilt in place. The caller brings
the shadow to the live position first, so the position stays; it moves with the tables
only when the live read model lagged behind the shadow (nobody was projecting it).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Table, create_engine, event, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.schema import CreateTable

from sav.eventstore.db import build_engine, is_sqlite, write_transaction
from sav.eventstore.errors import DEADLOCK, error_code
from sav.eventstore.load_data import LOCAL_INFILE, insert_rows
from sav.eventstore.schema import tracking
from sav.eventstore.tracking import start_tracking, tracked_position
from sav.projections import registry
from sav.projections.metrics import ticket_metrics_hourly
from sav.projections.position import READ_MODEL
from sav.projections.schema import read_metadata


def rebuilt_tables() -> list[Table]:
    """Every read table but the hourly rollup, which the scheduler's `metrics` job
    recomputes from `support_tickets` (it is not projected from events): a rebuild
    leaves it in place."""
    return [t for t in read_metadata.sorted_tables if t is not ticket_metrics_hourly]


# tickets.py's SQLite FTS5 table, as a plain table while loading (its rows keyed by the
# ticket's `seq`, the rowid the copy keeps): FTS5 would index every text as it comes.
FULL_TEXT = "support_tickets_fts"
FULL_TEXT_STAND_IN = (
    f"CREATE TABLE {FULL_TEXT} (ticket_id TEXT, subject TEXT, description TEXT)",
    f"CREATE INDEX ix_fts_stand_in_ticket ON {FULL_TEXT} (ticket_id)",
)
COPY_CHUNK = 50_000  # rows per LOAD DATA (its own transaction)
# What the live handlers keep in it, a row per ticket (erased text is "" in both).
FILL_FULL_TEXT = (f"INSERT INTO {FULL_TEXT} (rowid, ticket_id, subject, description) "
                  "SELECT seq, id, subject, description FROM support_tickets")

Project = Callable[[Engine], object]  # projects events into the tables of an engine


class RebuildError(Exception):
    """The rebuild could not finish; the live tables are as they were."""


class Shadow(Protocol):
    engine: Engine  # the shadow database: handlers write here with unqualified names

    def bulk_load(self, project: Project) -> None: ...

    def switching(self) -> contextlib.AbstractContextManager[Switch]: ...

    def drop(self) -> None: ...


class Switch(Protocol):
    live_position: int  # where the live tables are, held there until the switch ends

    def swap(self, shadow_position: int) -> None: ...


def open_shadow(live: Engine) -> Shadow:
    """An empty shadow of every rebuilt table (a leftover one is dropped first)."""
    start_tracking(live, READ_MODEL)  # a row to lock, even before anything was projected
    return SqliteShadow(live) if is_sqlite(live) else MysqlShadow(live)


def create_tables(conn: Connection) -> None:
    for table in rebuilt_tables():
        conn.execute(CreateTable(table))
    tracking.create(conn)


def create_indexes(conn: Connection) -> None:
    for table in rebuilt_tables():
        for index in table.indexes:
            index.create(conn)


def staging_engine(path: Path) -> Engine:
    """A private SQLite file tuned for one bulk writer: no journal, no fsync."""
    engine = create_engine(f"sqlite:///{path}", hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=MEMORY",
                       "cache_size=-262144"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    with engine.begin() as conn:
        create_tables(conn)
        for ddl in FULL_TEXT_STAND_IN:
            conn.exec_driver_sql(ddl)
        for create in registry.schema_hooks():
            create(conn)
    return engine


# -- SQLite -------------------------------------------------------------------------


class SqliteShadow:
    """The shadow file is its own staging database; the switch copies it in."""

    def __init__(self, live: Engine) -> None:
        assert live.url.database
        self.live = live
        self.path = Path(live.url.database + ".rebuild")
        self.path.unlink(missing_ok=True)
        self.engine = staging_engine(self.path)

    def bulk_load(self, project: Project) -> None:
        project(self.engine)
        fill_full_text(self.engine)
        with self.engine.begin() as conn:
            create_indexes(conn)

    @contextlib.contextmanager
    def switching(self) -> Iterator[Switch]:
        with self.live.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            raw.execute("ATTACH DATABASE ? AS rebuild", (str(self.path),))
            try:
                with conn.begin():
                    # A deferred BEGIN and a write take the live database's write lock
                    # only: IMMEDIATE would lock the attached shadow too, and the final
                    # catch-up still writes there.
                    conn.execute(tracking.update().where(tracking.c.name == READ_MODEL)
                                 .values(position=tracking.c.position))
                    yield SqliteSwitch(conn, tracked_position(conn, READ_MODEL))
            finally:
                raw.execute("DETACH DATABASE rebuild")

    def drop(self) -> None:
        self.engine.dispose()
        self.path.unlink(missing_ok=True)


class SqliteSwitch:
    def __init__(self, conn: Connection, live_position: int) -> None:
        self.conn = conn
        self.live_position = live_position

    def swap(self, shadow_position: int) -> None:
        """Recreate every rebuilt table (as this version defines it, like a MySQL rename
        would), copy the shadow's rows and full-text rows in and move the position, all
        in the transaction `switching` holds: readers see the old tables until it commits.
        Unqualified DDL goes to the live database (`main`)."""
        conn = self.conn
        for table in rebuilt_tables():
            columns = ", ".join(f'"{c.name}"' for c in table.columns)
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS main."{table.name}"')
            conn.execute(CreateTable(table))
            conn.exec_driver_sql(f'INSERT INTO main."{table.name}" ({columns}) '
                                 f'SELECT {columns} FROM rebuild."{table.name}"')
            for index in table.indexes:
                index.create(conn)
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS main.{FULL_TEXT}")
        for create in registry.schema_hooks():
            create(conn)
        conn.exec_driver_sql(
            f"INSERT INTO main.{FULL_TEXT} (rowid, ticket_id, subject, description) "
            f"SELECT rowid, ticket_id, subject, description FROM rebuild.{FULL_TEXT}")
        if shadow_position != self.live_position:
            move_position(self.conn, shadow_position)


# -- MySQL / MariaDB ----------------------------------------------------------------


class MysqlShadow:
    """Loaded from a SQLite staging file, indexed, then renamed in."""

    def __init__(self, live: Engine) -> None:
        self.live = live
        self.database = f"{live.url.database}_rebuild"
        self._drop_database()
        url = live.url.set(database=self.database).update_query_dict(
            LOCAL_INFILE).render_as_string(hide_password=False)  # insert_rows: LOAD DATA
        self.engine = build_engine(url, pool_size=2)  # creates the database
        with self.engine.connect() as conn:
            create_tables(conn)

    def bulk_load(self, project: Project) -> None:
        with tempfile.TemporaryDirectory(prefix="sav-replay-") as folder:
            staging = staging_engine(Path(folder) / "staging.sqlite3")
            try:
                project(staging)
                copy_tables(staging, self.engine)
            finally:
                staging.dispose()
        with self.engine.connect() as conn:  # DDL: each statement commits itself
            # The FULLTEXT index and the search rows first, into tables that have only
            # their primary keys: the secondary indexes are then built by sorting, once,
            # instead of taking ~700k random inserts each (replay 1.7x faster: 0170).
            for create in registry.schema_hooks():
                create(conn)  # on the shadow (its DATABASE())
            conn.commit()  # the search rows written from the tickets
            create_indexes(conn)

    @contextlib.contextmanager
    def switching(self) -> Iterator[Switch]:
        """The tracking row is also written in this transaction: on a Galera cluster the
        row lock holds on this node only, and a projector on another node that moved the
        read model meanwhile makes this commit fail its certification (1213)."""
        try:
            with self.live.connect() as conn, conn.begin():
                position = conn.execute(select(tracking.c.position).with_for_update()
                                        .where(tracking.c.name == READ_MODEL)).scalar_one()
                conn.execute(tracking.update().where(tracking.c.name == READ_MODEL)
                             .values(updated_at=time.time()))
                yield MysqlSwitch(self, conn, int(position))
        except sa_exc.OperationalError as error:
            if error_code(error) != DEADLOCK:
                raise
            raise RebuildError(
                "a projector on another database node moved the read model during the "
                "switch; the tables switched in may miss its last events: run `sav "
                "replay` again, with every projector writing through one node") from None

    def rename_statement(self) -> str:
        quote = self.live.dialect.identifier_preparer.quote
        live, shadow = quote(str(self.live.url.database)), quote(self.database)
        pairs = []
        for table in rebuilt_tables():
            name = quote(table.name)
            pairs.append(f"{live}.{name} TO {shadow}.{quote(table.name + '__retired')}")
            pairs.append(f"{shadow}.{name} TO {live}.{name}")
        return "RENAME TABLE " + ", ".join(pairs)

    def drop(self) -> None:
        """The shadow database, with the retired tables once switched."""
        self.engine.dispose()
        self._drop_database()

    def _drop_database(self) -> None:
        quote = self.live.dialect.identifier_preparer.quote
        with self.live.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(self.database)}")


class MysqlSwitch:
    # A reader or a job holding a live table delays the rename; give up rather than
    # queue every reader behind it for long.
    RENAME_WAIT_S = 5

    def __init__(self, shadow: MysqlShadow, conn: Connection, live_position: int) -> None:
        self.shadow = shadow
        self.conn = conn  # holds the tracking row: projectors wait at their first statement
        self.live_position = live_position

    def swap(self, shadow_position: int) -> None:
        """Rename every pair at once (atomic). The tracking row, locked by `conn`, moves
        only when the live read model lagged behind the shadow: if the process died
        between the rename and that commit, the next `sav replay` would be needed."""
        with self.shadow.engine.connect() as rename:
            rename.exec_driver_sql(f"SET SESSION lock_wait_timeout = {self.RENAME_WAIT_S}")
            try:
                rename.exec_driver_sql(self.shadow.rename_statement())
            except sa_exc.OperationalError as error:
                raise RebuildError(f"could not switch (nothing changed): {error.orig}") from None
        if shadow_position != self.live_position:
            move_position(self.conn, shadow_position)


def fill_full_text(engine: Engine) -> None:
    """The full-text stand-in's rows, from the bulk-loaded tickets (the bulk fold writes
    none: a row per ticket, one statement, instead of one or two statements per ticket).
    Only where the stand-in is copied in (SQLite): MariaDB's search rows are written from
    its own copy of the tickets (`registry.schema_hooks`)."""
    with engine.begin() as conn:
        conn.exec_driver_sql(FILL_FULL_TEXT)


def move_position(conn: Connection, position: int) -> None:
    conn.execute(tracking.update().where(tracking.c.name == READ_MODEL)
                 .values(position=position, updated_at=time.time()))


def copy_tables(source: Engine, target: Engine) -> None:
    """Every rebuilt table's rows and the read model's position, in primary-key order,
    as the drivers give and take them: SQLite keeps what SQLAlchemy's types write for
    MariaDB too (JSON as `json.dumps` text, datetimes as ISO text with microseconds,
    booleans as 0/1), so the values go over as they are (decoding and encoding each
    through the types was half of a MariaDB rebuild's indexing phase). The target is
    MariaDB's shadow (`MysqlShadow`), written by `LOAD DATA` (`insert_rows`)."""
    source_quote = source.dialect.identifier_preparer.quote
    with source.connect() as reader:
        for table in rebuilt_tables():
            names = [c.name for c in table.columns]
            order = ", ".join(source_quote(c.name) for c in table.primary_key.columns)
            rows = reader.exec_driver_sql(
                f"SELECT {', '.join(map(source_quote, names))} "
                f"FROM {source_quote(table.name)} ORDER BY {order}")
            for chunk in rows.partitions(COPY_CHUNK):
                with write_transaction(target) as conn:
                    insert_rows(conn, table.name, names, chunk)
        position = tracked_position(reader, READ_MODEL)
    with write_transaction(target) as conn:
        conn.execute(tracking.insert().values(name=READ_MODEL, position=position,
                                              updated_at=time.time()))
