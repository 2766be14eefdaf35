"""The bulk load of a rebuild: the read models' folds run in memory over a batch of
events, and each row is written once, with its final values, at the batch's end.

The live projector writes every event's changes as they come (a ticket of ten events
is one insert and nine updates); here a batch folds first (`BufferedTables`: the rows
it touches, read once from the staging tables when a step needs one it has not made)
and writes the inserts, updates and deletes it ends with, one executemany each. The
steps are the same ones the projector runs (`sav.projections.fold`), so the rows are
the same; the tracking position moves in the batch's transaction, as the projector's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification
from sqlalchemy import Connection, Engine, Table, bindparam, select

from sav.eventstore.db import write_transaction
from sav.eventstore.tracking import advance, read_position
from sav.projections import tickets
from sav.projections.fold import (
    Change,
    Changes,
    Delete,
    Insert,
    SqlTables,
    Statements,
    Update,
)
from sav.projections.position import READ_MODEL

Advanced = Callable[[int], object]  # the position a committed batch reached


class BufferedTables:
    """The fold's state over one batch: rows in memory, read through to the tables."""

    def __init__(self, conn: Connection, tables: Sequence[Table],
                 full_text: bool = True) -> None:
        self.conn = conn
        # False: the full-text rows are written from the tickets after the load.
        self.full_text = full_text
        self.tables = {table.name: table for table in tables}
        self.keys = {table.name: _key(table) for table in tables}
        # Each table's row of column defaults, what an insert starts from.
        self.defaults = {table.name: {column.name: _default(column) for column in table.c}
                         for table in tables}
        self.statements = Statements()
        self._reset()

    def _reset(self) -> None:
        names = list(self.tables)
        self.rows: dict[str, dict[str, dict[str, Any] | None]] = {t: {} for t in names}
        self.inserted: dict[str, dict[str, None]] = {t: {} for t in names}  # in order
        self.changed: dict[str, set[str]] = {t: set() for t in names}
        self.deleted: dict[str, set[str]] = {t: set() for t in names}
        self.retext: set[str] = set()  # tickets whose indexed text changed

    def value(self, table: str, key: str, column: str) -> Any:
        row = self._row(table, key)
        return None if row is None else row[column]

    def _row(self, table: str, key: str) -> dict[str, Any] | None:
        rows = self.rows[table]
        if key not in rows:
            t = self.tables[table]
            found = self.conn.execute(select(t).where(t.c[self.keys[table]] == key)).first()
            rows[key] = None if found is None else dict(found._mapping)
        return rows[key]

    def apply(self, changes: Changes) -> None:
        for change in changes:
            if isinstance(change, Update) and change.by != self.keys[change.table]:
                self._in_sql(change)  # an erasure, by ticket: rare, written at once
            elif isinstance(change, Insert):
                self._insert(change)
            elif isinstance(change, Update):
                self._update(change)
            else:
                self._delete(change)

    def _insert(self, change: Insert) -> None:
        row = self.defaults[change.table] | change.row
        key = row[self.keys[change.table]]
        self.rows[change.table][key] = row
        if key in self.deleted[change.table]:  # gone and back within the batch
            self.deleted[change.table].discard(key)
            self.changed[change.table].add(key)
        else:
            self.inserted[change.table][key] = None
        if change.table == tickets.TICKETS:
            self.retext.discard(key)  # indexed with the insert

    def _update(self, change: Update) -> None:
        for key in change.keys:
            row = self._row(change.table, key)
            if row is None:
                continue
            row.update(change.values)
            if key not in self.inserted[change.table]:
                self.changed[change.table].add(key)
                if change.table == tickets.TICKETS and not set(
                        tickets.INDEXED_TEXT).isdisjoint(change.values):
                    self.retext.add(key)

    def _delete(self, change: Delete) -> None:
        for key in change.keys:
            self.rows[change.table][key] = None
            self.changed[change.table].discard(key)
            if key in self.inserted[change.table]:
                del self.inserted[change.table][key]  # made and removed: never written
            else:
                self.deleted[change.table].add(key)

    def _in_sql(self, change: Update) -> None:
        self.flush()
        changes: list[Change] = [change]
        SqlTables(self.conn, self.tables, self.statements).apply(changes)
        if change.table == tickets.TICKETS and self.full_text:
            tickets.index_full_text(self.conn, changes)
        self.rows = {t: {} for t in self.tables}  # what SQL changed is read again

    def flush(self) -> None:
        """Write every row the batch ended with; then start afresh."""
        for name, table in self.tables.items():
            key = table.c[self.keys[name]]
            if self.deleted[name]:
                self.conn.execute(table.delete().where(key == bindparam("key_id")),
                                  [{"key_id": k} for k in self.deleted[name]])
            inserts = [row for k in self.inserted[name] if (row := self.rows[name][k])]
            if inserts:
                self.conn.execute(table.insert(), inserts)
            updates = [{**_values(self.rows[name][k], key.name), "key_id": k}
                       for k in sorted(self.changed[name])]
            if updates:
                self.conn.execute(table.update().where(key == bindparam("key_id")), updates)
        self._index_text()
        self._reset()

    def _index_text(self) -> None:
        if not self.full_text:
            return
        made = [Insert(tickets.TICKETS, row) for k in self.inserted[tickets.TICKETS]
                if (row := self.rows[tickets.TICKETS][k]) is not None]
        moved = [Update(tickets.TICKETS, (k,), {n: row[n] for n in tickets.INDEXED_TEXT})
                 for k in sorted(self.retext)
                 if (row := self.rows[tickets.TICKETS].get(k)) is not None]
        tickets.index_full_text(self.conn, [*made, *moved])


