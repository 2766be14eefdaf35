"""Work a read model defers to the end of the projector's batch, in its transaction.

The projector opens a `Batch` around the events of one transaction; a handler that
would rather write once per batch than once per event (the statistics sums: many events
touch the same few cells) keeps its pending writes in the batch's state and names the
function that writes them. The projector calls those after the last event, before the
tracking row commits with them: the read model stays exactly-once.

A handler called outside a projector's batch (no `current` batch) writes at once.

`execute_together` sends a flush's few statements to MariaDB in one round trip (a
create's statistics: five statements, issue 21).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Executable
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect

S = TypeVar("S")
_KEY = "sav.projection_batch"
# Up to this many rows go in one round trip of statements; a larger flush (the
# projector's batches) sends one multi-row executemany per statement instead.
MAX_TOGETHER = 16
_MULTI_STATEMENTS = 1 << 16  # MySQL's CLIENT_MULTI_STATEMENTS capability
Work = Sequence[tuple[Executable, Sequence[dict[str, Any]]]]


class Batch:
    def __init__(self) -> None:
        self._states: dict[str, Any] = {}
        self._flushes: list[Callable[[Connection], None]] = []

    def state(self, name: str, make: Callable[[], S],
              flush: Callable[[Connection, S], None]) -> S:
        """This batch's state called `name` (made on first use); `flush(conn, state)`
        runs once at the end of the batch, in the order the states were first used."""
        if name not in self._states:
            state = self._states[name] = make()
            self._flushes.append(lambda conn: flush(conn, state))
        return self._states[name]  # type: ignore[no-any-return]

    def flush(self, conn: Connection) -> None:
        for flush in self._flushes:
            flush(conn)
        self._flushes.clear()
        self._states.clear()


@contextmanager
def batch(conn: Connection) -> Iterator[Batch]:
    """A batch on `conn` for the events applied inside; flushed on a normal exit (the
    caller commits after), dropped on an error (the caller rolls back)."""
    opened = Batch()
    conn.info[_KEY] = opened  # the pooled connection's own dict: one thread at a time
    try:
        yield opened
        opened.flush(conn)
    finally:
        conn.info.pop(_KEY, None)


def current(conn: Connection) -> Batch | None:
    found: Batch | None = conn.info.get(_KEY)
    return found


def execute_together(conn: Connection, work: Work) -> None:
    """Each statement for each of its rows, in order. On a MySQL connection that allows
    several statements per query (`sav.eventstore.db`), up to MAX_TOGETHER rows go in
    one round trip: each statement rendered with its values by the driver's own
    escaping, and every result read before returning (an error in any is raised as
    SQLAlchemy's, like `conn.execute`'s)."""
    work = [(statement, rows) for statement, rows in work if rows]
    dbapi_connection = conn.connection.dbapi_connection
    together = (conn.dialect.name != "sqlite" and len(work) > 1
                and sum(len(rows) for _, rows in work) <= MAX_TOGETHER
                and getattr(dbapi_connection, "client_flag", 0) & _MULTI_STATEMENTS)
    if not together:
        for statement, rows in work:
            conn.execute(statement, list(rows))
        return
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    sql = ""
    try:
        sql = ";\n".join(cursor.mogrify(*_rendered(conn.dialect, statement, row))
                          for statement, rows in work for row in rows)
        cursor.execute(sql)
        while cursor.nextset():
            pass
    except conn.dialect.loaded_dbapi.Error as error:
        raise sa_exc.DBAPIError.instance(
            sql, None, error, conn.dialect.loaded_dbapi.Error, hide_parameters=True,
            dialect=conn.dialect, ismulti=False) from error
    finally:
        cursor.close()


_compiled: dict[tuple[Executable, str, tuple[str, ...]], Any] = {}


def _rendered(dialect: Dialect, statement: Executable,
              row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The statement's SQL for these columns (compiled once) and its parameters."""
    key = (statement, dialect.name, tuple(row))
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = _compiled[key] = statement.compile(  # type: ignore[attr-defined]
            dialect=dialect, column_keys=list(row))
    return compiled.string, compiled.construct_params(row)
