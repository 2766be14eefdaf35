"""Ticket numbers `{PREFIX}-YYYYMMDD-NNN`, unique across concurrent requests and processes."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine, text

from sav.eventstore.db import is_sqlite, write_transaction


class TicketNumbers(Protocol):
    def next(self, day: str) -> int: ...


def format_ticket_number(prefix: str, at: datetime, sequence: int) -> str:
    return f"{prefix}-{at:%Y%m%d}-{sequence:03d}"


class SqlTicketNumbers:
    """One counter row per day, incremented atomically in the database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def next(self, day: str) -> int:
        with write_transaction(self.engine) as conn:
            if is_sqlite(self.engine):
                return int(
                    conn.execute(
                        text(
                            "INSERT INTO ticket_number_counters (day, last) VALUES (:day, 1) "
                            "ON CONFLICT(day) DO UPDATE SET last = last + 1 RETURNING last"
                        ),
                        {"day": day},
                    ).scalar_one()
                )
            # LAST_INSERT_ID(expr) makes the incremented value readable by this session only.
            conn.execute(
                text(
                    "INSERT INTO ticket_number_counters (day, last) "
                    "VALUES (:day, LAST_INSERT_ID(1)) "
                    "ON DUPLICATE KEY UPDATE last = LAST_INSERT_ID(last + 1)"
                ),
                {"day": day},
            )
            return int(conn.execute(text("SELECT LAST_INSERT_ID()")).scalar_one())


class MemoryTicketNumbers:
    """For the in-memory event store used by unit tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, int] = defaultdict(int)

    def next(self, day: str) -> int:
        with self._lock:
            self._last[day] += 1
            return self._last[day]
