"""Tracking rows: how far a tailing reader (a projector, the publisher) has got.

A position moves only by compare-and-set, inside the transaction that did the work,
so two readers racing on one name never both advance it (exactly-once read model).
The library's `TrackingRecorder` interface over the same rows is `SqlTrackingRecorder`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder
from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy import exc as sa_exc

from sav.eventstore import prepared
from sav.eventstore.db import write_transaction
from sav.eventstore.errors import translated, translating
from sav.eventstore.schema import tracking

# The compare-and-set: the row moves from exactly `start` (built and compiled once).
ADVANCE = (tracking.update()
           .where(tracking.c.name == bindparam("row"), tracking.c.position == bindparam("start"))
           .values(position=bindparam("end"), updated_at=bindparam("now")))


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
    if prepared.execute(conn, ADVANCE, [{"row": name, "start": start, "end": end,
                                         "now": now}]) == 1:
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


def move_forward(conn: Connection, name: str, position: int) -> None:
    """Move `name` to `position` in the caller's transaction, or raise StaleTrackingError
    when it is already there or further (a missing row is created)."""
    now = time.time()
    moved = conn.execute(tracking.update()
                         .where(tracking.c.name == name, tracking.c.position < position)
                         .values(position=position, updated_at=now))
    if moved.rowcount == 1:
        return
    if conn.execute(select(tracking.c.name).where(tracking.c.name == name)).first():
        raise StaleTrackingError
    conn.execute(tracking.insert().values(name=name, position=position, updated_at=now))


class SqlTrackingRecorder(TrackingRecorder):
    """eventsourcing's `TrackingRecorder` (a materialised view of the library's
    `ProjectionRunner` subclasses it): its rows are `projection_tracking` rows named
    `scope:application` (the scope is the projection's name, so two views of one
    application never share a row), and they show in `/metrics` like SAV's readers.

    A view writes its own rows and `track(conn, tracking)` in one `transaction()`:
    a position recorded twice, or below the recorded one, is an IntegrityError and
    rolls the view's writes back with it."""

    def __init__(self, engine: Engine, reader: Engine | None = None, scope: str = "") -> None:
        self.engine = engine
        self.reader = reader or engine
        self.scope = scope

    def row_name(self, application_name: str) -> str:
        return f"{self.scope}:{application_name}" if self.scope else application_name

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with translated(), write_transaction(self.engine) as conn:
            yield conn

    def track(self, conn: Connection, tracking: Tracking) -> None:
        name = self.row_name(tracking.application_name)
        try:
            move_forward(conn, name, tracking.notification_id)
        except StaleTrackingError:
            raise IntegrityError(
                f"{name} is already at or past {tracking.notification_id}") from None

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.transaction() as conn:
            self.track(conn, tracking)

    @translating
    def max_tracking_id(self, application_name: str) -> int | None:
        name = self.row_name(application_name)
        with self.reader.connect() as conn:
            value = conn.execute(select(tracking.c.position).where(tracking.c.name == name))
            position = value.scalar()
        return None if position is None else int(position)
