"""Ticket numbers `{PREFIX}-YYYYMMDD-NNN`, unique across concurrent requests and processes."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime
from typing import Protocol

from sqlalchemy import BigInteger, Column, String, Table, text

from sav.eventstore import prepared
from sav.eventstore.db import is_sqlite
from sav.eventstore.recorder import SqlApplicationRecorder
from sav.eventstore.schema import metadata

# Created with the event store's tables: its increments commit with the appends.
ticket_number_counters = Table("ticket_number_counters", metadata,
                               Column("day", String(16), primary_key=True),
                               Column("last", BigInteger, nullable=False), mysql_engine="InnoDB")


class TicketNumbers(Protocol):
    def next(self, day: str) -> int: ...


def format_ticket_number(prefix: str, at: datetime, sequence: int) -> str:
    return f"{prefix}-{at:%Y%m%d}-{sequence:03d}"


_NEXT = {
    "sqlite": text("INSERT INTO ticket_number_counters (day, last) VALUES (:day, 1) "
                   "ON CONFLICT(day) DO UPDATE SET last = last + 1 RETURNING last"),
    # LAST_INSERT_ID(expr): the new value comes back with the statement's reply.
    "mysql": text("INSERT INTO ticket_number_counters (day, last) "
                  "VALUES (:day, LAST_INSERT_ID(1)) "
                  "ON DUPLICATE KEY UPDATE last = LAST_INSERT_ID(last + 1)"),
}


class SqlTicketNumbers:
    """One counter row per day, incremented atomically in the database, inside the
    creating command's transaction when there is one (a single commit per create)."""

    def __init__(self, recorder: SqlApplicationRecorder) -> None:
        self.recorder = recorder
        self.statement = _NEXT["sqlite" if is_sqlite(recorder.engine) else "mysql"]

    def next(self, day: str) -> int:
        with self.recorder.transaction() as conn:
            return prepared.returned(conn, self.statement, {"day": day})


class MemoryTicketNumbers:
    """For the in-memory event store used by unit tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, int] = defaultdict(int)

    def next(self, day: str) -> int:
        with self._lock:
            self._last[day] += 1
            return self._last[day]
