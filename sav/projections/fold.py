"""One pure fold per read model, used three ways.

A read model's `FOLD` maps every stored event class to a step, or to None when the
model ignores that class on purpose. A step is `step(state, event, position) ->
changes`: no I/O, the changes are row operations on the model's tables (`Insert`,
`Update`, `Delete`), and `state` is what the step may read of those tables as they were
before the event. The same steps are driven three ways:

- the live projector (`sql_handlers`): the state is read with one SELECT when a step
  asks, the changes run as SQL in the projector's transaction;
- time travel and history (`sav.history.past`): state and changes in memory
  (`MemoryTables`), from one ticket's own events;
- the bulk load of `sav replay` (`sav.replay.bulk`): a batch of events folded in
  memory over the staging tables, each row written once with its final values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Table, bindparam, select

from sav.eventstore import prepared
from sav.projections.schema import Handler, Handlers


@dataclass(frozen=True, slots=True)
class Insert:
    table: str
    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Update:
    """Set `values` on the rows whose `by` column is one of `keys` (rows that do not
    exist are left alone)."""

    table: str
    keys: tuple[str, ...]
    values: dict[str, Any]
    by: str = "id"


@dataclass(frozen=True, slots=True)
class Delete:
    table: str
    keys: tuple[str, ...]


Change = Insert | Update | Delete
Changes = Sequence[Change]


class State(Protocol):
    def value(self, table: str, key: str, column: str) -> Any:
        """`column` of the row whose primary key is `key`; None when there is no row."""


Step = Callable[[State, Any, int], Changes]
# Every stored event class -> its step, or None: ignored on purpose (a test checks that
# each read model decides on each class).
Fold = dict[type, Step | None]


def skipped(*event_classes: type) -> Fold:
    """Classes a read model ignores on purpose, listed one by one."""
    return dict.fromkeys(event_classes, None)


# -- in memory ----------------------------------------------------------------------


class Row:
    """A row in memory: its columns as attributes, like a SQLAlchemy row."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # typed access to any column
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"Row({self.__dict__!r})"


class MemoryTables:
    """Read tables in memory, in insertion order: the state of the in-memory folds."""

    def __init__(self, tables: Iterable[Table]) -> None:
        self.keys, self.defaults = _layout(tuple(tables))
        self.rows: dict[str, dict[str, Row]] = {name: {} for name in self.keys}

    def value(self, table: str, key: str, column: str) -> Any:
        row = self.rows[table].get(key)
        return None if row is None else getattr(row, column)

    def apply(self, changes: Changes) -> None:
        for change in changes:
            rows = self.rows[change.table]
            if isinstance(change, Insert):
                values = {**self.defaults[change.table], **change.row}
                rows[values[self.keys[change.table]]] = Row(values)
            elif isinstance(change, Update):
                for row in self._matching(change):
                    row.__dict__.update(change.values)
            else:
                for key in change.keys:
                    rows.pop(key, None)

    def _matching(self, change: Update) -> list[Row]:
        rows = self.rows[change.table]
        if change.by == self.keys[change.table]:
            return [rows[key] for key in change.keys if key in rows]
        wanted = set(change.keys)
        return [row for row in rows.values() if getattr(row, change.by) in wanted]


@functools.cache
def _layout(tables: tuple[Table, ...]) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Each table's primary key and, for a column an insert leaves out, the default it
    takes, as in SQL (once per set of tables: `POST /tickets` folds its answer)."""
    keys = {table.name: _primary_key(table) for table in tables}
    defaults = {table.name: {column.name: _default(column) for column in table.c}
                for table in tables}
    return keys, defaults


def _default(column: Any) -> Any:
    default = column.default
    return None if default is None or callable(default.arg) else default.arg


def _primary_key(table: Table) -> str:
    (column,) = table.primary_key.columns
    return column.name


# -- as SQL ----------------------------------------------------------------------------

# Keys per statement when an update or a delete names many rows (an erasure).
CHUNK = 500


class SqlTables:
    """The live read tables on the projector's connection."""

    def __init__(self, conn: Connection, tables: dict[str, Table],
                 statements: Statements) -> None:
        self.conn = conn
        self.tables = tables
        self.statements = statements

    def value(self, table: str, key: str, column: str) -> Any:
        statement = self.statements.select(self.tables[table], column)
        return self.conn.execute(statement, {"key_id": key}).scalar()

    def apply(self, changes: Changes) -> None:
        for change in changes:
            table = self.tables[change.table]
            if isinstance(change, Insert):
                prepared.execute(self.conn, self.statements.insert(table), [change.row])
            elif len(change.keys) == 1:
                statement = (self.statements.update(table, change.by)
                             if isinstance(change, Update)
                             else self.statements.delete(table))
                values = change.values if isinstance(change, Update) else {}
                prepared.execute(self.conn, statement, [{"key_id": change.keys[0], **values}])
            else:
                self._many(table, change)

    def _many(self, table: Table, change: Update | Delete) -> None:
        for start in range(0, len(change.keys), CHUNK):
            keys = list(change.keys[start:start + CHUNK])
            if isinstance(change, Update):
                self.conn.execute(table.update().where(table.c[change.by].in_(keys)),
                                  change.values)
            else:
                self.conn.execute(table.delete().where(_key_column(table).in_(keys)))


class Statements:
    """Statements built once per table and column: building one per event cost more
    than running it (the SET clause of an update follows the parameters given)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, str], Any] = {}

    def insert(self, table: Table) -> Any:
        return self._get(("insert", table.name, ""), table.insert)

    def select(self, table: Table, column: str) -> Any:
        return self._get(("select", table.name, column), lambda: select(table.c[column]).where(
            _key_column(table) == bindparam("key_id")))

    def update(self, table: Table, by: str) -> Any:
        return self._get(("update", table.name, by), lambda: table.update().where(
            table.c[by] == bindparam("key_id")))

    def delete(self, table: Table) -> Any:
        return self._get(("delete", table.name, ""), lambda: table.delete().where(
            _key_column(table) == bindparam("key_id")))

    def _get(self, key: tuple[str, str, str], make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


def _key_column(table: Table) -> Any:
    return table.c[_primary_key(table)]


After = Callable[[Connection, Changes], None]


def sql_handlers(fold: Fold, tables: Iterable[Table], after: After | None = None) -> Handlers:
    """The projector's handlers for a fold: each step's changes run as SQL, then
    `after(conn, changes)` for what the tables alone do not hold (SQLite's full-text)."""
    by_name = {table.name: table for table in tables}
    statements = Statements()

    def handler_for(step: Step) -> Handler:
        def handle(conn: Connection, event: Any, position: int) -> None:
            state = SqlTables(conn, by_name, statements)
            changes = step(state, event, position)
            state.apply(changes)
            if after is not None:
                after(conn, changes)

        handle.__name__ = getattr(step, "__name__", "step")
        return handle

    return {cls: None if step is None else handler_for(step) for cls, step in fold.items()}
