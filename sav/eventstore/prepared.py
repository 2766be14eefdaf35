"""The write path's statements, compiled once and run on the driver's cursor (issue 21).

`Connection.execute` builds, per call, a cache key, an execution context, the bound
parameters and a result: on a create's few statements that was about as much Python
as the driver's own work (measured: 115 µs against 56 µs per UPDATE on MariaDB). The
fixed statements of the write path (the append, the inline projection's rows) are
compiled here once per statement, dialect and set of columns, and run on the
connection's DB-API connection, in its transaction, as `conn.execute` would run them:

- each value goes through its column's bind processor (JSON, SQLite's datetimes);
- a column the row leaves out takes its scalar default (`Column(default=...)`), and a
  value bound in the statement itself is sent with the row's, as SQLAlchemy does; a
  statement that would need more than that (a callable default, an expanding IN,
  RETURNING) is run by `conn.execute` instead;
- a driver's error is raised as SQLAlchemy's (`IntegrityError`...), and a lost
  connection is invalidated, so that the pool replaces it.

The store's reads on every step of a projector (`select_notifications`) and on every
create (the SLA streams' versions) take the same path, on a pooled connection of the
reader (`read_all`). Rows come back as the driver's tuples. SQLAlchemy's
`before_cursor_execute` events do not see these statements.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Executable, exc
from sqlalchemy.engine import Dialect

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A statement's SQL for one set of columns, and how a row becomes its parameters."""

    sql: str
    names: tuple[str, ...]  # the parameters, in the SQL's order when it is positional
    positional: bool
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]
    # What the rows do not give: a left-out column's scalar default, a value bound in
    # the statement itself.
    constants: tuple[tuple[str, Any], ...]

    def parameters(self, row: Row) -> Any:
        if self.constants:
            row = {**dict(self.constants), **row}
        if self.processors:
            row = dict(row)
            for name, process in self.processors:
                row[name] = process(row[name])
        if self.positional:
            return tuple([row[name] for name in self.names])
        return row


MAX_CACHED = 2_000
_cache: dict[tuple[Any, str, tuple[str, ...]], Prepared | None] = {}


def prepared(dialect: Dialect, statement: Executable, keys: tuple[str, ...]) -> Prepared | None:
    """`statement` compiled for rows of these `keys` (None: run it with `conn.execute`)."""
    key = (statement, dialect.name, keys)
    try:
        return _cache[key]
    except KeyError:
        if len(_cache) >= MAX_CACHED:  # statements built per call would never match
            _cache.clear()
        found = _cache[key] = _compile(dialect, statement, keys)
        return found


def _compile(dialect: Dialect, statement: Executable, keys: tuple[str, ...]) -> Prepared | None:
    compiled: Any = statement.compile(  # type: ignore[attr-defined]
        dialect=dialect, column_keys=list(keys))
    if (compiled.literal_execute_params or compiled.post_compile_params
            or compiled.effective_returning):
        return None
    constants: dict[str, Any] = {}
    for column in [*compiled.insert_prefetch, *compiled.update_prefetch]:
        default = column.default if compiled.isinsert else column.onupdate
        if default is None or not default.is_scalar:
            return None
        constants[column.key] = default.arg
    for bind, name in compiled.bind_names.items():
        if name in keys or name in constants:
            continue  # a row's value wins over the statement's, as in `conn.execute`
        if bind.required or bind.callable is not None:
            return None  # a value only the rows can give, or one made per execution
        constants[name] = bind.value  # the statement's own (SQLite's `OFFSET ?`: 0)
    names = tuple(compiled.positiontup or compiled.bind_names.values())
    if any(name not in keys and name not in constants for name in names):
        return None
    processors = tuple((name, process) for name, process in compiled._bind_processors.items()
                       if name in names)
    return Prepared(compiled.string, names, compiled.positiontup is not None, processors,
                    tuple(constants.items()))


def execute(conn: Connection, statement: Executable, rows: Sequence[Row]) -> int:
    """Run `statement` for each row (an executemany for several); the rows it matched
    (the write engine counts matched rows as changed, as SQLAlchemy's flags have it)."""
    if not rows:
        return 0
    ready = prepared(conn.dialect, statement, tuple(rows[0]))
    if ready is None:
        return int(conn.execute(statement, list(rows) if len(rows) > 1 else rows[0]).rowcount)
    cursor = _cursor(conn)
    try:
        if len(rows) == 1:
            cursor.execute(ready.sql, ready.parameters(rows[0]))
        else:
            cursor.executemany(ready.sql, [ready.parameters(row) for row in rows])
        return int(cursor.rowcount)
    except conn.dialect.loaded_dbapi.Error as error:
        raise translated(conn, ready.sql, error, cursor) from error
    finally:
        cursor.close()


