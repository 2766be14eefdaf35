"""Tracking rows: how far a tailing reader (a projector, the publisher) has got.

A position moves only by compare-and-set, inside the transaction that did the work,
so two readers racing on one name never both advance it (exactly-once read model).
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, select
from sqlalchemy import exc as sa_exc

from sav.eventstore.db import write_transaction
from sav.eventstore.schema import tracking


class StaleTrackingError(Exception):
    """Another reader advanced the position first; the caller's batch is rolled back."""


def tracked_position(conn: Connection, name: str) -> int:
    value = conn.execute(select(tracking.c.position).where(tracking.c.name == name)).scalar()
    return int(value or 0)


def read_position(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return tracked_position(conn, name)


def start_tracking(engine: Engine, name: str, position: int = 0) -> None:
    """Create the row at `position` unless it exists (a new reader starts there)."""
    try:
        with write_transaction(engine) as conn:
            exists = conn.execute(select(tracking.c.name).where(tracking.c.name == name))
            if exists.first() is None:
                conn.execute(tracking.insert().values(
                    name=name, position=position, updated_at=time.time()))
    except sa_exc.IntegrityError:
        pass  # Another process created it first.


def advance(conn: Connection, name: str, start: int, end: int) -> None:
    """Move `name` from `start` to `end` in the caller's transaction, or raise
    StaleTrackingError when someone else moved it (a missing row counts as 0)."""
    now = time.time()
    moved = conn.execute(
        tracking.update()
        .where(tracking.c.name == name, tracking.c.position == start)
        .values(position=end, updated_at=now)
    )
    if moved.rowcount == 1:
        return
    if start == 0 and conn.execute(
        select(tracking.c.name).where(tracking.c.name == name)
    ).first() is None:
        conn.execute(tracking.insert().values(name=name, position=end, updated_at=now))
        return
    raise StaleTrackingError


def advance_position(engine: Engine, name: str, start: int, end: int) -> bool:
    """`advance` in a transaction of its own; False when someone else moved it."""
    try:
        with write_transaction(engine) as conn:
            advance(conn, name, start, end)
    except StaleTrackingError:
        return False
    return True


def set_position(engine: Engine, name: str, position: int) -> None:
    """Move `name` to `position` unconditionally (an operator's `--from`)."""
    with write_transaction(engine) as conn:
        moved = conn.execute(tracking.update().where(tracking.c.name == name)
                             .values(position=position, updated_at=time.time()))
        if moved.rowcount == 0:
            conn.execute(tracking.insert().values(
                name=name, position=position, updated_at=time.time()))


def delete_tracking(conn: Connection, name: str) -> None:
    conn.execute(tracking.delete().where(tracking.c.name == name))