def _values(row: dict[str, Any] | None, key: str) -> dict[str, Any]:
    assert row is not None
    return {name: value for name, value in row.items() if name != key}


def _key(table: Table) -> str:
    (column,) = table.primary_key.columns
    return column.name


def _default(column: Any) -> Any:
    default = column.default
    return None if default is None or callable(default.arg) else default.arg


def fold_in_bulk(recorder: ApplicationRecorder, mapper: Mapper[Any], engine: Engine,
                 models: Sequence[ModuleType], stop: int | None, batch_size: int,
                 advanced: Advanced | None = None, full_text: bool = True) -> int:
    """Fold every event after the engine's tracked position (up to `stop`) into the
    tables of `models` (each with a `FOLD`), a batch per transaction; returns the
    position reached. `full_text` False leaves the tickets' full-text rows to the
    caller (written from the loaded tickets in one statement: `shadow.fill_full_text`)."""
    folds = [model.FOLD for model in models]
    # The tables the models define (a module may import another's: counted once).
    tables = list({id(t): t for model in models for t in vars(model).values()
                   if isinstance(t, Table)}.values())
    position = read_position(engine, READ_MODEL)

    def page(after: int) -> Sequence[Notification]:
        return recorder.select_notifications(after, batch_size, stop=stop,
                                             inclusive_of_start=False)

    # The next page is read from the store while this one folds (the store is another
    # database than the one written: no lock between them; the driver's waits overlap).
    with ThreadPoolExecutor(1, thread_name_prefix="sav-replay-read") as reader:
        following = reader.submit(page, position)
        while True:
            notifications = following.result()
            if not notifications:
                return position
            if len(notifications) == batch_size:
                following = reader.submit(page, notifications[-1].id)
            with write_transaction(engine) as conn:
                advance(conn, READ_MODEL, position, notifications[-1].id)
                state = BufferedTables(conn, tables, full_text)
                for notification in notifications:
                    event = mapper.to_domain_event(notification)
                    for fold in folds:
                        step = fold[type(event)]
                        if step is not None:
                            state.apply(step(state, event, notification.id))
                state.flush()
            position = notifications[-1].id
            if advanced is not None:
                advanced(position)
            if len(notifications) < batch_size:
                return position