def execute_sql(conn: Connection, sql: str) -> int:
    """Run SQL the caller rendered with the driver's own escaping (`literal`); the rows
    it matched."""
    cursor = _cursor(conn)
    try:
        cursor.execute(sql)
        return int(cursor.rowcount)
    except conn.dialect.loaded_dbapi.Error as error:
        raise translated(conn, sql, error, cursor) from error
    finally:
        cursor.close()


def literal(conn: Connection) -> Callable[[Any], str]:
    """The driver's own rendering of a value in SQL (PyMySQL's, escaped as it does for
    its parameters)."""
    return conn.connection.dbapi_connection.literal  # type: ignore[union-attr]


def returned(conn: Connection, statement: Executable, row: Row) -> int:
    """The number an upsert or an update returns: its RETURNING row (SQLite) or the
    LAST_INSERT_ID(expr) it set (MySQL, with the statement's reply)."""
    ready = prepared(conn.dialect, statement, tuple(row))
    if ready is None:
        result = conn.execute(statement, row)
        return int(result.scalar_one() if result.returns_rows else result.lastrowid)
    cursor = _cursor(conn)
    try:
        cursor.execute(ready.sql, ready.parameters(row))
        return int(cursor.fetchone()[0] if cursor.description else cursor.lastrowid)
    except conn.dialect.loaded_dbapi.Error as error:
        raise translated(conn, ready.sql, error, cursor) from error
    finally:
        cursor.close()


def fetch_all(conn: Connection, statement: Executable, row: Row) -> list[tuple[Any, ...]]:
    """The rows a query returns, as tuples (the driver's values, not processed by the
    result columns' types: for plain strings and numbers)."""
    ready = prepared(conn.dialect, statement, tuple(row))
    if ready is None:
        return [tuple(found) for found in conn.execute(statement, row)]
    cursor = _cursor(conn)
    try:
        cursor.execute(ready.sql, ready.parameters(row))
        return [tuple(found) for found in cursor.fetchall()]
    except conn.dialect.loaded_dbapi.Error as error:
        raise translated(conn, ready.sql, error, cursor) from error
    finally:
        cursor.close()


def read_all(engine: Engine, statement: Executable, row: Row) -> list[tuple[Any, ...]]:
    """`fetch_all` on a pooled connection of `engine` without a `Connection` around it:
    for the store's reader, which autocommits (nothing to begin, nothing to roll back
    on return), and SQLite's, where a read outside `BEGIN` is one too."""
    ready = prepared(engine.dialect, statement, tuple(row))
    if ready is None:
        with engine.connect() as conn:
            return fetch_all(conn, statement, row)
    try:
        pooled = engine.raw_connection()
    except engine.dialect.loaded_dbapi.Error as error:  # the server is not reachable
        # As `engine.connect()` raises it: SQLAlchemy's (OperationalError...), not the
        # driver's own, which nothing above would know for a backing service down.
        raise exc.DBAPIError.instance(
            None, None, error, engine.dialect.loaded_dbapi.Error, hide_parameters=True,
            dialect=engine.dialect, connection_invalidated=True) from error
    try:
        cursor = pooled.cursor()
        try:
            cursor.execute(ready.sql, ready.parameters(row))
            return [tuple(found) for found in cursor.fetchall()]
        except engine.dialect.loaded_dbapi.Error as error:
            lost = engine.dialect.is_disconnect(error,  # type: ignore[arg-type]
                                                pooled.dbapi_connection, cursor)
            if lost:
                pooled.invalidate(error)
            raise exc.DBAPIError.instance(
                ready.sql, None, error, engine.dialect.loaded_dbapi.Error,
                hide_parameters=True, dialect=engine.dialect, ismulti=False,
                connection_invalidated=lost) from error
        finally:
            cursor.close()
    finally:
        pooled.close()


def _cursor(conn: Connection) -> Any:
    """A cursor in the connection's transaction, begun first if it is not yet (as
    `conn.execute` autobegins: SQLite's BEGIN comes from the engine's begin event, and
    a commit then ends it; a statement run on the driver's cursor alone would not be
    part of a transaction SQLAlchemy knows of)."""
    if not conn.in_transaction():
        conn.begin()
    dbapi_connection = conn.connection.dbapi_connection
    assert dbapi_connection is not None
    return dbapi_connection.cursor()


def translated(conn: Connection, sql: str, error: Any, cursor: Any = None) -> Exception:
    """A driver's error as SQLAlchemy raises it; a lost connection is invalidated (the
    pool replaces it) as `conn.execute` does."""
    dialect = conn.dialect
    lost = dialect.is_disconnect(error, conn.connection.dbapi_connection, cursor)
    if lost:
        conn.invalidate(error)
    return exc.DBAPIError.instance(sql, None, error, dialect.loaded_dbapi.Error,
                                   hide_parameters=True, dialect=dialect, ismulti=False,
                                   connection_invalidated=lost)
