"""The projector: tails the global event order and applies read-model handlers.

Each batch of events and the new tracking position are written in one transaction,
and the position moves by compare-and-set, so a projector killed at any moment (or
two running at once) converges to the same tables: the read model is exactly-once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper
from sqlalchemy import Connection, Engine, select
from sqlalchemy import exc as sa_exc

from sav.eventstore.db import create_store_schema, schema_lock, write_transaction
from sav.eventstore.schema import tracking
from sav.projections import registry
from sav.projections.schema import Handler, read_metadata

log = logging.getLogger("sav.projections")

READ_MODEL = "read_model"


def create_read_schema(engine: Engine) -> None:
    create_store_schema(engine)
    registry.load()
    with schema_lock(engine) as conn:
        read_metadata.create_all(conn)
        for create in registry.schema_hooks():
            create(conn)


def drop_read_schema(engine: Engine) -> None:
    """Drop every read table and reset tracking (for `sav replay`)."""
    registry.load()
    with write_transaction(engine) as conn:
        for drop in registry.drop_hooks():
            drop(conn)
        conn.execute(tracking.delete().where(tracking.c.name == READ_MODEL))
    read_metadata.drop_all(engine)


def tracked_position(conn: Connection, name: str = READ_MODEL) -> int:
    value = conn.execute(select(tracking.c.position).where(tracking.c.name == name)).scalar()
    return int(value or 0)


class StaleTrackingError(Exception):
    """Another projector advanced the position first; this batch is rolled back."""


class Projector:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[Any],
        engine: Engine,
        name: str = READ_MODEL,
        handlers: Iterable[dict[str, Handler]] | None = None,
        batch_size: int = 500,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.engine = engine
        self.name = name
        self.batch_size = batch_size
        self.handlers: dict[str, list[Handler]] = defaultdict(list)
        for table in handlers if handlers is not None else registry.handler_tables():
            for event_name, handler in table.items():
                self.handlers[event_name].append(handler)
        self.position = self.read_position()
        self._wake = threading.Event()
        self._listeners: list[Callable[[int], None]] = []

    def read_position(self) -> int:
        with self.engine.connect() as conn:
            return tracked_position(conn, self.name)

    def on_advance(self, listener: Callable[[int], None]) -> None:
        self._listeners.append(listener)

    def wake(self, _position: int | None = None) -> None:
        self._wake.set()

    def run_once(self) -> int:
        """Apply every event recorded after the tracked position; returns how many."""
        applied = 0
        while True:
            self._advanced_to(self.read_position())  # another process may have moved it
            notifications = self.recorder.select_notifications(
                self.position, self.batch_size, inclusive_of_start=False
            )
            if not notifications:
                return applied
            try:
                self._apply(notifications)
            except StaleTrackingError:
                continue
            except sa_exc.IntegrityError:
                # A concurrent projector wrote the same rows first: retry from its position.
                if self.read_position() == self.position:
                    raise
                continue
            applied += len(notifications)
            self._advanced_to(notifications[-1].id)

    def _advanced_to(self, position: int) -> None:
        changed = position != self.position
        self.position = position
        if changed:
            for listener in self._listeners:
                listener(position)

    def _apply(self, notifications: Sequence[Any]) -> None:
        start, end = self.position, notifications[-1].id
        with write_transaction(self.engine) as conn:
            for notification in notifications:
                event = self.mapper.to_domain_event(notification)
                for handler in self.handlers.get(type(event).__qualname__, ()):
                    handler(conn, event, notification.id)
            self._advance(conn, start, end)

    def _advance(self, conn: Connection, start: int, end: int) -> None:
        now = time.time()
        if start == 0 and tracked_position(conn, self.name) == 0:
            exists = conn.execute(
                select(tracking.c.name).where(tracking.c.name == self.name)
            ).first()
            if exists is None:
                conn.execute(tracking.insert().values(name=self.name, position=end, updated_at=now))
                return
        moved = conn.execute(
            tracking.update()
            .where(tracking.c.name == self.name, tracking.c.position == start)
            .values(position=end, updated_at=now)
        )
        if moved.rowcount != 1:
            raise StaleTrackingError

    def run_forever(self, stop: threading.Event, poll_interval: float = 0.25) -> None:
        """Tail the event store until `stop` is set; `wake()` shortens the wait."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                # Keep tailing: a transient database error must not stop the read model.
                log.exception("projector %s failed; retrying", self.name)
                stop.wait(1.0)
            self._wake.wait(poll_interval)
            self._wake.clear()
