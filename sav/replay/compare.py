"""`sav replay --check`: the live read tables against a rebuild, row by row.

Both sides are read in primary-key order, streamed: a row waits only until its match
comes up on the other side, so memory stays flat whatever the table sizes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from sqlalchemy import Connection, Select, Table, select, text
from sqlalchemy.sql.elements import TextClause

from sav.projections.ticket_stats import CELL_TABLES
from sav.replay.shadow import FULL_TEXT, rebuilt_tables

STREAM = {"stream_results": True, "yield_per": 2_000}


@dataclass(frozen=True)
class Difference:
    """A row that differs; `live` None: the live table lacks it, `rebuilt` None: the
    events do not produce it."""

    table: str
    key: dict[str, Any]
    live: dict[str, Any] | None
    rebuilt: dict[str, Any] | None

    def columns(self) -> list[str]:
        """The columns whose values differ (every column when a side lacks the row)."""
        live, rebuilt = self.live or {}, self.rebuilt or {}
        return [name for name in {**live, **rebuilt} if live.get(name) != rebuilt.get(name)]

    def __str__(self) -> str:
        key = ", ".join(f"{name}={value}" for name, value in self.key.items())
        if self.live is None:
            return f"{self.table} [{key}]: missing from the live table"
        if self.rebuilt is None:
            return f"{self.table} [{key}]: in the live table, not produced by the events"
        assert self.rebuilt is not None
        changes = "; ".join(f"{name}: live {self.live[name]!r}, rebuilt {self.rebuilt[name]!r}"
                            for name in self.columns())
        return f"{self.table} [{key}]: {changes}"


@dataclass(frozen=True)
class Source:
    """One thing compared: a table (or the SQLite full-text rows) and its key."""

    name: str
    columns: Sequence[str]
    key: Sequence[str]
    query: Select[Any] | TextClause


def sources(dialect: str) -> list[Source]:
    found = [Source(t.name, [c.name for c in t.columns], [c.name for c in t.primary_key],
                    _rows_of(t).order_by(*t.primary_key.columns)) for t in rebuilt_tables()]
    if dialect == "sqlite":
        found.append(Source(FULL_TEXT, ("ticket_id", "subject", "description"), ("ticket_id",),
                            text(f"SELECT ticket_id, subject, description FROM {FULL_TEXT} "
                                 "ORDER BY ticket_id")))
    return found


def _rows_of(table: Table) -> Select[Any]:
    """A statistics cell with no tickets is no cell (ticket_stats.py): live projection
    leaves the cells tickets moved out of, a bulk rebuild makes none."""
    if table in CELL_TABLES:
        return select(table).where(table.c.tickets != 0)
    return select(table)


def compare(live: Connection, rebuilt: Connection) -> list[Difference]:
    """Every difference between the live tables and the rebuilt ones."""
    found: list[Difference] = []
    for source in sources(live.dialect.name):
        found.extend(differences(
            source, rows(live, source.query), rows(rebuilt, source.query)))
    return found


def rows(conn: Connection, query: Select[Any] | TextClause) -> Iterator[tuple[Any, ...]]:
    return (tuple(row) for row in conn.execution_options(**STREAM).execute(query))


def differences(source: Source, live: Iterable[tuple[Any, ...]],
                rebuilt: Iterable[tuple[Any, ...]]) -> list[Difference]:
    positions = [list(source.columns).index(name) for name in source.key]

    def key_of(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(row[i] for i in positions)

    def named(row: tuple[Any, ...] | None) -> dict[str, Any] | None:
        return None if row is None else dict(zip(source.columns, row, strict=True))

    def differ(key: tuple[Any, ...], live_row: tuple[Any, ...] | None,
               rebuilt_row: tuple[Any, ...] | None) -> Difference:
        return Difference(source.name, dict(zip(source.key, key, strict=True)),
                          named(live_row), named(rebuilt_row))

    found: list[Difference] = []
    waiting: tuple[dict[Any, tuple[Any, ...]], dict[Any, tuple[Any, ...]]] = ({}, {})
    for pair in zip_longest(live, rebuilt):
        for side, row in enumerate(pair):
            if row is None:
                continue
            key = key_of(row)
            match = waiting[1 - side].pop(key, None)
            if match is None:
                waiting[side][key] = row
            elif match != row:
                live_row, rebuilt_row = (row, match) if side == 0 else (match, row)
                found.append(differ(key, live_row, rebuilt_row))
    found.extend(differ(key, row, None) for key, row in waiting[0].items())
    found.extend(differ(key, None, row) for key, row in waiting[1].items())
    return found
